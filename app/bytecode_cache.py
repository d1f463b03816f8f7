"""Compiled page templates kept on disk between starts.

Compiling the eleven page templates took about 0.1 s of every start on the 2-core machine (Jinja's
parser and code generator, in Python, beside the model's loading); loading them compiled takes a
few milliseconds. Jinja's `FileSystemBytecodeCache` keeps each template's code in a per-user folder
of the system's temporary directory, keyed by the template's name and file and checked against a
checksum of its source, so an edited template is compiled again. Our file names carry the app's own
prefix: Jinja's folder is shared by every Jinja user of the account, and compiled code depends on the
environment's settings (autoescaping), which the key does not include.
"""

from __future__ import annotations

import logging
import pickle

from jinja2 import FileSystemBytecodeCache
from jinja2.bccache import Bucket

log = logging.getLogger("transformer_tour")


class QuietBytecodeCache(FileSystemBytecodeCache):
    """Jinja's file cache that never fails a page: a file it cannot read is compiled again, one it
    cannot write is compiled again at the next start (Jinja's own raises in both cases)."""

    def load_bytecode(self, bucket: Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except (OSError, EOFError, ValueError, TypeError, pickle.UnpicklingError):  # unreadable, or not Jinja's
            bucket.reset()

    def dump_bytecode(self, bucket: Bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError as exc:
            log.debug("compiled template not kept: %s", exc)


def bytecode_cache() -> QuietBytecodeCache | None:
    """The cache, or None where the system's temporary directory cannot hold Jinja's folder."""
    try:
        return QuietBytecodeCache(pattern="transformer-tour-%s.jinja")
    except (OSError, RuntimeError) as exc:  # Jinja raises RuntimeError when its folder is unsafe
        log.info("templates are compiled at every start: %s", exc)
        return None
