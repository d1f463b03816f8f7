"""Claims of chapter 5a (/why): the logit taken apart, the check, the saliency baseline."""

from __future__ import annotations

import json

import pytest
import torch
from playwright.sync_api import expect

from model import attribution as A

PROMPT = "The capital of France is"


def _analysis(engine, text=PROMPT):
    return engine.locked(engine.analysis, engine.prompt(text))


def test_the_default_prompt_says_paris(smollm2):
    """The tour: 'why did it say “Paris”?' on the default prompt."""
    analysis = _analysis(smollm2)
    assert smollm2.tokenizer.describe(int(analysis.next_logits.argmax())).text == " Paris"


@pytest.mark.parametrize("text", [PROMPT, "1, 2, 3, 4,"])
def test_the_parts_add_up_to_the_logit(real_engine, text):
    """'The parts add up to the score exactly' (computed: the page shows both numbers)."""
    analysis = _analysis(real_engine, text)
    target = int(analysis.next_logits.argmax())
    parts = A.direct_parts(analysis, target)
    assert parts.parts_sum == pytest.approx(parts.logit, abs=1e-4)
    assert parts.logit == pytest.approx(float(analysis.next_logits[target]), abs=1e-6)


def test_with_only_the_last_layer_off_nothing_later_reacts(real_engine):
    """The check splits the gap into 'the norm' and 'later layers reacting': with only the last
    layer's MLP switched off there are no later layers, so the real change is the norm-only one."""
    analysis = _analysis(real_engine)
    target = int(analysis.next_logits.argmax())
    parts = A.direct_parts(analysis, target)
    last = real_engine.cfg.n_layers - 1
    result = A.check(analysis, parts, target, None, [], [last])
    assert result.actual == pytest.approx(result.norm_only, abs=1e-3)
    assert result.predicted == pytest.approx(-float(parts.mlps[last]))
    assert result.reacting == []


def _change_with_parts_held(analysis, target, heads, mlps, held):
    """The target's logit change with `heads` and `mlps` switched off (as `check` does) while the
    parts in `held` (check.reacting's form) keep their outputs from the normal pass."""
    model = analysis.model
    _, clean = model.run_with_cache(analysis.ids, names=[f"blocks.{l}.attn.z" for l, hs, _ in held if hs])
    off: dict[int, list[int]] = {}
    for layer, head in heads:
        off.setdefault(layer, []).append(head)
    kept = {layer: hs for layer, hs, _ in held if hs}

    def z_hook(z, name):                                        # (h, n, dh)
        layer = int(name.split(".")[1])
        z = z.clone()
        z[off.get(layer, [])] = 0.0
        if layer in kept:
            z[kept[layer]] = clean[name][kept[layer]]
        return z

    fns = {f"blocks.{layer}.attn.z": z_hook for layer in {*off, *kept}}
    fns |= {f"blocks.{layer}.mlp_out": (lambda out, name: torch.zeros_like(out)) for layer in mlps}
    fns |= {f"blocks.{layer}.mlp_out": (lambda out, name, layer=layer: analysis.mlp_out[layer].clone())
            for layer, _, mlp in held if mlp}
    first = min([layer for layer, _ in heads] + list(mlps))
    with torch.inference_mode(), model.hooks(fns):
        after = model.forward_from(first, analysis.resid[first], last_only=True)[-1]
    return float(after[target]) - float(analysis.next_logits[target])


@pytest.mark.parametrize("text, heads, mlps, first", [
    ("The opposite of hot is", [(29, 7)], [], (29, [], True)),       # a head of the last layer: its MLP alone
    (PROMPT, [(23, 4)], [28, 29], (23, [], True)),                    # the default check's parts
    ("The opposite of hot is", [(29, 7)], [25, 29], (26, list(range(9)), True)),
])
def test_the_check_names_exactly_the_parts_that_react(smollm2, text, heads, mlps, first):
    """/why's check: 'The rest is the parts after them reacting (...)', named from the switched-off
    parts' layers (it said 'the later layers reacting' even when the parts were heads of the last
    layer, after which only that layer's MLP is left). Holding every named part at its normal output
    leaves exactly the norm-only change (so nothing else reacts); holding all but the first named
    layer's parts does not (control: the first one named does react). The parts are the page's three
    strongest on these prompts, or L29H7 of them alone."""
    analysis = _analysis(smollm2, text)
    target = int(analysis.next_logits.argmax())
    parts = A.direct_parts(analysis, target)
    assert set(heads) <= set(A.strongest(parts, 3)[0]) and set(mlps) <= set(A.strongest(parts, 3)[1])
    result = A.check(analysis, parts, target, None, heads, mlps)
    assert result.reacting[0] == first
    assert abs(result.actual - result.norm_only) > 0.3
    held = _change_with_parts_held(analysis, target, heads, mlps, result.reacting)
    assert held == pytest.approx(result.norm_only, abs=1e-3)
    assert abs(_change_with_parts_held(analysis, target, heads, mlps, result.reacting[1:]) - result.norm_only) > 0.3


