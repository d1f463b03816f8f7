"""The token chips the server draws into /tokens and /chat (app/pictures/chips.py, tokens.py, chat.py) are
the chips the pages' JavaScript draws (static/js/kit/chips.js, tokens.js, chat.js), element for element,
for a text with every kind of token a chip shows differently: pieces of emoji and CJK characters (loose
bytes), a zero-width joiner and U+FE0F (stand-ins), new lines and tabs, markup that must stay text."""

from __future__ import annotations

import html
import json
import re
from urllib.parse import urlencode

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.real]

TRICKY = ("Family 👩\u200d👩\u200d👧, heart ❤\ufe0f, 🍕 and 猫は日本語 zwj\u200dx\nnew line\n\n\ttab\t"
          "<script>alert(1)</script> &amp; \"q\" 'a'\r\n end ")

# Each element as markup, its inline style written as the browser's CSSOM writes it (the server writes
# hsl(), the kit sets style.background, which Chromium keeps as rgb()).
NORMALISED = """(root) => [...root.children].filter((n) => !n.classList.contains("template-count")).map((n) => {
  const copy = n.cloneNode(true);
  if (copy.hasAttribute("style")) copy.setAttribute("style", copy.style.cssText);
  return copy.outerHTML;
})"""


def _served(page, path: str) -> tuple[str, dict]:
    """The picture the server wrote into the page (its inner HTML) and the answer beside it."""
    body = page.request.get(path).text()
    found = re.search(r'<div class="first-picture" data-first-picture>(.*?)</div><script type="application/json" '
                      r'data-first-answer="[^"]+">(.*?)</script>', body, re.S)
    assert found, f"{path}: no server-drawn picture"
    return found.group(1), json.loads(found.group(2))


def test_the_servers_token_chips_are_the_kits(page):
    picture, answer = _served(page, "/tokens?" + urlencode({"text": TRICKY}))
    flow = re.search(r'<div class="token-flow"[^>]*>(.*)</div>', picture, re.S).group(1)
    page.goto("/tokens?text=x")
    server, kit = page.evaluate(f"""async ([flow, tokens]) => {{
      const {{ tokenChips }} = await import("/static/js/kit/chips.js");
      const norm = {NORMALISED};
      const served = document.createElement("div");
      served.innerHTML = flow;
      const drawn = document.createElement("div");
      tokenChips(drawn, tokens);
      // The page's line breaks are not tokenChips'; the chips themselves are compared.
      served.querySelectorAll(".br").forEach((n) => n.remove());
      return [norm(served), norm(drawn)];
    }}""", [flow, answer["tokens"]])
    assert len(server) == len(answer["tokens"]) > 30
    assert server == kit
    joined = "".join(server)
    # The joiner (E2 80 8D) is cut into byte tokens by this vocabulary; U+FE0F is a token of its own.
    for shown in ('<span class="bytes">E2 80</span>', "⟨U+FE0F⟩", "⏎⏎", "⇥", "␍⏎", "&lt;/", "&amp;"):
        assert shown in joined, shown
    assert "<script>" not in joined and "\ufffd" not in joined


def test_the_tokens_pages_static_view_is_what_its_module_draws(page):
    """Besides the titles (the page's say more), the chips, their line breaks and the counts are the same."""
    path = "/tokens?" + urlencode({"text": TRICKY})
    picture, answer = _served(page, path)
    page.goto(path)
    page.wait_for_selector("#chips .tok[data-index]")
    assert page.query_selector("[data-first-picture]") is None and page.locator("#stats").is_visible()
    shape = """(root) => [...root.children].map((n) => n.classList.contains("br") ? "br"
      : `${n.className}|${n.style.cssText}|${n.innerHTML}`)"""
    drawn = page.evaluate(f"({shape})(document.getElementById('chips'))")
    served = page.evaluate(f"""(flow) => {{ const d = document.createElement("div"); d.innerHTML = flow;
      return ({shape})(d.firstElementChild); }}""", picture.split('<div class="stats">', 1)[1].split("</div></div>", 1)[1])
    assert served == drawn and drawn.count("br") >= 3
    stats = page.locator("#stats .stat b").all_text_contents()
    assert [html.unescape(b) for b in re.findall(r'<div class="stat"><b>([^<]*)</b>', picture)] == stats


def test_the_chat_pictures_chips_are_the_ones_chat_js_draws(page):
    c = json.dumps([{"role": "user", "content": TRICKY}, {"role": "assistant", "content": "OK 👍🏽\n<b>x</b>"}])
    path = "/chat?" + urlencode({"c": c, "system": "Say it\ttwice.\n"})
    picture, answer = _served(page, path)
    page.goto(path)
    page.wait_for_selector("#template-tokens > .tok")
    assert page.query_selector("[data-first-picture]") is None
    drawn = page.evaluate(f"({NORMALISED})(document.getElementById('template-tokens'))")
    served = page.evaluate(f"""(picture) => {{ const d = document.createElement("div"); d.innerHTML = picture;
      return ({NORMALISED})(d); }}""", picture)
    assert served == drawn
    assert sum(n.startswith("<span") for n in drawn) == answer["count"] and "<br>" in drawn
    # The count at the picture's foot is the one the page writes below its view.
    count = re.search(r'<p class="template-count">([^<]*)</p>', picture).group(1)
    assert page.locator("#template-count").text_content() == html.unescape(count)
