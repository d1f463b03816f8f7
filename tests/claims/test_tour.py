"""Claims of the tour (/), checked on the real model (docs/CLAIMS.md, section "The tour")."""

from __future__ import annotations

import pytest


# --- "as points" (chapter 3's view in the tour) -------------------------------------------------


@pytest.mark.browser
@pytest.mark.parametrize("text", ["The capital of France is", "Once upon a time, there was a"])
def test_the_points_view_places_the_prompts_own_tokens(page, text):
    """The map's points are looked up as the prompt has its words: 'The' first (no space), ' capital' after a
    space; every point's tokens are a run of the prompt's own tokens (it looked up '␣The' before)."""
    from urllib.parse import quote

    with page.expect_response(lambda r: r.url.endswith("/api/embeddings/map")) as answer:
        page.goto("/?text=" + quote(text))
    points = answer.value.json()["points"]
    prompt = page.request.post("/api/tokenize", data={"text": text}).json()["tokens"]
    ids = [t["id"] for t in prompt]
    for p in points:
        run = [t["id"] for t in p["tokens"]]
        assert any(ids[i:i + len(run)] == run for i in range(len(ids))), (p["word"], run)
    assert points[0]["word"] == text.split()[0] and points[0]["tokens"][0]["id"] == ids[0]
    page.wait_for_selector("#j-points .main-svg")
    labels = page.locator("#j-points g.textpoint").all_text_contents()
    assert labels[0] == text.split()[0] and labels[1] == "␣" + text.split()[1].strip(",")