def test_the_strongest_parts_matter_more_than_the_weakest(real_engine):
    """Control for the check: switching off the three parts with the smallest contributions moves
    the score far less than switching off the three strongest."""
    analysis = _analysis(real_engine)
    target = int(analysis.next_logits.argmax())
    parts = A.direct_parts(analysis, target)
    strong = A.check(analysis, parts, target, None, *A.strongest(parts, 3))
    L, h = parts.heads.shape
    weakest = torch.cat([parts.heads.flatten(), parts.mlps]).abs().topk(3, largest=False).indices.tolist()
    heads = [(i // h, i % h) for i in weakest if i < L * h]
    mlps = [i - L * h for i in weakest if i >= L * h]
    weak = A.check(analysis, parts, target, None, heads, mlps)
    assert abs(weak.actual) < abs(strong.actual) / 4


def test_many_parts_push_down(smollm2):
    """'Many parts push down; the score is what is left after large pushes both ways' (the page
    computes the counts; pinned here that they are many on the default prompt)."""
    analysis = _analysis(smollm2)
    parts = A.direct_parts(analysis, int(analysis.next_logits.argmax()))
    every = torch.cat([torch.tensor([parts.embedding]), parts.heads.flatten(), parts.mlps])
    assert int((every < 0).sum()) > len(every) / 4
    assert float(-every[every < 0].sum()) > 0.5 * parts.logit


def test_the_zero_baseline_does_not_add_up_but_half_the_input_does(smollm2):
    """'The obvious baseline, all-zero vectors, does not work in this model ... the shares no longer
    add up': at the default 32 steps completeness is more than 5% off 1 from zero embeddings, and
    within 5% from 0.5 x input."""
    analysis = _analysis(smollm2)
    ids, target = analysis.ids.tolist(), int(analysis.next_logits.argmax())
    zero = A.saliency(smollm2.model, ids, target, baseline_scale=0.0)
    half = A.saliency(smollm2.model, ids, target)
    assert zero.baseline == "zero embeddings" and half.baseline == "0.5 x input"
    # Exactly zero: the gradients there are NaN, so the shares add up to nothing (review: the old
    # `abs(c - 1) > 0.05` failed on NaN). Near zero (0.001 and 0.01 x input), measured 6.5 and -4.8.
    assert not abs(zero.completeness - 1) <= 0.05
    for scale in (1e-3, 1e-2):
        near = A.saliency(smollm2.model, ids, target, baseline_scale=scale)
        assert abs(near.completeness - 1) > 0.5
    assert abs(half.completeness - 1) <= 0.05


def test_the_baseline_keeps_the_words_so_a_needed_word_can_get_a_negative_share(smollm2):
    """Caveat (review): 'on “The capital of France is”, “France” gets a small negative share, yet
    writing “Germany” instead lowers the score of “Paris” by more than the whole change from the
    baseline' (0.5 x input keeps each vector's direction; measured: France's share -0.70, the
    baseline scores 16.1 of 17.4, Germany instead of France: 10.8)."""
    analysis = _analysis(smollm2)
    target = int(analysis.next_logits.argmax())
    ids = [int(i) for i in analysis.ids]
    s = A.saliency(smollm2.model, ids, target)
    france = [smollm2.tokenizer.describe(i).text for i in ids].index(" France")
    assert float(s.integrated_gradients[france]) < 0
    swapped = _analysis(smollm2, "The capital of Germany is")
    drop = float(analysis.next_logits[target]) - float(swapped.next_logits[target])
    assert drop > s.f_input - s.f_baseline > 0


def test_the_frozen_factor_is_one_over_the_root_mean_square_not_the_length(smollm2):
    """Scale note (review): 'divides the last vector by its root mean square (its length divided
    by the square root of its number of dimensions)' - was 'by its length'; measured on the
    default prompt: the factor 0.0388 = sqrt(576)/length, while 1/length = 0.0016."""
    analysis = _analysis(smollm2)
    parts = A.direct_parts(analysis, int(analysis.next_logits.argmax()))
    x = analysis.resid[-1, -1].double()
    assert parts.scale == pytest.approx(x.numel() ** 0.5 / float(x.norm()), rel=1e-4)
    assert abs(parts.scale - 1 / float(x.norm())) > 0.5 * parts.scale


def test_each_layer_s_rmsnorm_divides_by_the_root_mean_square_and_blows_tiny_vectors_up(smollm2, real_client):
    """Saliency note (review): 'each layer starts with an RMSNorm, which divides a vector by its root
    mean square, and near zero that blows tiny vectors up to full size' - was 'divides a vector by its
    length' (a factor sqrt(576) = 24 off). Layer 0's norm on the default prompt's embeddings is
    x / rms(x) * gain, not x / |x| * gain; at 0.1 x the normalised vectors keep more than 90% of their
    length at x (the control: 0.1 x itself has 10%)."""
    page = " ".join(real_client.get("/why").text.split())
    assert "divides a vector by its length" not in page
    assert "an RMSNorm, which divides a vector by its root mean square" in page
    model = smollm2.model
    with torch.no_grad():
        x = model.embed(_analysis(smollm2).ids).double()
        norm = model.blocks[0].attn_norm
        gain = norm.weight.double()
        out = norm(x.float()).double()
        rms = x.pow(2).mean(-1, keepdim=True).sqrt()
        assert torch.allclose(out, x / rms * gain, rtol=1e-3, atol=1e-4)
        assert not torch.allclose(out, x / x.norm(dim=-1, keepdim=True) * gain, rtol=0.5)
        tiny = norm((0.1 * x).float()).double()
        assert float((tiny.norm(dim=-1) / out.norm(dim=-1)).min()) > 0.9


def test_a_completeness_more_than_5_percent_off_is_too_few_steps_not_a_bumpier_path(smollm2):
    """Completeness line (review): on the example '1, 2, 3, 4,' the ratio is 1.10 at 32 steps and the
    page said 'the path is bumpy here'. Measured: its shares miss the change by 0.010, less than the
    default prompt's 0.029, whose ratio is within 5% (the change to split is 0.097 there, 1.26 here);
    more steps close it (1.006 at 128). The page now says the shares miss the change by so much and
    that 32 steps are too few for this path."""
    def run(text, steps=A.DEFAULT_STEPS):
        analysis = _analysis(smollm2, text)
        return A.saliency(smollm2.model, analysis.ids.tolist(), int(analysis.next_logits.argmax()), steps=steps)

    def miss(s):
        return abs(float(s.integrated_gradients.sum()) - (s.f_input - s.f_baseline))

    counting, default = run("1, 2, 3, 4,"), run(PROMPT)
    assert abs(counting.completeness - 1) > 0.05 and abs(default.completeness - 1) <= 0.05
    assert miss(counting) < miss(default)                       # not a bumpier path than one that passes
    assert abs(run("1, 2, 3, 4,", steps=128).completeness - 1) < 0.01   # more steps close the gap


@pytest.mark.browser
def test_the_completeness_line_says_how_much_the_shares_miss(page):
    """The page's words for a ratio more than 5% off 1: the miss, computed, and too few steps (was
    'the path is bumpy here')."""
    page.goto("/why?text=1%2C%202%2C%203%2C%204%2C")
    line = page.locator("#completeness")
    expect(line).to_contain_text("with 32 steps", timeout=300_000)
    text = line.inner_text()
    assert "bumpy" not in text
    assert "more than 5% off 1: the shares miss the change by 0.010; 32 steps are too few for this path" in text, text


@pytest.mark.browser
def test_the_check_says_which_parts_react_from_the_parts_layers(page):
    """The check's 'The rest ... is the later layers reacting' and the caveat's 'the final norm and
    the later layers react' named later layers whatever was switched off; the page now names what
    comes after the parts, from their layers (the API's check.reacting)."""
    page.goto("/why?text=The+capital+of+France+is")
    why, cause = page.locator("#check-why"), page.locator("#cav-cause")
    expect(why).to_contain_text("is the parts after them reacting (layer 23's MLP, layers 24–27 and the heads of "
                                "layers 28 and 29)", timeout=60_000)
    expect(cause).to_contain_text("because the final norm and the 54 heads and 5 MLPs after them react.")
    assert "later layers" not in why.inner_text() + cause.inner_text()
    # ' Rome' against ' Paris': MLP 29, L29H0 and MLP 28 off; only layer 29's other heads are left after them.
    page.goto("/why?text=The+Eiffel+Tower+is+in+the+city+of&target=7268&contrast=7042")
    expect(why).to_contain_text("is the parts after them reacting (layer 29's 8 other heads)", timeout=60_000)

    # The API's check with one part (the page asks for three): a head of the last layer, then the last MLP.
    def one_part(route):
        body = json.loads(route.request.post_data or "{}")
        route.continue_(post_data=json.dumps({**body, "check_parts": 1}))
    page.goto("/why?text=The+opposite+of+hot+is&target=4011")
    expect(why).not_to_be_empty(timeout=60_000)
    page.route("**/api/attribution", one_part)
    page.select_option("#contrast", "3122")                 # ' cold' against ' cool': L29H7
    expect(page.locator("#check-parts")).to_contain_text("1 strongest pushers: L29H7 (", timeout=60_000)
    expect(why).to_contain_text("is the part after them reacting (layer 29's MLP): with these parts gone it reads")
    expect(cause).to_contain_text("because the final norm and layer 29's MLP react.")
    page.select_option("#contrast", "")                     # ' cold' alone: MLP 29
    expect(page.locator("#check-parts")).to_contain_text("1 strongest pushers: MLP 29 (", timeout=60_000)
    expect(why).to_contain_text("No part still on comes after them, so nothing else reacts: the real change is the "
                                "norm's.")
    table = [page.locator(f"[data-check={key}]").inner_text() for key in ("norm_only", "actual")]
    assert table[0] == table[1], table
    expect(cause).to_contain_text("because the final norm reacts (no part still on comes after them).")
