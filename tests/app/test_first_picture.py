"""Server-drawn first pictures (app/pictures, issue 20): the page's HTML carries its first picture as a
static SVG and, beside it, exactly the API's answer for the URL the page's module will ask for; text from
the user or the model stays text; a refused or failing first request leaves the page as it was."""

from __future__ import annotations

import html
import json
import re

from app import pictures
from app.pictures.svg import nice_ticks, percent, token_label
from tests.app.first_picture_parts import inline_answer as _inline

HOSTILE = '</script><img src=x onerror=alert(2)>&<!--'  # short: the tiny model allows 64 tokens


def test_predict_page_carries_its_picture_and_the_apis_own_answer(tiny_client):
    page = tiny_client.get("/predict?text=Hello")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    chart = re.search(r'<div id="chart"[^>]*>(.*?)<script type="application/json"', page.text, re.S).group(1)
    assert '<div class="first-picture" data-first-picture><svg class="first-svg first-wide"' in chart
    assert chart.count('<svg class="first-svg first-narrow"') == 1  # the phone's drawing (app.css picks one)
    assert chart.count("<rect") == 2 * 20  # one bar per prediction, in each drawing
    url, answer = _inline(page.text)
    assert answer == tiny_client.get(url).json()
    # Nothing is preloaded as well: the answer is already here.
    assert 'rel="preload" as="fetch"' not in page.text
    assert pictures.SLOT not in page.text


def test_the_labels_and_numbers_are_the_answers(tiny_client):
    page = tiny_client.get("/predict?text=Hello")
    _, answer = _inline(page.text)
    svg = page.text[page.text.index("<svg class=\"first-svg first-wide\""):page.text.index("</svg>")]
    texts = [html.unescape(t) for t in re.findall(r"<text[^>]*>(.*?)</text>", svg)]
    for p in answer["predictions"]:
        assert token_label(p) in texts and percent(p["probability"]) in texts


def test_the_drawings_keep_the_charts_height_and_plotlys_ticks(tiny_client):
    """As wide as #chart on a desktop (704 px), the chart's height whatever the column's width (nothing below
    moves when Plotly replaces it), the x ticks Plotly picks for the plot's width (5% apart at 534 px for a
    top bar of 31.7%, not 10%), and the drawing picked by the chart's own width as predict.js picks its
    layout (isNarrow, under 520 px), not by the window's."""
    from pathlib import Path

    from app.pictures import predict
    from app.pictures.svg import auto_dtick
    page = tiny_client.get("/predict?text=Hello")
    _, answer = _inline(page.text)
    height = 40 + 24 * len(answer["predictions"])
    wide = re.search(r'<svg class="first-svg first-wide" ([^>]*)>', page.text).group(1)
    narrow = re.search(r'<svg class="first-svg first-narrow" ([^>]*)>', page.text).group(1)
    assert f'viewBox="0 0 {predict.WIDE} {height}"' in wide and f"height:{height}px" in wide
    assert f'viewBox="0 0 340 {height}"' in narrow and f"height:{height}px" in narrow
    high = max(p["probability"] for p in answer["predictions"]) * 1.15
    svg = page.text[page.text.index('<svg class="first-svg first-wide"'):page.text.index("</svg>")]
    step = auto_dtick(high, predict.WIDE - 120 - 50)
    ticks = [f"{k * step * 100:.0f}%" for k in range(int(high / step + 1e-9) + 1)]
    texts = [html.unescape(t) for t in re.findall(r"<text[^>]*>(.*?)</text>", svg)]
    assert texts[:len(ticks)] == ticks and texts[len(ticks)] == "probability"
    assert auto_dtick(0.317 * 1.15, 534) == 0.05
    css = (Path(__file__).resolve().parents[2] / "static/css/predict.css").read_text()
    assert "@container (min-width: 520px)" in css and "#chart .first-picture { container-type: inline-size; }" in css


def test_hostile_text_stays_text(tiny_client):
    page = tiny_client.get("/predict", params={"text": HOSTILE})
    assert page.status_code == 200
    body = page.text
    assert "<img src=x" not in body and "<!--" not in body.split("<main", 1)[1]
    # The page's own scripts are all there is: nothing the user typed opened or closed one.
    assert body.count("</script>") == body.count("<script")
    url, answer = _inline(body)
    assert answer == tiny_client.get(url).json()
    assert answer["tokens"][0]["text"] + "".join(t["text"] for t in answer["tokens"][1:]) == HOSTILE


def test_a_refused_first_request_leaves_the_page_as_before(tiny_client, tiny_engine):
    words = " a" * (tiny_engine.settings.max_prompt_tokens + 10)
    page = tiny_client.get("/predict", params={"text": words})
    assert page.status_code == 200
    assert "data-first-answer" not in page.text and "data-first-picture" not in page.text
    assert page.text.rstrip().endswith("</html>")


def test_a_failing_picture_leaves_the_page_as_before(tiny_client, monkeypatch):
    from app.pictures import predict

    def broken(answer, url):
        raise RuntimeError("drawing failed")
    monkeypatch.setattr(predict, "picture", broken)
    page = tiny_client.get("/predict?text=Hello")
    assert page.status_code == 200 and page.text.rstrip().endswith("</html>")
    assert "data-first-answer" not in page.text and "data-first-picture" not in page.text


