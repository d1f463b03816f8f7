"""The attention page in Chromium: type, open a head from the grid, switch heads off (the sense test:
test_attention_senses_page.py)."""

import json
from urllib.parse import parse_qs, urlencode, urlparse

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.real]


def query(page) -> dict:
    return {k: v[0] for k, v in parse_qs(urlparse(page.url).query).items()}


def wait_idle(page):
    page.wait_for_function("() => !document.querySelector('#heatmap.stale')")


def test_type_a_prompt_and_open_a_head_from_the_grid(page, screenshot):
    page.goto("/attention")
    page.wait_for_selector("#heatmap .hm, #heatmap .heatmaplayer", state="attached")

    prompt = page.locator("#prompt")
    prompt.fill("The cat sat on the mat because it was tired")
    page.wait_for_function("() => document.querySelectorAll('#tokens .tok').length === 10")
    wait_idle(page)
    assert query(page)["text"] == "The cat sat on the mat because it was tired"
    assert page.locator("#lines-tokens .tok").count() == 10
    page.wait_for_function("() => document.querySelector('#grid-size').textContent.includes('55 weights')")
    screenshot("attention-typed")

    # Open layer 5, head 7 from the grid (a canvas that publishes where each thumbnail lies).
    grid = page.locator("#grid")
    grid.scroll_into_view_if_needed()
    layout = json.loads(grid.get_attribute("data-layout"))
    half = layout["size"] / 2
    grid.click(position={"x": layout["columns"][7] + half, "y": layout["rows"][5] + half})
    page.wait_for_function("() => document.getElementById('heatmap').dataset.layer === '5' "
                           "&& document.getElementById('heatmap').dataset.head === '7'")
    assert query(page)["layer"] == "5" and query(page)["head"] == "7"
    assert page.locator("#head").input_value() == "7"
    assert "head 7" in page.locator("#head-facts").inner_text()
    screenshot("attention-head-from-grid")

    # The lines view follows a clicked token.
    page.locator("#lines-tokens .tok").nth(7).click()
    assert query(page)["q"] == "7"
    assert page.locator("svg.lines .tok-left.query").text_content().startswith("␣it")


def test_the_url_restores_the_view_and_hostile_text_stays_text(page, screenshot):
    hostile = "<img src=x onerror=alert(1)> {{7*7}}"
    page.on("dialog", lambda d: pytest.fail("a dialog opened: the prompt ran as code"))
    page.goto("/attention?" + "&".join([
        "text=" + hostile.replace(" ", "+").replace("{", "%7B").replace("}", "%7D").replace("<", "%3C").replace(">", "%3E").replace("=", "%3D"),
        "layer=29", "avg=1"]))
    page.wait_for_function("() => document.getElementById('heatmap').dataset.layer === '29'")
    page.wait_for_function("() => document.getElementById('heatmap').dataset.head === 'avg'")
    assert page.locator("#prompt").input_value() == hostile
    tokens = "".join(page.locator("#tokens .tok").all_inner_texts())
    assert tokens.replace("␣", " ") == hostile
    assert page.locator("img[src='x']").count() == 0
    ticks = page.locator("#heatmap .xtick text").evaluate_all("els => els.map(e => e.textContent)")
    assert "".join(ticks).replace("␣", " ").startswith("<img src=x"), ticks  # shown as typed
    screenshot("attention-hostile")


def test_switching_heads_off_changes_the_prediction_beside_the_baseline(page, screenshot):
    page.goto("/attention?text=The+capital+of+France+is&layer=0")
    page.wait_for_selector("#before .barlayer .point", state="attached")
    assert page.locator("#after .placeholder").count() == 1
    page.locator("#ablate-layer").click()
    page.wait_for_selector("#after .barlayer .point", state="attached")
    assert query(page)["off"] == ",".join(f"0.{h}" for h in range(9))
    assert page.locator("#ablated-list .off-chip").count() == 9
    page.wait_for_function("() => document.getElementById('ablate-summary').textContent.length > 0")
    summary = page.locator("#ablate-summary").inner_text()
    assert "Paris" in summary
    page.locator("#ablate").scroll_into_view_if_needed()
    screenshot("attention-ablate")
    page.locator("#ablate-clear").click()
    page.wait_for_selector("#after .placeholder")
    assert "off" not in query(page)


