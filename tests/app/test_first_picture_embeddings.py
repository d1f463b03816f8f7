"""/embeddings' server-drawn first picture (app/pictures/embeddings.py): the 2-D word map as embeddings.js
plotMap has Plotly draw it (a wide, a middle and a phone drawing), with exactly GET /api/embeddings/map's answer
beside it; positions, labels, axis titles and legend from that answer; labels that would overlap left
out as the page leaves them out; text stays text; a 3-D map, a refused or an unnamed first request
leaves the page as before."""

from __future__ import annotations

import html
import re

import pytest

from app.pictures import embeddings as picture
from app.routers import pages
from tests.app.first_picture_parts import drawings, inline_answer as _inline

HOSTILE = '</script><img src=x onerror=alert(1)>'


@pytest.fixture(autouse=True)
def patient(monkeypatch):
    """The page waits for its picture's answer however loaded the test machine is (the 1.5 s cap is
    pages.py's, tested there): these tests are about the picture."""
    monkeypatch.setattr(pages, "PICTURE_WAIT_SECONDS", 120)


def _map_plot(body: str) -> str:
    return re.search(r'<div id="map-plot"[^>]*>(.*?)</div>\s*<p class="status" id="map-status"', body, re.DOTALL).group(1)


def _drawings(body: str) -> dict[str, str]:
    """The wide, middle and phone drawings of the picture in #map-plot."""
    found = drawings(_map_plot(body))
    assert set(found) == {"wide", "mid", "narrow"}
    return found


def _texts(svg: str) -> list[tuple[dict, str]]:
    """(attributes, text) of each <text>."""
    return [(dict(re.findall(r'([\w-]+)="([^"]*)"', attrs)), html.unescape(content))
            for attrs, content in re.findall(r"<text([^>]*)>(.*?)</text>", svg)]


def _dots(svg: str) -> list[tuple[str, float, float]]:
    """(colour, cx, cy) of each map dot (the dots are drawn in one group per set)."""
    out = []
    for colour, group in re.findall(r'<g fill="(#[0-9a-f]{6})" stroke="#fff">(.*?)</g>', svg):
        out += [(colour, float(x), float(y)) for x, y in re.findall(r'<circle cx="([\d.]+)" cy="([\d.]+)" r="5"/>', group)]
    return out


def test_the_page_carries_the_map_and_the_apis_own_answer(tiny_client):
    page = tiny_client.get("/embeddings")
    assert page.status_code == 200
    url, answer = _inline(page.text)
    assert url == ("/api/embeddings/map?sets=animals%2Ccountries%2Cnumbers%2Ccolours&method=pca&dims=2&mode=static"
                   "&pooling=mean&wl=true&neighbours=10")
    assert answer == tiny_client.get(url).json()
    assert '<div class="first-picture" data-first-picture><svg class="first-svg first-wide"' in _map_plot(page.text)
    for name, svg in _drawings(page.text).items():
        assert len(_dots(svg)) == len(answer["points"]) == 48
        assert f'viewBox="0 0 {picture.WIDTHS[name]} 540"' in svg
    assert 'rel="preload" as="fetch"' not in page.text


