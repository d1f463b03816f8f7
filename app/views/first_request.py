"""The API answer a chapter page's first picture needs, named from the page's own URL query (issue 20).

base.html puts it in the head as `<link rel="preload" as="fetch" crossorigin href="...">`, so the
model starts on it as the HTML arrives instead of after the page's modules have loaded and run. The
page's module then asks for it through `static/js/kit/first.js` (`apiFirst`), which builds the GET URL
from the page's own state and uses GET only when a preload link with exactly that URL is in the
document; otherwise it sends its usual request. So a URL here that differs from the module's can never
give a wrong answer, only a wasted preload (and the model computing a pass twice): the browser tests
(tests/browser/test_first_request.py) check that each page asks for this URL exactly once.

To agree with the module, each function below mirrors the page's `readState(DEFAULTS)` (first value
of a key, JavaScript's number and boolean reading) and its first request's parameters, in the order
the module lists them, encoded as URLSearchParams encodes them. Where it cannot be sure of the URL the
module will build (a number JavaScript would read differently, a setting the module sends another
way), or the request is bound to be refused for its length, it names nothing and the page sends its
usual request. The defaults are the page modules' DEFAULTS: change them together.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from app.schemas.tokens import MAX_CHAT_MESSAGES


@dataclass(frozen=True)
class Limits:
    """What a first request is checked against before it is named (the running model's shape)."""
    n_layers: int
    n_heads: int
    max_chars: int

    @classmethod
    def of(cls, engine) -> "Limits":
        return cls(engine.cfg.n_layers, engine.cfg.n_heads, engine.settings.max_prompt_chars)


# --- reading a query as the page's readState does (static/js/api.js) --------------------------------

class Query:
    """A page's URL query as its module reads it: `URLSearchParams.get` answers the FIRST value of a key
    (Starlette's `query_params[key]` the last)."""

    def __init__(self, pairs: Sequence[tuple[str, str]]):
        self.first: dict[str, str] = {}
        for key, value in pairs:
            self.first.setdefault(key, value)

    def has(self, key: str) -> bool:
        return key in self.first

    def text(self, key: str, default: str) -> str:
        return self.first.get(key, default)

    def flag(self, key: str, default: bool) -> bool:
        """readState's boolean: "1" or "true" is true, any other value false."""
        return self.first[key] in ("1", "true") if key in self.first else default

    def number(self, key: str, default: int | float) -> str | None:
        """The number as the module will write it back (`String(Number(raw))`), or None when this
        module cannot be sure it reads the value the same way (an empty value, "03", "1e3", "0x10")."""
        if key not in self.first:
            return js_number(default)
        raw = self.first[key]
        return raw if is_canonical_number(raw) else None

    def integer(self, key: str, default: int) -> int | None:
        written = self.number(key, default)
        return int(written) if written is not None and re.fullmatch(r"-?\d+", written) else None


_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]*[1-9])?")


def is_canonical_number(raw: str) -> bool:
    """True when JavaScript's String(Number(raw)) is `raw` itself: plain decimal notation with no
    leading or trailing zeros, not "-0", at most 15 significant digits (so it is the shortest string of
    its double) and within the range JavaScript writes without an exponent."""
    if not _NUMBER.fullmatch(raw) or raw == "-0":
        return False
    digits = raw.lstrip("-").replace(".", "").lstrip("0")
    value = abs(float(raw))
    return len(digits) <= 15 and (value == 0 or 1e-6 <= value < 1e21)


