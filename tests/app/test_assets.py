"""Front-end files (app/assets.py): the committed 2-D plotly.js bundle is the plotly package's
plotly.js version and the file its sha256 pins; npm downloads are refused when they do not match
the pinned sha512; files are served versioned, cached and gzipped."""

import dataclasses
import gzip
import hashlib
import io
import tarfile

import pytest

from app import assets


def test_the_2d_bundle_is_the_same_plotly_js_version_as_the_full_one():
    assert assets.PLOTLY_2D.version == assets.plotly_full_version()
    head = assets.PLOTLY_2D.path.read_text(encoding="utf-8")[:300]
    assert f"plotly.js v{assets.PLOTLY_2D.version} " in head
    assert f"traces {','.join(assets.PLOTLY_2D.traces)}" in head


def test_the_committed_2d_bundle_is_the_one_its_sha256_pins():
    """tools/build_plotly_2d.sh writes the file; a rebuild or an edit that changes it fails here
    until the pin in app/assets.py is updated on purpose."""
    data = assets.PLOTLY_2D.path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == assets.PLOTLY_2D.sha256
    assert len(data) < 1_300_000  # the point of it (issue 20): well under the 1.5 MB cartesian bundle


def test_make_run_downloads_no_plotly_bundle():
    assert [f.package for f in assets.FILES if not f.tests_only] == []


def _tarball(member: str, content: bytes) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        info = tarfile.TarInfo(member)
        info.size = len(content)
        archive.addfile(info, io.BytesIO(content))
    return out.getvalue()


class _Answer(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_a_download_that_does_not_match_its_integrity_is_refused(tmp_path, monkeypatch):
    data = _tarball("package/x.min.js", b"window.x = 1;")
    monkeypatch.setattr(assets, "VENDOR_DIR", tmp_path)
    monkeypatch.setattr(assets.urllib.request, "urlopen", lambda url, timeout: _Answer(data))
    good = dataclasses.replace(assets.AXE, member="package/x.min.js", name="x-1.min.js",
                               integrity=assets.integrity_of(data))
    bad = dataclasses.replace(good, name="y-1.min.js", integrity=assets.integrity_of(data + b"!"))
    with pytest.raises(assets.FetchError, match="does not match its pinned integrity"):
        assets.fetch(bad)
    assert not (tmp_path / "y-1.min.js").exists()
    assert assets.fetch(good).read_bytes() == b"window.x = 1;"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x-1.min.js"]  # no temporary file left


def test_vendor_files_are_cached_for_a_year_and_gzipped(tiny_client):
    name = assets.PLOTLY_2D.name
    answer = tiny_client.get(f"/vendor/{name}", headers={"Accept-Encoding": "gzip"})
    assert answer.status_code == 200
    assert answer.headers["content-encoding"] == "gzip"
    assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert answer.content == assets.PLOTLY_2D.path.read_bytes()
    assert len(gzip.compress(answer.content)) < len(answer.content) / 2
    assert tiny_client.get(f"/vendor/{assets.PLOTLY_FULL_NAME}").status_code == 200
    assert tiny_client.get(f"/vendor/{assets.AXE.name}").status_code == 404  # the tests' own, not served
    assert tiny_client.get("/vendor/plotly-0.0.0.min.js").status_code == 404


def test_pages_point_the_kit_at_the_2d_bundle_and_preload_it_on_chart_pages(tiny_client):
    html = tiny_client.get("/predict").text
    assert f'data-plotly="/vendor/{assets.PLOTLY_2D.name}"' in html
    assert f'data-plotly-full="/vendor/{assets.PLOTLY_FULL_NAME}"' in html
    assert f'<link rel="preload" as="script" href="/vendor/{assets.PLOTLY_2D.name}">' in html
    assert 'rel="preload" as="script"' not in tiny_client.get("/tokens").text


def test_pages_preload_their_whole_module_graph(tiny_client):
    """A first visit fetches every module a page imports at once: the entry, its own sub-modules and
    the kit modules they import in turn (attention.js -> attention/heatmap.js -> kit/heatmap.js)."""
    html = tiny_client.get("/attention").text
    for module in ("attention.js", "attention/senses.js", "attention/heatmap.js", "attention/colours.js",
                   "kit/heatmap.js", "kit/dom.js"):
        assert f'<link rel="modulepreload" href="/static/js/{module}">' in html
    assert '<link rel="modulepreload" href="/static/js/tour.js">' in tiny_client.get("/").text