@pytest.mark.parametrize("avg", [False, True])
def test_without_valid_text_the_views_of_the_old_text_are_hidden(page, avg):
    page.goto("/attention?text=The+river+bank&layer=2" + ("&avg=1" if avg else ""))
    page.wait_for_function("() => document.querySelectorAll('#tokens .tok').length === 3")
    wait_idle(page)
    views = page.locator("[data-needs-prompt]")
    assert views.count() == 5 and all(views.nth(i).is_visible() for i in range(5))

    page.locator("#prompt").fill("")
    page.wait_for_function("() => document.getElementById('error').textContent.includes('Type some text')")
    assert not any(views.nth(i).is_visible() for i in range(5))
    assert page.locator("#tokens .tok").count() == 0
    assert page.locator("#senses").is_visible()  # the sense test has its own sentences

    page.locator("#prompt").fill("word " * 600)   # over the 512-token limit: refused by the server
    page.wait_for_function("() => document.getElementById('error').textContent.includes('limit')")
    assert not any(views.nth(i).is_visible() for i in range(5))

    page.locator("#prompt").fill("The money bank")
    page.wait_for_function("() => document.querySelectorAll('#tokens .tok').length === 3")
    page.wait_for_function("() => document.getElementById('error').textContent === ''")
    assert all(views.nth(i).is_visible() for i in range(5))


def test_a_text_too_long_for_every_head_hides_the_old_heads_and_still_averages_a_layer(page, screenshot):
    page.goto("/attention?text=The+river+bank")
    page.wait_for_function("() => document.getElementById('grid-status').textContent === '' "
                           "&& document.querySelectorAll('#gqa .gqa-head').length === 9")
    long = "The cat sat on the mat. " * 24          # 169 tokens: over the 128 of /api/attention/all
    page.locator("#prompt").fill(long)
    page.wait_for_function("() => document.getElementById('grid-status').textContent.includes('too many')")
    status = page.locator("#grid-status").inner_text()
    assert "169 tokens" in status and "up to 128 tokens" in status and "POST" not in status
    # The grid and the grouped-query views of "The river bank" are gone, not left beside the new text.
    assert not page.locator("#grid").is_visible()
    assert not page.locator("#gqa").is_visible() and not page.locator("#overlap").is_visible()
    assert "too many" in page.locator("#overlap-summary").inner_text()

    # The layer's average is still drawn, from the nine heads' exact weights.
    page.locator("#head").select_option("avg")
    page.wait_for_function("() => document.getElementById('heatmap').dataset.head === 'avg'")
    wait_idle(page)
    assert "exact weights" in page.locator("#head-facts").inner_text()
    assert page.locator("#error").inner_text() == ""
    assert page.locator("#tokens .tok").count() == 169
    screenshot("attention-long-average")

    page.locator("#prompt").fill("The money bank")
    page.wait_for_function("() => document.getElementById('grid-status').textContent === '' "
                           "&& document.querySelectorAll('#gqa .gqa-head').length === 9")
    assert page.locator("#grid").is_visible() and page.locator("#gqa").is_visible()
    assert "exact weights" in page.locator("#head-facts").inner_text()  # the server averages (was the one-byte data)


def test_head_overlap_leaves_out_the_first_row_that_every_head_shares(page):
    page.goto("/attention?text=The+river+bank")
    # Two heads that agree only on row 0 (the first token can look only at itself) do not overlap;
    # identical heads overlap by 1; a one-token text has nothing but row 0.
    result = page.evaluate("""async () => {
        const { overlap } = await import('/static/js/attention/compact.js');
        const a = [[1, 0, 0], [1, 0, 0], [1, 0, 0]];
        const b = [[1, 0, 0], [0, 1, 0], [0, 0, 1]];
        return [overlap(a, b), overlap(b, b), overlap([[1]], [[1]]), overlap(a, [[1, 0, 0], [0.5, 0.5, 0], [0.2, 0.3, 0.5]])];
    }""")
    assert result[0] == 0 and result[1] == 1 and result[2] == 1
    assert abs(result[3] - (0.5 + 0.2) / 2) < 1e-9