def js_number(value: int | float) -> str:
    """A default as JavaScript's String() writes it (1.0 -> "1", 0.5 -> "0.5")."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    written = repr(value)
    if not is_canonical_number(written):
        raise ValueError(f"{value!r} is not written alike by Python and JavaScript; pick another default")
    return written


# --- writing the URL as the module does (URLSearchParams.toString()) --------------------------------

_FORM_SAFE = frozenset(b"*-._0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def form_encode(pairs: Sequence[tuple[str, Any]]) -> str:
    """application/x-www-form-urlencoded as the URL Standard (and URLSearchParams) writes it: UTF-8,
    space as "+", every byte but `*-._` and letters and digits as %XX (Python's quote_plus keeps "~"
    and escapes "*"). Booleans as JavaScript writes them."""
    def one(value: Any) -> str:
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        return "".join(chr(b) if b in _FORM_SAFE else "+" if b == 0x20 else f"%{b:02X}"
                       for b in text.encode("utf-8"))
    return "&".join(f"{one(k)}={one(v)}" for k, v in pairs)


def _url(path: str, pairs: Sequence[tuple[str, Any]]) -> str:
    return f"{path}?{form_encode(pairs)}" if pairs else path


# --- the pages ---------------------------------------------------------------------------------------

# The page modules' default prompts (their DEFAULTS).
ATTENTION_TEXT = "The capital of France is Paris. The capital of Italy is"
INSIDE_TEXT = "The capital of France is"
PREDICT_TEXT = "The capital of France is"
TOKENS_TEXT = ("Tokenizers cut unbelievably rare words into pieces, numbers like 2025 into digits, and 🍕 into "
               "bytes.")
WHY_TEXT = "The capital of France is"
PREDICT_BARS = 20  # predict.js SHOWN: n_predictions of the chart's request
MAP_DEFAULTS = {"sets": "animals,countries,numbers,colours", "method": "pca", "dims": 2, "mode": "static",
                "pooling": "mean", "wl": True}
MAP_CHOICES = {"method": ("pca", "tsne", "umap"), "mode": ("static", "contextual"), "pooling": ("mean", "last")}


def _prompt(q: Query, default: str, limits: Limits) -> str | None:
    """The page's text, unless it is empty or over the character limit (the page then shows the
    refusal of its usual request; a long text is not worth a preload)."""
    text = q.text("text", default)
    return text if text.strip() and len(text) <= limits.max_chars else None


def _in_range(value: int | None, size: int) -> bool:
    return value is not None and 0 <= value < size


def attention(q: Query, limits: Limits) -> str | None:
    """attention.js showHead: GET /api/attention (text, layer, head, avg). A layer or head out of range
    is clamped by the page before it asks: named nothing here. The page reads its text back from the
    textarea, which turns CR LF and CR into LF."""
    text = _prompt(q, ATTENTION_TEXT, limits)
    text = text and text.replace("\r\n", "\n").replace("\r", "\n")
    layer, head = q.integer("layer", 2), q.integer("head", 1)
    if text is None or not _in_range(layer, limits.n_layers) or not _in_range(head, limits.n_heads):
        return None
    return _url("/api/attention", [("text", text), ("layer", layer), ("head", head), ("avg", q.flag("avg", False))])


def inside(q: Query, limits: Limits) -> str | None:
    """inside.js fetchInside: GET /api/inside (text, layer, head, position when >= 0). Out of range: the
    page retries with the nearest value after the refusal, so it is named nothing here."""
    text = _prompt(q, INSIDE_TEXT, limits)
    layer, head, position = q.integer("layer", 18), q.integer("head", 1), q.integer("position", -1)
    if text is None or position is None or not _in_range(layer, limits.n_layers) \
            or not _in_range(head, limits.n_heads):
        return None
    pairs: list[tuple[str, Any]] = [("text", text), ("layer", layer), ("head", head)]
    if position >= 0:
        pairs.append(("position", position))
    return _url("/api/inside", pairs)


def predict(q: Query, limits: Limits) -> str | None:
    """predict.js refreshChart: GET /api/predict (text, temperature, top_k, top_p, n_predictions), when
    the link holds no generated steps (those are first turned back into tokens by another request)."""
    text = _prompt(q, PREDICT_TEXT, limits)
    numbers = [(key, q.number(key, default)) for key, default in (("temperature", 1), ("top_k", 10), ("top_p", 1))]
    # In "guess first" mode the chart stays hidden until the reader has guessed: a picture drawn by the
    # server (app/pictures) would show the answer before the page could hide it.
    if text is None or q.text("steps", "") != "" or q.flag("guess", False) or any(v is None for _, v in numbers):
        return None
    return _url("/api/predict", [("text", text), *numbers, ("n_predictions", PREDICT_BARS)])


def why(q: Query, limits: Limits) -> str | None:
    """why.js refresh, its direct parts: GET /api/attribution (text, mode when "chat", target and contrast
    when >= 0, saliency=false). Another mode breaks the page before it asks (setMode knows only "text"
    and "chat"): named nothing, as a target or contrast this module cannot be sure it reads alike."""
    text = _prompt(q, WHY_TEXT, limits)
    mode = q.text("mode", "text")
    target, contrast = q.integer("target", -1), q.integer("contrast", -1)
    if text is None or mode not in ("text", "chat") or target is None or contrast is None:
        return None
    pairs: list[tuple[str, Any]] = [("text", text)] + ([("mode", "chat")] if mode == "chat" else [])
    pairs += [(key, value) for key, value in (("target", target), ("contrast", contrast)) if value >= 0]
    return _url("/api/attribution", [*pairs, ("saliency", False)])


def tokens(q: Query, limits: Limits) -> str | None:
    """tokens.js updateText: GET /api/tokenize (text; empty is fine, nothing runs the model). Not in the Ids
    view (show=ids, as setShow reads it): the server's picture draws the tokens as text chips, which the
    module would then turn into ids, the picture showing another view than the page's buttons say."""
    text = q.text("text", TOKENS_TEXT)
    if q.text("show", "text") == "ids":
        return None
    return _url("/api/tokenize", [("text", text)]) if len(text) <= limits.max_chars else None


