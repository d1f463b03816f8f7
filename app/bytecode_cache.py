"""Compiled page templates kept on disk between starts.

Compiling the page templates took about 0.1 s of every start on the 2-core machine (Jinja's parser
and code generator, in Python, beside the model's loading); loading them compiled takes a few
milliseconds. Jinja's `FileSystemBytecodeCache` keeps each template's code in a per-user folder of
the system's temporary directory (mode 0700, checked by Jinja), keyed by the template's name and file
and checked against a checksum of its source, so an edited template is compiled again. The key does
not include what else the compiled code depends on (the environment's settings, such as autoescaping,
and Jinja's version): our file names carry a digest of those (`settings_digest`), so another setting,
another Jinja or another app using the same folder never loads code compiled for something else.
Kept once per user and checkout until the temporary folder is cleaned (a reboot, a new container).
"""

from __future__ import annotations

import hashlib
import logging

import jinja2
from jinja2 import Environment, FileSystemBytecodeCache
from jinja2.bccache import Bucket

log = logging.getLogger("transformer_tour")


def _name(value) -> str:
    """A setting as text: a function by its qualified name (its repr carries an address)."""
    return getattr(value, "__qualname__", None) or repr(value)


def settings_digest(env: Environment) -> str:
    """A digest of what compiled template code depends on beside the template's source."""
    parts = [jinja2.__version__, _name(env.autoescape), _name(env.finalize), *sorted(env.extensions),
             env.block_start_string, env.block_end_string, env.variable_start_string, env.variable_end_string,
             env.comment_start_string, env.comment_end_string, str(env.line_statement_prefix),
             str(env.line_comment_prefix), str(env.trim_blocks), str(env.lstrip_blocks), env.newline_sequence,
             str(env.keep_trailing_newline), str(env.optimized), env.code_generator_class.__qualname__]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


class QuietBytecodeCache(FileSystemBytecodeCache):
    """Jinja's file cache that never fails a page: a file it cannot read is compiled again (Jinja's own
    raises on some damaged files, e.g. a pickle naming a missing module), and one it cannot write is
    compiled again at the next start (Jinja's own raises)."""

    def load_bytecode(self, bucket: Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except Exception:  # whatever a damaged file makes pickle or marshal raise: compile instead
            bucket.reset()

    def dump_bytecode(self, bucket: Bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError as exc:
            log.debug("compiled template not kept: %s", exc)


def bytecode_cache(env: Environment) -> QuietBytecodeCache | None:
    """The cache for `env`'s templates, or None where the system's temporary directory cannot hold
    Jinja's folder."""
    try:
        return QuietBytecodeCache(pattern=f"transformer-tour-{settings_digest(env)}-%s.jinja")
    except (OSError, RuntimeError) as exc:  # Jinja raises RuntimeError when its folder is unsafe
        log.info("templates are compiled at every start: %s", exc)
        return None
