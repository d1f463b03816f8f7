"""The attention page's sense test, re-stated in Python: the built-in examples, the two controls and
the rules its summaries follow (static/js/attention/senses.js). The claims tests check the rules'
verdicts on the real model; the browser test checks that the page's sentences equal these."""

from __future__ import annotations

import json
import re
from pathlib import Path

from model.senses import swap_word

ROOT = Path(__file__).resolve().parents[2]
SENSES_JS = (ROOT / "static/js/attention/senses.js").read_text()
EXAMPLES = json.loads((ROOT / "static/js/attention/senses_examples.json").read_text())
MARGIN = float(re.search(r"export const MARGIN = ([\d.]+);", SENSES_JS).group(1))
HEAD_MARGIN = float(re.search(r"export const HEAD_MARGIN = ([\d.]+);", SENSES_JS).group(1))


def mix_groups(groups: list[list[str]]) -> list[list[str]]:
    """The page's mixed-groups control (mixGroups): deal the sentences round-robin, shifted by row."""
    G = len(groups)
    flat = [g[i] for i in range(max(map(len, groups))) for g in groups if i < len(g)]
    out: list[list[str]] = [[] for _ in groups]
    for k, s in enumerate(flat):
        out[(k % G + k // G) % G].append(s)
    return out


def swapped(example: dict) -> list[list[str]]:
    return [[swap_word(s, example["word"], example["control"]) for s in g] for g in example["groups"]]


def run(client, example: dict) -> dict:
    """The four answers the page asks for: the word, the control word, the mixed groups, the heads."""
    def senses(word, groups):
        r = client.post("/api/attention/senses", json={"word": word, "groups": groups})
        assert r.status_code == 200, r.text
        return r.json()
    heads = client.post("/api/attention/senses/heads", json={k: example[k] for k in ("word", "control", "groups", "cues")})
    assert heads.status_code == 200, heads.text
    heads = heads.json()
    passing = evidence_heads(heads)

    def off(hs):
        r = client.post("/api/attention/senses", json={"word": example["word"], "groups": example["groups"],
                                                       "ablate": [{"layer": h["layer"], "head": h["head"]} for h in hs]})
        assert r.status_code == 200, r.text
        return r.json()
    return {"word": senses(example["word"], example["groups"]),
            "control": senses(example["control"], swapped(example)),
            "mixed": senses(example["word"], mix_groups(example["groups"])),
            "heads": heads,
            "off": off(passing) if passing else None,
            "others": off(other_heads(heads, len(passing))) if passing else None}


def other_heads(heads: dict, n: int) -> list[dict]:
    """The page's control for switching heads off (otherHeads): n heads spread over the rest of the ranking."""
    strong = {(h["layer"], h["head"]) for h in evidence_heads(heads)}
    rest = [h for h in heads["heads"] if (h["layer"], h["head"]) not in strong]
    return [rest[int(((k + 0.5) * len(rest)) // n)] for k in range(min(n, len(rest)))]


def mean_gap(body: dict, depths: list[int]) -> float:
    g = gaps(body)
    return sum(g[d] for d in depths) / len(depths)


def ablation_change(answers: dict) -> float:
    """How much of the gap switching off the passing heads takes away (share of the gap)."""
    depths = separation(answers["word"], [answers["control"], answers["mixed"]])
    base = mean_gap(answers["word"], depths)
    return (base - mean_gap(answers["off"], depths)) / base


def summarise_ablation(word: dict, control: dict, mixed: dict, off: dict, others: dict) -> str:
    depths = separation(word, [control, mixed])
    n = len(off["ablated"])
    if not depths or not n:
        return ""
    base, without = mean_gap(word, depths), mean_gap(off, depths)
    rel = (base - without) / base
    verdict = ("removes most of the gap" if rel >= 0.5 else "narrows the gap" if rel >= 0.2
               else "widens the gap" if rel <= -0.2 else "leaves the gap about as it was")
    return (f"Switching off the {n} head{'' if n == 1 else 's'} that pass, in every sentence, {verdict}: averaged over the "
            f'{len(depths)} layers where "{word["word"]}" beats the controls, the gap goes from {base:.2f} to {without:.2f} '
            f"(switching off {len(others['ablated'])} other heads instead: {mean_gap(others, depths):.2f})."
            + (" Looking is not carrying: the sense also reaches the word by other routes (other heads, the MLPs)."
               if abs(rel) < 0.2 else ""))


def gaps(body: dict) -> list[float | None]:
    return [None if l["within"] is None or l["across"] is None else l["within"] - l["across"] for l in body["layers"]]


def separation(word: dict, controls: list[dict]) -> list[int]:
    g, cs = gaps(word), [gaps(c) for c in controls]
    return [d for d, x in enumerate(g) if x is not None and all(c[d] is not None for c in cs)
            and x - max(c[d] for c in cs) >= MARGIN]


def evidence_heads(heads: dict) -> list[dict]:
    return [h for h in heads["heads"] if h["difference"] >= HEAD_MARGIN and h["lowest_difference"] > 0]


def _pct(x: float) -> str:
    return f"{x * 100:.0f}%"


def summarise_senses(word: dict, control: dict, mixed: dict) -> str:
    g = gaps(word)
    if all(x is None for x in g):
        return (f'Each group has a single sentence, so there is nothing to compare "{word["word"]}" with inside a group: '
                "put two or more sentences in a group.")
    L = len(word["layers"]) - 1
    depths = separation(word, [control, mixed])
    if not depths:
        return (f'After no layer is "{word["word"]}" more alike within a group than across by {MARGIN:g} more than in the '
                "controls: with these sentences the test does not show the model telling the senses apart.")
    first = depths[0]
    unbroken = len(depths) == L + 1 - first
    best = depths[0]
    for d in depths:
        if g[d] > g[best]:
            best = d
    at, c = word["layers"][best], control["layers"][best]
    return (f'"{word["word"]}" in sentences of one sense is more alike than across senses, by at least {MARGIN:g} more than '
            f"in either control, after {len(depths)} of the {L} layers: "
            + (f"every layer from layer {first - 1} on." if unbroken
               else f"first after layer {first - 1}, last after layer {depths[-1] - 1}.")
            + f" The widest gap is after layer {best - 1}: cosine {at['within']:.2f} within vs {at['across']:.2f} across "
            f'("{control["word"]}" in the same place: {c["within"]:.2f} vs {c["across"]:.2f}).')


def summarise_heads(heads: dict) -> str:
    strong = evidence_heads(heads)
    m = heads["mean_head"]
    avg = (f'The average head: {_pct(m["word_to_cues"])} from "{heads["word"]}", {_pct(m["control_to_cues"])} from '
           f'"{heads["control"]}", while it puts {_pct(m["word_to_first"])} of the word\'s attention on the first token.')
    if not strong:
        return (f'No head looks at the sense words at least {HEAD_MARGIN:g} more from "{heads["word"]}" than from '
                f'"{heads["control"]}" in the same sentences, and more in every sentence. {avg}')
    top = strong[0]
    n = len(strong)
    return (f"{n} head{'' if n == 1 else 's'} look{'s' if n == 1 else ''} at the sense words "
            f'more from "{heads["word"]}" than from "{heads["control"]}" in every sentence, by {HEAD_MARGIN:g} or more on average. '
            f"The strongest, layer {top['layer']} · head {top['head']}, puts {_pct(top['word_to_cues'])} of the word's attention on them, "
            f'{_pct(top["control_to_cues"])} from "{heads["control"]}". {avg}')