# chat.js renderTemplate: with nothing said yet, it asks about the message box's text, empty on a first
# visit, or this.
CHAT_PLACEHOLDER = "…"
# What JavaScript's String.prototype.trim removes (WhiteSpace and LineTerminator). Python's str.strip()
# differs: it also removes U+001C-U+001F and U+0085, and keeps U+FEFF.
_JS_TRIM = "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" \
           "\u2028\u2029\u202f\u205f\u3000\ufeff"
_SURROGATE = re.compile("[\ud800-\udfff]")


class _NotJSON(ValueError):
    pass


def _not_json(constant: str):
    raise _NotJSON(constant)  # NaN, Infinity: Python's json reads them, JSON.parse does not


def _chat_messages(raw: str) -> list[dict] | None:
    """chat.js parseMessages: the user and assistant messages of the URL's `c` (JSON), anything else
    dropped, [] when it is not JSON; None where this module cannot be sure JSON.parse reads it alike
    (nesting too deep for Python, an integer too long for it)."""
    try:
        listed = json.loads(raw, parse_constant=_not_json)
    except (json.JSONDecodeError, _NotJSON):
        return []
    except (ValueError, RecursionError):
        return None
    if not isinstance(listed, list):
        return []
    return [{"role": m["role"], "content": m["content"]} for m in listed
            if isinstance(m, dict) and m.get("role") in ("user", "assistant") and isinstance(m.get("content"), str)]


