"""The pages' stylesheets are written into their heads (app/stylesheets.py), so a first visit asks the
server for no stylesheet while it computes the first picture."""

from __future__ import annotations

import os
import re

import pytest

from app import stylesheets
from app.stylesheets import CSS_DIR, style

PAGES = {"/": "tour.css", "/network": "network.css", "/tokens": "tokens.css", "/embeddings": "embeddings.css",
         "/attention": "attention.css", "/inside": "inside.css", "/learn": "learn.css", "/predict": "predict.css",
         "/why": "why.css", "/chat": "chat.css"}


@pytest.mark.parametrize("path, own", PAGES.items())
def test_every_page_carries_its_stylesheets_and_links_none(tiny_client, path, own):
    page = tiny_client.get(path).text
    assert '<link rel="stylesheet"' not in page
    written = dict(re.findall(r'<style data-file="/static/css/([a-z_-]+\.css)">\n(.*?)</style>', page, re.S))
    assert list(written) == ["app.css", own]  # the shared sheet first, as when they were linked
    for name, css in written.items():
        assert css == (CSS_DIR / name).read_text(encoding="utf-8")
    head = page.split("</head>", 1)[0]
    assert all(f'data-file="/static/css/{name}"' in head for name in written)


def test_the_files_stay_served(tiny_client):
    answer = tiny_client.get("/static/css/app.css")
    assert answer.status_code == 200 and answer.text == (CSS_DIR / "app.css").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["../templates/base.html", "app.js", "/etc/passwd", "sub/app.css", "nothere.css"])
def test_only_stylesheets_of_static_css(name):
    with pytest.raises((ValueError, FileNotFoundError)):
        style(name)


def test_a_changed_file_is_read_again(tmp_path, monkeypatch):
    monkeypatch.setattr(stylesheets, "CSS_DIR", tmp_path)
    monkeypatch.setattr(stylesheets, "_read", {})
    sheet = tmp_path / "x.css"
    sheet.write_text("p { color: red; }\n")
    assert "color: red" in style("x.css")
    sheet.write_text("p { color: blue; }\n")
    os.utime(sheet, ns=(sheet.stat().st_atime_ns, sheet.stat().st_mtime_ns + 1_000_000))
    assert "color: blue" in style("x.css") and "red" not in style("x.css")


def test_a_sheet_that_would_end_its_element_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(stylesheets, "CSS_DIR", tmp_path)
    monkeypatch.setattr(stylesheets, "_read", {})
    (tmp_path / "x.css").write_text("p::after { content: '</STYLE><script>alert(1)</script>'; }\n")
    with pytest.raises(ValueError, match="</style"):
        style("x.css")
