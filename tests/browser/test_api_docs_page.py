import pytest

pytestmark = pytest.mark.browser


def test_api_reference_renders_offline_from_local_files(page, screenshot):
    path = "/docs"
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path)
    page.get_by_text("/api/predict").first.wait_for()
    page.get_by_text("/api/attention").first.wait_for()
    base = page.url.split(path)[0]
    outside = [u for u in requests if not (u.startswith(base) or u.startswith("data:") or u.startswith("blob:"))]
    assert outside == []  # no CDN: the reference works in an offline classroom
    screenshot("docs")
