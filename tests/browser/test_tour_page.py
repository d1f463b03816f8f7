import pytest

pytestmark = pytest.mark.browser


def test_tour_page_links_every_chapter(page, screenshot):
    page.goto("/")
    links = page.locator(".tour-card")
    assert links.count() == 6
    hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
    assert hrefs == ["/network", "/tokens", "/embeddings", "/attention", "/predict", "/chat"]
    screenshot("tour")