def test_the_grid_of_heads_works_from_the_keyboard(page):
    page.goto("/attention?text=The+river+bank&layer=2&head=1")
    page.wait_for_function("() => document.getElementById('grid-status').textContent === '' "
                           "&& document.getElementById('grid').dataset.layout")
    grid = page.locator("#grid")
    grid.focus()
    assert grid.get_attribute("data-cursor") == "2.1"
    for key in ["ArrowDown", "ArrowDown", "ArrowRight", "ArrowRight", "ArrowRight"]:
        page.keyboard.press(key)
    assert grid.get_attribute("data-cursor") == "4.4"
    assert "Layer 4 · head 4 (key/value head 1)" in grid.get_attribute("aria-label")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.getElementById('heatmap').dataset.layer === '4' "
                           "&& document.getElementById('heatmap').dataset.head === '4'")
    assert query(page)["layer"] == "4" and query(page)["head"] == "4"
    page.keyboard.press("End")                 # the layer's average, in the last column
    page.keyboard.press("PageDown")
    page.keyboard.press(" ")
    page.wait_for_function("() => document.getElementById('heatmap').dataset.head === 'avg' "
                           "&& document.getElementById('heatmap').dataset.layer === '9'")
    assert query(page)["avg"] == "1"


def test_on_a_phone_the_heatmaps_column_labels_do_not_run_together(page, screenshot):
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/attention")                     # the 12-token first example
    page.wait_for_selector("#heatmap .xtick text", state="attached")
    wait_idle(page)
    boxes = page.locator("#heatmap .xtick text").evaluate_all(
        "els => els.map(e => e.getBoundingClientRect().right)")  # slanted up to the tick: right end = tick
    assert len(boxes) >= 4
    gaps = [b - a for a, b in zip(boxes, boxes[1:])]
    assert min(gaps) >= 13, gaps               # the labels sit at least a line's height apart
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot("attention-phone-heatmap")


def _heads(page) -> dict:
    body = page.request.get(page.url.split("/attention")[0] + "/api/heads").json()
    return {(h["layer"], h["head"]): h for h in body["heads"]}


def test_the_heads_worth_a_look_and_the_grid_marks_are_the_measured_roles(page, screenshot):
    page.goto("/attention")
    page.wait_for_selector("#worth-list button[data-role]")
    heads = _heads(page)
    buttons = page.locator("#worth-list button[data-role]").evaluate_all(
        "els => els.map(e => [e.dataset.role, e.dataset.head, e.textContent])")
    assert {role for role, _, _ in buttons} == {"induction", "previous_token", "first_token"}
    for role, key, text in buttons:
        layer, head = map(int, key.split("."))
        assert heads[(layer, head)]["role"] == role, (key, role)   # every head the page names has that role
        assert text == f"Layer {layer} · head {head}"
        if role != "first_token":                                   # the strongest of its role come first
            shown = [k for r, k, _ in buttons if r == role]
            ranked = sorted((h for h in heads.values() if h["role"] == role), key=lambda h: -h["scores"][role])
            assert shown == [f"{h['layer']}.{h['head']}" for h in ranked[:len(shown)]]
    # The grid marks exactly the measured induction and previous-token heads.
    page.wait_for_function("() => document.getElementById('grid').dataset.roles?.length > 2")
    marks = json.loads(page.locator("#grid").get_attribute("data-roles"))
    assert marks == {f"{l}.{h}": x["role"] for (l, h), x in heads.items() if x["role"] in ("induction", "previous_token")}
    assert "Layer 20 · head 0" not in page.content()

    # An induction head opens with the probe: the repeated random tokens and its stripe.
    first = page.locator("#worth-list button[data-role=induction]").first
    layer, head = first.get_attribute("data-head").split(".")
    first.click()
    page.wait_for_function(f"() => document.getElementById('heatmap').dataset.layer === '{layer}' "
                           f"&& document.getElementById('heatmap').dataset.head === '{head}'")
    page.wait_for_function(f"() => document.getElementById('probe-heatmap').dataset.head === '{head}'")
    assert query(page)["probe"] == "1"
    probe = page.request.get(page.url.split("/attention")[0] + f"/api/heads/probe?layer={layer}&head={head}").json()
    caption = page.locator("#probe-caption").inner_text()
    assert f"{round(probe['score'] * 100)}%" in caption and f"{round(probe['induction'] * 100)}%" in caption
    assert "induction head" in caption
    assert "induction head" in page.locator("#head-facts").inner_text()
    page.locator("#one-head").scroll_into_view_if_needed()
    screenshot("attention-probe")
    # Another sequence of the probe, for the same head.
    page.get_by_role("button", name="Another random sequence").click()
    page.wait_for_function("() => document.getElementById('probe-heatmap').dataset.sequence === '1'")