def test_inline_json_cannot_end_its_element():
    text = pictures.inline_json({"t": "</script><!-- & >"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"t": "</script><!-- & >"}


def test_pages_without_a_picture_module_have_none():
    assert pictures.renderer("predict") is not None
    assert pictures.renderer("nonsense") is None


def test_token_labels_as_the_pages_show_them():
    assert token_label({"text": " the", "display": "␣the"}) == "␣the"
    assert token_label({"text": " \ufffd", "bytes": "20 F0 9F", "partial": True}) == "␣F0 9F"
    assert token_label({"text": "a\ufffd", "bytes": "61 E6", "partial": True}) == "a E6"
    assert token_label({"text": "<|im_end|>", "special": True}) == "<|im_end|>"
    assert token_label({"text": "\u200d", "display": "\u200d"}) == "⟨U+200D⟩"
    assert token_label({"text": "\n\n"}) == "⏎⏎"


def test_numbers_as_the_pages_write_them():
    assert [percent(p) for p in (0.9995, 0.5, 0.00012345, 0.0001, 2e-6, 1e-9)] == \
        [">99.9%", "50.0%", "0.012%", "0.010%", "0.00020%", "<0.0001%"]
    assert nice_ticks(0.9) == [0, 0.2, 0.4, 0.6000000000000001, 0.8]
    assert nice_ticks(0) == [0.0]


def test_a_slow_answer_is_not_waited_for(tiny_client, monkeypatch):
    """Past PICTURE_WAIT_SECONDS the rest of the page goes out without the picture; its module asks."""
    from app.routers import pages

    monkeypatch.setattr(pages, "PICTURE_WAIT_SECONDS", 0.0)
    page = tiny_client.get("/predict?text=Hello")
    assert page.status_code == 200 and page.text.rstrip().endswith("</html>")
    assert "data-first-answer" not in page.text and "data-first-picture" not in page.text
    assert '<script type="module" src="/static/js/predict.js">' in page.text


def test_guess_first_mode_draws_no_answer(tiny_client):
    """With ?guess=1 the page hides the model's answer until the reader guesses: the server must not show it."""
    page = tiny_client.get("/predict?text=Hello&guess=1")
    assert "data-first-picture" not in page.text and "data-first-answer" not in page.text


def test_without_javascript_the_picture_names_its_text(tiny_client):
    """The form's text box is empty until the page's module runs: the picture says which text it is about,
    in a caption shown only when scripting is off (app.css .first-nojs); /why's also names the score. Text
    stays text; pages whose picture shows the text itself (tokens, chat) get none."""
    from pathlib import Path
    cases = {"/predict": "/predict?text=", "/attention": "/attention?layer=1&head=1&text=",
             "/inside": "/inside?layer=1&head=1&text=", "/why": "/why?text="}
    for path, prefix in cases.items():
        page = tiny_client.get(prefix + "x%20%3C%2Fp%3E%3Cb%3E")
        picture = re.search(r'<div class="first-picture" data-first-picture>(.*?)<script type="application/json"',
                            page.text, re.S).group(1)
        captions = re.findall(r'<p class="first-nojs first-text">(.*?)</p>', picture)
        assert captions[-1] == "For the text “x &lt;/p&gt;&lt;b&gt;”", path
        assert picture.endswith(f"<p class=\"first-nojs first-text\">{captions[-1]}</p></div>"), path
        if path == "/why":
            _, answer = _inline(page.text)
            assert html.unescape(captions[0]) == f"The score of “{token_label(answer['target'])}”"
    # /why's chat mode (the tiny model's 64 tokens leave no room for the chat template's system prompt).
    assert pictures.text_caption("/api/attribution?text=Hi%21+%3Cb%3E&mode=chat&saliency=false") == \
        '<p class="first-nojs first-text">For the chat message “Hi! &lt;b&gt;”</p>'
    for path in ("/tokens?text=abc", "/chat"):
        assert 'class="first-nojs' not in tiny_client.get(path).text
    css = (Path(__file__).resolve().parents[2] / "static/css/app.css").read_text()
    assert ".first-picture .first-nojs { display: none; }" in css
    assert "@media (scripting: none) { .first-picture .first-nojs { display: block; } }" in css


def test_without_javascript_predicts_picture_names_its_sampling_settings(tiny_client):
    """The sampling sliders stand where the browser puts them without JavaScript (top-k at 25 of 50): the
    settings that coloured the bars, and how many tokens they leave, are the answer's, under the bars."""
    for query, written in (("", "Temperature 1, top-k 10, top-p 1: 10 tokens can be drawn."),
                           ("&temperature=0", "Temperature 0, top-k 10, top-p 1: 1 token can be drawn."),
                           ("&temperature=0.7&top_k=0&top_p=0.9", None)):
        page = tiny_client.get("/predict?text=Hello" + query)
        _, answer = _inline(page.text)
        caption = re.findall(r'<p class="first-nojs first-text">(Temperature [^<]*)</p>', page.text)
        assert len(caption) == 1
        n = answer["draw"]["allowed_count"]
        assert caption[0] == (written or f"Temperature 0.7, top-k 0, top-p 0.9: {n:,} token{'' if n == 1 else 's'} can be drawn.")
        assert sum(p["allowed"] for p in answer["predictions"]) == min(n, len(answer["predictions"]))


def test_a_head_of_a_page_computes_no_picture(tiny_client, monkeypatch):
    """A HEAD's body is dropped (app/parsing.py), so its page asks the model nothing: a link checker or a
    monitor does not start a pass. The GET still draws its picture."""
    from app import inprocess

    asked = []
    real = inprocess.get

    async def counting(app, url, **kwargs):
        asked.append(url)
        return await real(app, url, **kwargs)

    monkeypatch.setattr(inprocess, "get", counting)
    for path in ("/predict?text=Hello", "/attention?text=Hello&layer=0&head=0", "/why?text=Hello"):
        head = tiny_client.head(path)
        assert head.status_code == 200 and head.headers["content-type"].startswith("text/html")
        assert head.content == b"" and asked == [], path
    assert "data-first-picture><svg" in tiny_client.get("/predict?text=Hello").text and len(asked) == 1
