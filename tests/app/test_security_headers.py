"""Headers that keep pages safe, and static files that cannot reach outside static/."""

import pytest

from app.routers.pages import CHAPTERS

# Every page (docs/RELIABILITY.md: 'every page and an API answer'); /inside, /learn and /why were left out.
PAGES = ["/"] + [c.path for c in CHAPTERS]


def _assert_safe_headers(r) -> None:
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["x-frame-options"] == "DENY"


def test_every_page_is_checked():
    assert {"/inside", "/learn", "/why"} <= set(PAGES)


@pytest.mark.parametrize("path", PAGES)
def test_pages_forbid_inline_scripts_and_framing(tiny_client, path):
    r = tiny_client.get(path)
    assert r.status_code == 200
    _assert_safe_headers(r)
    assert "<script>" not in r.text  # every script is a file


def test_api_answers_carry_the_same_headers(tiny_client):
    r = tiny_client.post("/api/tokenize", json={"text": "hi"})
    _assert_safe_headers(r)


@pytest.mark.parametrize("path", ["/static/../app/main.py", "/static/%2e%2e/app/main.py",
                                  "/static/..%2fapp%2fmain.py", "/static//etc/passwd", "/static/css/../../pyproject.toml"])
def test_static_files_cannot_reach_outside_static(tiny_client, path):
    r = tiny_client.get(path)
    assert r.status_code == 404
    assert "create_app" not in r.text and "root:" not in r.text and "[project]" not in r.text


def test_server_binds_to_loopback_unless_told_otherwise():
    from pathlib import Path
    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    assert "HOST   ?= 127.0.0.1" in makefile