def test_the_sink_is_explained_beside_the_heatmap_with_this_heads_share(page):
    page.goto("/attention")
    page.wait_for_selector("#worth-list button[data-role=first_token]")
    page.locator("#worth-list button[data-role=first_token]").click()
    key = page.locator("#worth-list button[data-role=first_token]").get_attribute("data-head")
    layer, head = map(int, key.split("."))
    page.wait_for_function(f"() => document.getElementById('heatmap').dataset.head === '{head}'")
    page.wait_for_selector("#head-facts .sink-explain")
    weights = page.request.post(page.url.split("/attention")[0] + "/api/attention", data=json.dumps(
        {"text": page.locator("#prompt").input_value(), "layer": layer, "head": head}),
        headers={"Content-Type": "application/json"}).json()["weights"]
    share = sum(row[0] for row in weights[1:]) / (len(weights) - 1)
    facts = page.locator("#head-facts").inner_text()
    assert f"{share * 100:.0f}% of its attention on the first token" in facts
    assert "attention sink" in facts
    # A previous-token head, with little on the first token, gets no sink explanation.
    page.goto("/attention?layer=2&head=1")
    page.wait_for_function("() => document.getElementById('head-facts').textContent.includes('Measured on fixed probes')")
    assert page.locator("#head-facts .sink-explain").count() == 0


def test_switching_off_a_layer_that_pushes_against_the_answer_is_explained(page):
    off = ",".join(f"29.{h}" for h in range(9))
    base = None
    page.goto("/attention?off=" + off)
    page.wait_for_function("() => document.getElementById('ablate-summary').textContent.length > 0")
    base = page.url.split("/attention")[0]
    text = page.locator("#prompt").input_value()
    body = page.request.post(base + "/api/predict", data=json.dumps(
        {"text": text, "ablate": [{"layer": 29, "head": h} for h in range(9)], "n_predictions": 10}),
        headers={"Content-Type": "application/json"}).json()
    top = body["baseline"][0]
    after = next(p for p in body["predictions"] if p["id"] == top["id"])
    summary = page.locator("#ablate-summary").inner_text()
    rose = after["probability"] > top["probability"]
    assert ("raised" in summary) == rose
    if rose:
        assert f"{top['probability'] * 100:.1f}%" in summary and f"{after['probability'] * 100:.1f}%" in summary
        assert "not a clean removal" in summary