def test_positions_colours_labels_and_titles_are_the_answers(tiny_client):
    page = tiny_client.get("/embeddings")
    _, answer = _inline(page.text)
    # The points in the order the picture draws them: one set after the other.
    ordered = [p for group in answer["groups"] for p in answer["points"] if p["group"] == group]
    for name, svg in _drawings(page.text).items():
        dots = _dots(svg)
        assert [c for c, _, _ in dots] == [picture.GROUP_COLOURS[p["group"]] for p in ordered]
        # Further right on the map is further right in the picture; higher is higher up.
        xs, ys = [p["coords"][0] for p in ordered], [p["coords"][1] for p in ordered]
        for a in range(len(ordered)):
            for b in range(len(ordered)):
                if xs[a] < xs[b] - 1e-3:
                    assert dots[a][1] < dots[b][1] + 0.1
                if ys[a] < ys[b] - 1e-3:
                    assert dots[a][2] > dots[b][2] - 0.1
        texts = _texts(svg)
        written = [t for _, t in texts]
        share = [round(100 * s) for s in answer["explained"]]
        assert f"PC1 ({share[0]}% of the spread)" in written and f"PC2 ({share[1]}% of the spread)" in written
        # The legend: every set's label, in the answer's order, after each other above the map.
        legend = [t for a, t in texts if a.get("font-size") == ("11" if name == "narrow" else "13")]
        assert legend == list(answer["groups"].values())
        # Word labels: each a word of the map, in its set's colour; the rest are said to be left out.
        labels = re.findall(r'<g fill="(#[0-9a-f]{6})" font-size="12">(.*?)</g>', svg)
        drawn = [(colour, html.unescape(t)) for colour, group in labels for t in re.findall(r">([^<]*)</text>", group)]
        words = {(picture.GROUP_COLOURS[p["group"]], p["word"]) for p in answer["points"]}
        assert drawn and set(drawn) <= words
        said = html.unescape(re.search(r'aria-label="([^"]*)"', svg).group(1))
        hidden = len(answer["points"]) - len(drawn)
        assert (f"{hidden} label{'' if hidden == 1 else 's'} left out" in said) == (hidden > 0)
        assert all(p["word"] in said for p in answer["points"])


def test_labels_are_left_out_where_the_page_leaves_them_out():
    # A cluster of ten words on one spot and two words far apart, as declutterLabels sees them.
    items = [{"k": 0, "i": i, "x": 100 + 0.5 * i, "y": 100, "label": f"word{i}"} for i in range(10)]
    items += [{"k": 1, "i": 0, "x": 300, "y": 300, "label": "far"}, {"k": 1, "i": 1, "x": 20, "y": 350, "label": "away"}]
    hidden = picture.declutter(items, 400, 400, 460, {"l": 50, "t": 45, "r": 10, "b": 40})
    placed = [p for p in items if p["place"]]
    assert hidden == len(items) - len(placed) and hidden >= 6  # at most the four places around the cluster
    assert items[-1]["place"] and items[-2]["place"] == "top center"  # the lone ones first, above their dot
    boxes = []
    for p in placed:
        w, h, r = len(p["label"]) * 12 * 0.62, 14, 6
        boxes.append({"top center": (p["x"] - w / 2, p["y"] - r - h, p["x"] + w / 2, p["y"] - r),
                      "bottom center": (p["x"] - w / 2, p["y"] + r, p["x"] + w / 2, p["y"] + r + h),
                      "middle right": (p["x"] + r, p["y"] - h / 2, p["x"] + r + w, p["y"] + h / 2),
                      "middle left": (p["x"] - r - w, p["y"] - h / 2, p["x"] - r, p["y"] + h / 2)}[p["place"]])
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3])


def test_axes_as_plotly_draws_them():
    # Ranges and plot lengths of the page's own chart, with the ticks Plotly drew (measured in Chromium).
    ticks, step = picture.auto_ticks(-1.0334858, 0.5212918, 657, 80)
    assert [picture.tick_text(v, step) for v in ticks] == ["−1", "−0.8", "−0.6", "−0.4", "−0.2", "0", "0.2", "0.4"]
    ticks, step = picture.auto_ticks(-0.3971346, 0.7190206, 455, 40)
    assert [picture.tick_text(v, step) for v in ticks] == ["−0.2", "0", "0.2", "0.4", "0.6"]
    ticks, step = picture.auto_ticks(-1.1630506, 0.6508566, 299, 80)
    assert [picture.tick_text(v, step) for v in ticks] == ["−1", "−0.5", "0", "0.5"]
    ticks, step = picture.auto_ticks(-31.2, 27.5, 657, 80)
    assert [picture.tick_text(v, step) for v in ticks] == ["−30", "−20", "−10", "0", "10", "20"]


