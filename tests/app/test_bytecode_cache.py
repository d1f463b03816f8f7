"""Compiled templates kept between starts (app/bytecode_cache.py): used when the source is unchanged,
compiled again when it changed, and never a failed page when the cache's files are unusable."""

from __future__ import annotations

import pytest
from jinja2 import Environment, FileSystemLoader
from jinja2.bccache import bc_magic

from app.bytecode_cache import QuietBytecodeCache, settings_digest
from app.routers import pages


def _env(templates, cache_dir, autoescape=True) -> Environment:
    env = Environment(loader=FileSystemLoader(str(templates)), autoescape=autoescape)
    env.bytecode_cache = QuietBytecodeCache(str(cache_dir), pattern=f"tt-test-{settings_digest(env)}-%s.jinja")
    return env


def _no_compiling(env: Environment, monkeypatch) -> None:
    def compile(*args, **kwargs):
        raise AssertionError("compiled, though the cache held this template")
    monkeypatch.setattr(env, "compile", compile)


def test_a_second_start_loads_the_compiled_template(tmp_path, monkeypatch):
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "page.html").write_text("<p>{{ text }}</p>")
    assert _env(tmp_path / "t", tmp_path).get_template("page.html").render(text="<b>") == "<p>&lt;b&gt;</p>"
    again = _env(tmp_path / "t", tmp_path)  # a new process's environment, the same cache folder
    _no_compiling(again, monkeypatch)
    assert again.get_template("page.html").render(text="<b>") == "<p>&lt;b&gt;</p>"


def test_an_edited_template_is_compiled_again(tmp_path):
    (tmp_path / "t").mkdir()
    source = tmp_path / "t" / "page.html"
    source.write_text("<p>one {{ n }}</p>")
    assert _env(tmp_path / "t", tmp_path).get_template("page.html").render(n=1) == "<p>one 1</p>"
    source.write_text("<p>two {{ n }}</p>")
    assert _env(tmp_path / "t", tmp_path).get_template("page.html").render(n=2) == "<p>two 2</p>"


@pytest.mark.parametrize("garbage", [b"", b"not a cache file at all", bc_magic, bc_magic + b"\x80\x04garbage",
                                     bc_magic + b"garbage", bc_magic + b"cos\nno_such_attribute\n.",
                                     bc_magic + b"cnowhere_at_all\nthing\n."])
def test_an_unreadable_cache_file_is_compiled_again(tmp_path, garbage):
    """Jinja's own cache raises on a file that starts as its files do and is cut or garbled after."""
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "page.html").write_text("<p>{{ n }}</p>")
    _env(tmp_path / "t", tmp_path).get_template("page.html")
    [kept] = tmp_path.glob("tt-test-*.jinja")
    kept.write_bytes(garbage)
    assert _env(tmp_path / "t", tmp_path).get_template("page.html").render(n=3) == "<p>3</p>"


def test_a_cache_it_cannot_write_costs_a_compile_not_a_page(tmp_path):
    """A "folder" that is a file: writing there fails for any user, root too (a read-only folder does not)."""
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "page.html").write_text("<p>{{ n }}</p>")
    (tmp_path / "cache").write_text("a file, not a folder")
    assert _env(tmp_path / "t", tmp_path / "cache").get_template("page.html").render(n=4) == "<p>4</p>"


def test_another_setting_never_loads_code_compiled_for_this_one(tmp_path):
    """Compiled code depends on autoescaping, which Jinja's cache key does not include: the file names do."""
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "page.html").write_text("<p>{{ text }}</p>")
    assert _env(tmp_path / "t", tmp_path, autoescape=False).get_template("page.html").render(text="<b>") == "<p><b></p>"
    assert _env(tmp_path / "t", tmp_path).get_template("page.html").render(text="<b>") == "<p>&lt;b&gt;</p>"
    assert len(list(tmp_path.glob("tt-test-*.jinja"))) == 2


def test_a_cache_folder_that_vanished_costs_a_compile_not_a_page(tmp_path):
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "page.html").write_text("<p>{{ n }}</p>")
    env = _env(tmp_path / "t", tmp_path / "gone")  # never created: writing there fails
    assert env.get_template("page.html").render(n=5) == "<p>5</p>"


def test_the_pages_use_it_under_their_settings_digest():
    cache = pages.templates.env.bytecode_cache
    assert isinstance(cache, QuietBytecodeCache)
    assert cache.pattern == f"transformer-tour-{settings_digest(pages.templates.env)}-%s.jinja"