def test_an_overtaken_favourite_that_rose_is_not_said_to_fall(page):
    # "My favourite food is" with layer 16 off: "␣pizza" overtakes "␣a", yet "␣a" itself rose a little.
    text = "My favourite food is"
    off = [{"layer": 16, "head": h} for h in range(9)]
    page.goto("/attention?" + urlencode({"text": text, "off": ",".join(f"16.{h}" for h in range(9))}))
    page.wait_for_function("() => document.getElementById('ablate-summary').textContent.length > 0")
    base = page.url.split("/attention")[0]
    body = page.request.post(base + "/api/predict", data=json.dumps({"text": text, "ablate": off, "n_predictions": 10}),
                             headers={"Content-Type": "application/json"}).json()
    top = body["baseline"][0]
    after = next(p for p in body["predictions"] if p["id"] == top["id"])
    assert body["predictions"][0]["id"] != top["id"] and after["probability"] > top["probability"]  # the case itself
    summary = page.locator("#ablate-summary").inner_text()
    assert f"rises to {after['probability'] * 100:.1f}%" in summary and "falls to" not in summary, summary


def test_a_long_text_folds_the_rows_that_get_under_one_percent(page):
    text = "The river bank was quiet and the town slept while the merchants counted their money. " * 4
    page.goto("/attention?layer=2&head=1&text=" + text.strip().replace(" ", "+"))
    page.wait_for_function("() => document.querySelectorAll('#lines-tokens .tok').length > 60")
    n = page.locator("#lines-tokens .tok").count()
    page.wait_for_selector("svg.lines .gap")
    rows = page.locator("svg.lines .tok-left").count()
    assert rows < n / 2                      # most rows folded: this head looks at a few tokens
    assert int(page.locator("svg.lines").get_attribute("height")) < 1200
    # Every folded run says how many tokens it hides; shown and folded tokens add up to the text.
    gaps = page.locator("svg.lines .gap").evaluate_all("els => els.map(e => e.textContent)")
    folded = sum(int(g.split()[1]) for g in gaps)
    assert rows + folded == n, (rows, folded, n)
    # The query (the last token) and the key it weighs most are drawn, joined by a line.
    assert page.locator("svg.lines .tok-left.query").count() == 1
    assert page.locator("svg.lines .links path").count() >= 1


def test_the_lines_view_works_from_the_keyboard(page):
    page.goto("/attention?text=The+cat+sat+on+the+mat&layer=2&head=1")
    page.wait_for_function("() => document.querySelectorAll('svg.lines .tok-left').length === 6")
    second = page.locator("svg.lines .tok-left").nth(1)
    assert second.get_attribute("role") == "button" and second.get_attribute("tabindex") == "0"
    second.focus()
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelector('svg.lines .tok-left.query').textContent.includes('cat')")
    assert query(page)["q"] == "1"
    # The focus stays on the picked token, so Tab moves on from there.
    assert page.evaluate("() => document.activeElement.classList.contains('query')")


def test_removing_a_chip_redraws_the_ablation_chart(page):
    from playwright.sync_api import expect
    page.goto("/attention?off=3.2,5.1")
    page.wait_for_selector("#after .bars path")
    expect(page.locator("#after-title")).to_contain_text("2 heads")
    page.locator("#ablated-list .off-chip").first.click()
    expect(page.locator("#after-title")).to_contain_text("1 head switched off")
    page.wait_for_function("() => !document.getElementById('ablate-status').textContent")
    expect(page.locator("#after .bars path")).not_to_have_count(0)


# --- issue 20: failure, phone, accessibility, labels ------------------------------------------------