def chat(q: Query, limits: Limits) -> str | None:
    """chat.js renderTemplate on a first visit: GET /api/chat/template (messages as JSON.stringify writes
    them, add_generation_prompt) for the system message (`system`, when not blank) and the conversation
    (`c`) of the URL, or for the placeholder question when nothing has been said. Messages the API
    refuses (too many, too long, half of a UTF-16 pair) name nothing."""
    said = _chat_messages(q.text("c", "[]"))
    if said is None:
        return None
    system = q.text("system", "")
    messages = ([{"role": "system", "content": system}] if system.strip(_JS_TRIM) else []) + said
    if all(m["role"] == "system" for m in messages):
        messages.append({"role": "user", "content": CHAT_PLACEHOLDER})
    if len(messages) > MAX_CHAT_MESSAGES or sum(len(m["content"]) for m in messages) > limits.max_chars \
            or any(_SURROGATE.search(m["content"]) for m in messages):
        return None
    return _url("/api/chat/template", [("messages", json.dumps(messages, ensure_ascii=False, separators=(",", ":"))),
                                       ("add_generation_prompt", messages[-1]["role"] != "assistant")])


def embeddings(q: Query, limits: Limits) -> str | None:
    """embeddings.js mapLoad, on a first visit that sends it at once (no sets, layer or slayer in the
    URL) with no words of the reader's own: GET /api/embeddings/map (sets, method, dims, mode, pooling,
    wl, neighbours; the server picks the layer). A choice the page does not know falls back to its
    default there, and here."""
    if any(q.has(key) for key in ("sets", "layer", "slayer")) or set(q.text("words", "")) - set(" ,\n"):
        return None
    dims = q.integer("dims", MAP_DEFAULTS["dims"])
    if dims is None:
        return None
    choice = {key: q.text(key, MAP_DEFAULTS[key]) for key in MAP_CHOICES}
    choice = {key: value if value in MAP_CHOICES[key] else MAP_DEFAULTS[key] for key, value in choice.items()}
    return _url("/api/embeddings/map", [
        ("sets", MAP_DEFAULTS["sets"]), ("method", choice["method"]), ("dims", dims if dims in (2, 3) else 2),
        ("mode", choice["mode"]), ("pooling", choice["pooling"]), ("wl", q.flag("wl", MAP_DEFAULTS["wl"])),
        ("neighbours", 10)])


def network(q: Query, limits: Limits) -> str | None:
    """network.js loadDataset: the symbols and example drawings, the same for every URL."""
    return "/api/network/dataset"


LEARN_DEFAULTS = {"seed": 0, "steps": 500, "lr": 0.003, "layers": 2, "heads": 4}
LEARN_RANGES = {"seed": (0, 2**31 - 1), "steps": (1, 3000), "layers": (1, 2), "heads": (1, 8)}  # LearnIn's
LEARN_LR_MAX = 0.05


def learn(q: Query, limits: Limits) -> str | None:
    """learn.js drawFirst: GET /api/learn/start (seed, steps, lr, layers, heads: the settings its first run,
    streamed by POST /api/learn, reads back from the form). A value the form would read otherwise (not a
    whole number, a layer count with no radio button) or the API refuses names nothing; the page then
    draws from its run's stream alone, as before."""
    values: dict[str, Any] = {key: q.integer(key, default) for key, default in LEARN_DEFAULTS.items() if key != "lr"}
    if any(v is None or not low <= v <= high for v, (low, high) in
           ((values[key], LEARN_RANGES[key]) for key in LEARN_RANGES)):
        return None
    lr = q.number("lr", LEARN_DEFAULTS["lr"])
    if lr is None or not 0 < float(lr) <= LEARN_LR_MAX:
        return None
    return _url("/api/learn/start", [("seed", values["seed"]), ("steps", values["steps"]), ("lr", lr),
                                     ("layers", values["layers"]), ("heads", values["heads"])])


# Chapter slug -> the function naming its first request.
PAGES: dict[str, Callable[[Query, Limits], str | None]] = {
    "network": network, "tokens": tokens, "embeddings": embeddings, "attention": attention, "inside": inside,
    "learn": learn, "predict": predict, "why": why, "chat": chat,
}


def first_request(page: str, query: Sequence[tuple[str, str]], limits: Limits) -> str | None:
    """The URL (path and query) of the API answer the page's first picture needs, or None."""
    name = PAGES.get(page)
    return name(Query(query), limits) if name else None