def test_a_phone_legend_has_three_short_entries_to_a_line(tiny_client):
    _, answer = _inline(tiny_client.get("/embeddings").text)
    # With pairs drawn (another state of the map), the pairs' entry is short on a phone, as the page's.
    answer = {**answer, "groups": {**answer["groups"], "young": "Their young"},
              "pairs": [[0, 1], [2, 3]], "points": answer["points"][:-1] + [{**answer["points"][-1], "group": "young"}]}
    narrow = _texts(picture.draw(answer, 350)[0])
    legend = [(float(a["x"]), float(a["y"]), t) for a, t in narrow if a.get("font-size") == "11"]
    assert [t for _, _, t in legend] == ["pairs", *answer["groups"].values()]
    rows = sorted({y for _, y, _ in legend})
    assert len(rows) == 2 and all(sum(1 for _, y, _ in legend if y == row) <= 3 for row in rows)
    assert all(x + picture._width(t, 11) <= 350 for x, _, t in legend)  # nothing runs off the phone's chart
    for width in (560, 717):
        assert "pairs: animal → young" in [t for _, t in _texts(picture.draw(answer, width)[0])]


def test_other_projections_and_hidden_states(tiny_client):
    for query, titles in [("method=tsne", ["t-SNE 1", "t-SNE 2"]), ("mode=contextual", ["PC1 (", "PC2 ("])]:
        page = tiny_client.get(f"/embeddings?{query}")
        _, answer = _inline(page.text)
        for svg in _drawings(page.text).values():
            written = [t for _, t in _texts(svg)]
            assert all(any(t.startswith(title) for t in written) for title in titles)
        if answer["mode"] == "contextual":
            assert f"hidden states at layer {answer['layer']}" in _drawings(page.text)["wide"]


def test_a_3d_map_is_the_pages_own(tiny_client):
    page = tiny_client.get("/embeddings?dims=3")
    url, answer = _inline(page.text)
    assert answer["dims"] == 3 and "dims=3" in url
    assert "data-first-picture" not in page.text  # the answer is there, the picture is the page's own


def test_text_stays_text():
    answer = {"points": [{"word": HOSTILE, "group": "yours", "coords": [0.0, 1.0], "tokens": [], "neighbours": []},
                         {"word": "&amp; <b>", "group": HOSTILE, "coords": [1.0, 0.0], "tokens": [], "neighbours": []}],
              "groups": {"yours": HOSTILE, HOSTILE: "<i>x</i>"}, "pairs": [], "pairs_parallel": None,
              "method": "pca", "dims": 2, "mode": "static", "layer": 0, "pooling": "mean",
              "explained": [0.5, 0.25], "neighbours_from": "vocabulary"}
    drawn = picture.picture(answer, "/api/embeddings/map")
    assert "<img" not in drawn and "<b>" not in drawn and "<i>" not in drawn and "</script>" not in drawn
    assert "&lt;/script&gt;&lt;img src=x" in drawn and "&amp;amp; &lt;b&gt;" in drawn
    # A long word is cut as the page cuts it (16 characters, "…").
    assert picture.short_label(HOSTILE) == HOSTILE[:15] + "…"


def test_a_refused_or_unnamed_first_request_leaves_the_page_as_before(tiny_client, monkeypatch):
    from app.engine import Overloaded
    from app.views import embeddings as view

    async def busy(engine, req):
        raise Overloaded()
    monkeypatch.setattr(view, "map_response", busy)
    for query in ["", "?words=cat"]:
        page = tiny_client.get(f"/embeddings{query}")
        assert page.status_code == 200 and page.text.rstrip().endswith("</html>")
        assert "data-first-answer" not in page.text and "data-first-picture" not in page.text


def test_without_javascript_the_map_says_which_vectors_and_projection_it_shows(tiny_client):
    """The page's buttons stay as the template has them without JavaScript ("Input embedding" pressed) and
    #map-status is empty: the picture writes describeMap's sentence under the map, shown only then."""
    for query in ("", "method=tsne&mode=contextual&pooling=last"):
        page = tiny_client.get(f"/embeddings?{query}")
        _, answer = _inline(page.text)
        caption = [html.unescape(c) for c in re.findall(r'<p class="first-nojs first-text">([^<]*)</p>', _map_plot(page.text))]
        n = len(answer["points"])
        if answer["mode"] == "static":
            share = round(100 * sum(answer["explained"]))
            assert caption == [(f"{n} words, input embeddings, PCA in 2D. These 2 axes show {share}% of how the "
                                "words' vectors differ.")]
        else:
            assert caption == [f"{n} words, hidden states at layer {answer['layer']}, t-SNE in 2D."]