def test_a_busy_server_hides_the_views_of_the_earlier_text(busy_page):
    from tests.browser.checks import assert_failure_hides
    page = busy_page
    page.goto("/attention?text=The+river+bank&off=3.2")
    page.wait_for_selector("#after .bars path")
    page.wait_for_function("() => document.querySelectorAll('#gqa .gqa-head').length === 9")
    busy = {"detail": "The model is busy; try again in a moment.", "code": "busy"}
    # Only the ablation's request is refused: its bars of "The river bank" go, the other views stay.
    page.route("**/api/predict", lambda route: route.fulfill(status=503, json=busy))
    assert_failure_hides(page, ["#before", "#after", "#ablate-summary"],
                         act=lambda: page.fill("#prompt", "The money bank"), error="#ablate-error")
    page.wait_for_function("() => document.querySelectorAll('#tokens .tok').length === 3")
    assert page.locator("#heatmap").is_visible() and page.locator("#error").inner_text() == ""
    # Every request refused: the heatmap, the lines and the grid of the earlier text go too.
    page.route("**/api/attention**", lambda route: route.fulfill(status=503, json=busy))
    assert_failure_hides(page, ["#heatmap", "#lines", "#grid"],
                         act=lambda: page.fill("#prompt", "The bank of the river"), error="#error")
    assert page.locator("#error").inner_text() == busy["detail"]
    page.unroute("**/api/attention**")
    page.unroute("**/api/predict")
    page.fill("#prompt", "The river bank again")
    page.wait_for_selector("#heatmap:not(.failed):not(.stale) .hm")
    page.wait_for_selector("#after .bars path")
    assert page.locator("#error").inner_text() == "" and page.locator("#ablate-error").inner_text() == ""


def test_a_failed_sense_test_hides_the_earlier_results(page):
    page.goto("/attention")
    page.wait_for_function("() => document.getElementById('senses').dataset.state === 'done'", timeout=120_000)
    assert page.locator("#senses-results").is_visible()
    page.locator("#sense-word").fill("tablecloth")   # in none of the sentences
    page.locator("#run-senses").click()
    page.wait_for_function("() => document.getElementById('senses').dataset.state === 'error'", timeout=120_000)
    assert "tablecloth" in page.locator("#senses-error").inner_text()
    assert not page.locator("#senses-results").is_visible()


def test_the_page_fits_a_phone(phone_page, screenshot):
    from tests.browser.checks import assert_fits_phone
    page = phone_page
    page.goto("/attention?off=3.2")
    page.wait_for_selector("#heatmap .hm, #heatmap .heatmaplayer", state="attached")
    page.wait_for_selector("#after .bars path")
    page.wait_for_function("() => document.querySelectorAll('#gqa .gqa-head').length === 9")
    page.wait_for_selector("#overlap .hm, #overlap .heatmaplayer", state="attached")
    assert_fits_phone(page)
    # The heatmap's every row and column label is inside the chart, the colour bar too.
    box = page.locator("#heatmap").bounding_box()
    for selector in ["#heatmap .xtick text", "#heatmap .ytick text", "#heatmap .colorbar"]:
        for b in page.locator(selector).evaluate_all("els => els.map(e => e.getBoundingClientRect().toJSON())"):
            assert b["left"] >= box["x"] - 1 and b["right"] <= box["x"] + box["width"] + 1, (selector, b)
    assert "tap one to see where it looks" in page.locator("#status").inner_text()
    assert "Tap a token" in page.locator("#lines-title + .explain").inner_text()
    screenshot("attention-phone")


def test_no_serious_axe_violation_and_charts_have_text_equivalents(page):
    from tests.browser.checks import axe_violations
    page.goto("/attention?off=3.2")
    page.wait_for_selector("#heatmap .hm, #heatmap .heatmaplayer", state="attached")
    page.wait_for_selector("#after .bars path")
    page.wait_for_function("() => document.getElementById('senses').dataset.state === 'done'", timeout=120_000)
    violations = axe_violations(page)
    assert violations == [], "\n".join(violations)
    # The heatmap's caption is computed from the weights of the head shown.
    body = page.request.post("/api/attention", data={"text": page.locator("#prompt").input_value(), "layer": 2, "head": 1}).json()
    n = len(body["weights"])
    share = sum(row[0] for row in body["weights"][1:]) / (n - 1)
    caption = page.locator("#heatmap-text").text_content()
    shown = f"{share * 100:.1f}%" if share < 0.1 else f"{share * 100:.0f}%"
    assert f"{n} tokens" in caption and f"{shown} of their attention on the first token" in caption
    assert "Most probable next tokens with every head on" in page.locator("#before-text").text_content()
    assert page.locator("#heatmap").get_attribute("aria-describedby") == "heatmap-text"


