"""/learn's server-drawn first picture (app/pictures/learn.py): the loss chart as the run starts, the
untrained model measured at step 0, from exactly GET /api/learn/start's answer, which is the stream's
first two events for the same settings (tests/app/test_learn_api.py)."""

from __future__ import annotations

import html
import re

from app.pictures import learn as learn_picture
from tests.app.first_picture_parts import inline_answer as _inline, svg_texts as _texts

HOSTILE = "</script><img src=x onerror=alert(2)>&<!--"


def _chart(body: str) -> str:
    return re.search(r'<div id="loss-plot"[^>]*>(.*?)<script type="application/json"', body, re.S).group(1)


def test_learn_page_carries_its_picture_and_the_apis_own_answer(tiny_client):
    page = tiny_client.get("/learn")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    chart = _chart(page.text)
    assert '<div class="first-picture" data-first-picture><svg class="first-svg first-wide"' in chart
    assert chart.count("<svg") == 2  # the wide and the phone drawing
    url, answer = _inline(page.text)
    assert url == "/api/learn/start?seed=0&steps=500&lr=0.003&layers=2&heads=4"
    assert answer == tiny_client.get(url).json()  # measured once per seed and shape: the same answer
    assert 'rel="preload" as="fetch"' not in page.text
    # The page's module and everything after the picture still arrive.
    assert '<script type="module" src="/static/js/learn.js">' in page.text and page.text.rstrip().endswith("</html>")


def test_the_numbers_and_labels_are_the_answers(tiny_client):
    page = tiny_client.get("/learn?seed=3&steps=300&layers=1&heads=2")
    url, answer = _inline(page.text)
    assert url == "/api/learn/start?seed=3&steps=300&lr=0.003&layers=1&heads=2"
    config, log = answer["start"]["config"], answer["progress"]
    assert (config["seed"], config["steps"], config["layers"], config["heads"], log["step"]) == (3, 300, 1, 2, 0)
    wide = _chart(page.text).split("</svg>")[0]
    label = html.unescape(re.search(r'aria-label="([^"]*)"', wide).group(1))
    assert f"step 0 of {config['steps']}" in label
    assert f"first time {log['loss_first']:.2f}" in label and f"repeats {log['loss_repeat']:.2f}" in label
    assert f"ln {config['vocab']}, is {config['uniform_loss']:.2f}" in label
    texts = _texts(wide)
    assert f"uniform guess, ln {config['vocab']}" in texts and "training step" in texts
    assert texts.count("0") == 2 and "300" in texts  # the x axis runs from step 0 to the run's last step
    # Two dots (first time, repeats) at step 0 and two in the legend: where the answer puts them.
    dots = [(float(x), float(y)) for x, y in re.findall(r'<circle cx="([\d.]+)" cy="([\d.]+)"', wide)]
    assert len(dots) == 4 and dots[0][0] == dots[1][0] == learn_picture.LEFT
    high = max(log["loss_first"], log["loss_repeat"], config["uniform_loss"]) * 1.08
    plot_h = learn_picture.HEIGHT - learn_picture.TOP - learn_picture.BOTTOM
    for (_, y), value in zip(dots, (log["loss_first"], log["loss_repeat"])):
        assert abs(y - (learn_picture.TOP + plot_h * (1 - value / high))) < 0.06


def test_hostile_values_in_the_url_are_named_nothing_and_stay_out(tiny_client):
    page = tiny_client.get("/learn", params={"seed": HOSTILE, "lr": HOSTILE})
    assert page.status_code == 200
    body = page.text
    assert "<img src=x" not in body and "data-first-answer" not in body and "data-first-picture" not in body
    assert body.count("</script>") == body.count("<script")


def test_a_refused_first_request_leaves_the_page_as_before(tiny_client, monkeypatch):
    """A URL the server names but the API refuses (here: the naming's learning-rate bound loosened
    past the API's): no picture, no inline answer; the page's run asks as usual and is refused there."""
    from app.views import first_request

    monkeypatch.setattr(first_request, "LEARN_LR_MAX", 1.0)
    assert tiny_client.get("/api/learn/start?lr=0.5").status_code == 422
    page = tiny_client.get("/learn?lr=0.5")
    assert page.status_code == 200 and page.text.rstrip().endswith("</html>")
    assert "data-first-answer" not in page.text and "data-first-picture" not in page.text


def test_a_failing_picture_leaves_the_page_as_before(tiny_client, monkeypatch):
    def broken(answer, url):
        raise RuntimeError("drawing failed")
    monkeypatch.setattr(learn_picture, "picture", broken)
    page = tiny_client.get("/learn?seed=7")
    assert page.status_code == 200 and page.text.rstrip().endswith("</html>")
    assert "data-first-answer" not in page.text and "data-first-picture" not in page.text


def test_x_ticks_are_round_and_reach_the_last_step():
    assert learn_picture._step_ticks(500, 1015) == [0, 100, 200, 300, 400, 500]
    assert learn_picture._step_ticks(500, 270) == [0, 200, 400]
    assert learn_picture._step_ticks(1, 270) == [0, 1]
    assert learn_picture._step_ticks(3000, 1015) == list(range(0, 3001, 500))


def test_the_drawings_keep_the_charts_height_and_write_numbers_as_learn_js(tiny_client):
    """Both drawings are the chart's 340 px tall whatever the column's width (nothing below moves when Plotly
    replaces them), and numbers are written as learn.js fmt (toFixed(2): an exact tie goes up)."""
    page = tiny_client.get("/learn")
    drawings = re.findall(r'<svg class="first-svg first-(?:wide|narrow)" ([^>]*)>', page.text)
    assert len(drawings) == 2
    for attributes in drawings:
        assert f"height:{learn_picture.HEIGHT}px" in attributes and 'preserveAspectRatio="xMinYMin meet"' in attributes
    assert learn_picture._fmt(4.125) == "4.13" and learn_picture._fmt(3.871201) == "3.87"


def test_without_javascript_the_picture_names_its_settings(tiny_client):
    """The form is empty without JavaScript: the settings of the model drawn are written under the chart
    (shown only when scripting is off), from the answer."""
    page = tiny_client.get("/learn?seed=3&steps=300&layers=1&heads=2")
    caption = re.findall(r'<p class="first-nojs first-text">([^<]*)</p>', page.text)
    assert caption == ["Before any training (step 0 of 300): 1 layer of 2 heads, learning rate 0.003, seed 3."]