def test_pieces_of_characters_read_as_hex_bytes_in_every_chart(page):
    text = "我爱你 🎉👍🏽"
    page.goto("/attention?off=3.2&text=" + text.replace(" ", "+"))
    page.wait_for_selector("#heatmap .hm, #heatmap .heatmaplayer", state="attached")
    page.wait_for_selector("#after .bars path")
    page.wait_for_function("() => document.querySelectorAll('svg.lines .tok-left').length > 5")
    ticks = page.locator("#heatmap .xtick text, #heatmap .ytick text").all_text_contents()
    lines = page.locator("svg.lines text").all_text_contents()
    caption = page.locator("#heatmap-text").text_content()
    shown = " ".join(ticks + lines) + caption + page.locator("#tokens").text_content()
    assert "\ufffd" not in shown, shown
    assert "F0 9F" in " ".join(ticks) and "F0 9F" in " ".join(lines), (ticks, lines)


def test_on_a_phone_the_lines_and_key_value_diagram_keep_their_text_size(phone_page):
    page = phone_page
    page.goto("/attention?text=The+cat+sat+on+the+mat&layer=2&head=1")
    page.wait_for_function("() => document.querySelectorAll('svg.lines .tok-left').length === 6")
    page.wait_for_function("() => document.querySelectorAll('#gqa .gqa-head').length === 9")
    # The key/value diagram: its head labels at their 11px, its group boxes side by side, not overlapping.
    labels = page.locator("#gqa .gqa-label").evaluate_all("els => els.map(e => e.getBoundingClientRect().height)")
    assert min(labels) >= 10, labels
    boxes = page.locator("#gqa > rect").evaluate_all("els => els.map(e => e.getBoundingClientRect().toJSON())")
    assert all(a["right"] <= b["left"] for a, b in zip(boxes, boxes[1:])), boxes
    # Drawn at the width shown, not a 640-wide drawing scaled down to half: the labels stay 13px tall.
    heights = page.locator("svg.lines .tok-left").evaluate_all("els => els.map(e => e.getBoundingClientRect().height)")
    assert min(heights) >= 12, heights
    box = page.locator("svg.lines").bounding_box()
    assert box["x"] + box["width"] <= 390
    for b in page.locator("svg.lines text").evaluate_all("els => els.map(e => e.getBoundingClientRect().toJSON())"):
        assert b["left"] >= box["x"] - 1 and b["right"] <= box["x"] + box["width"] + 1, b


def test_the_server_drawn_heatmap_shows_without_javascript_and_keeps_its_place(browser, live_server):
    """The heatmap the server draws into the page (app/pictures/attention.py) is there without JavaScript,
    and the page's own Plotly heatmap that replaces it is as tall (nothing below it moves)."""
    url = "/attention?text=The+capital+of+France+is&layer=2&head=1"
    heights = []
    for js in (False, True):
        ctx = browser.new_context(java_script_enabled=js, base_url=live_server, viewport={"width": 1280, "height": 900})
        try:
            page = ctx.new_page()
            page.goto(url)
            if js:
                page.wait_for_selector("#heatmap .main-svg")
                assert page.locator("#heatmap [data-first-picture]").count() == 0
            else:
                drawn = page.locator("#heatmap .first-picture svg.first-wide")
                assert drawn.is_visible() and not page.locator("#heatmap svg.first-narrow").is_visible()
                assert "Layer 2 · head 1" in drawn.text_content()
                assert drawn.locator("rect").count() == 5 * 6 // 2 + 1  # the lower triangle, and the colour bar
                # Without JavaScript alone, the text it is about is written under it (app.css .first-nojs).
                from playwright.sync_api import expect
                expect(page.locator("#heatmap .first-picture .first-text")).to_have_text(
                    "For the text “The capital of France is”")
            # The drawing (with JavaScript the picture is that alone until Plotly replaces it), then Plotly's.
            heights.append((drawn if not js else page.locator("#heatmap")).bounding_box()["height"])
        finally:
            ctx.close()
    assert heights[1] == pytest.approx(heights[0], abs=2)
