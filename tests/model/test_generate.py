import pytest
import torch

from model.analysis import analyse
from model.generate import generate
from model.tiny import tiny_model


@pytest.fixture(scope="module")
def tiny():
    return tiny_model(seed=0)


def greedy_without_cache(model, ids, n):
    """The slow, obviously right way: rerun the whole sequence for every new token."""
    ids = list(ids)
    out = []
    with torch.inference_mode():
        for _ in range(n):
            out.append(int(model(torch.tensor(ids))[-1].argmax()))
            ids.append(out[-1])
    return out


def test_cached_generation_equals_recomputing_the_whole_sequence(tiny):
    model, tokenizer = tiny
    ids = tokenizer.encode("the bank of")
    got = [s.id for s in generate(model, ids, 12, temperature=0)]
    assert got == greedy_without_cache(model, ids, 12)


def test_starting_from_an_analysis_reuses_its_cache_without_changing_it(tiny):
    model, tokenizer = tiny
    analysis = analyse(model, tokenizer, "the bank of")
    before = analysis.kv_cache.length
    got = [s.id for s in generate(model, analysis.ids.tolist(), 8, temperature=0,
                                  cache=analysis.kv_cache, next_logits=analysis.next_logits)]
    assert got == [s.id for s in generate(model, analysis.ids.tolist(), 8, temperature=0)]
    assert analysis.kv_cache.length == before


def test_same_seed_same_sample_and_other_seeds_differ(tiny):
    model, tokenizer = tiny
    ids = tokenizer.encode("the bank")
    run = lambda seed: [s.id for s in generate(model, ids, 10, temperature=1.5, top_k=0, seed=seed)]
    assert run(42) == run(42)
    assert len({tuple(run(s)) for s in range(5)}) > 1


def test_temperature_zero_is_greedy_whatever_the_seed(tiny):
    model, tokenizer = tiny
    ids = tokenizer.encode("the bank")
    greedy = greedy_without_cache(model, ids, 6)
    for seed in (0, 1, 2):
        assert [s.id for s in generate(model, ids, 6, temperature=0, top_k=0, seed=seed)] == greedy


def test_every_step_is_drawn_from_its_allowed_tokens(tiny):
    model, tokenizer = tiny
    for step in generate(model, tokenizer.encode("the"), 10, temperature=1.0, top_k=3, seed=5):
        assert bool(step.dist.allowed[step.id]) and int(step.dist.allowed.sum()) == 3


def test_generation_stops_after_a_stop_token(tiny):
    model, tokenizer = tiny
    ids = tokenizer.encode("the")
    first = [s.id for s in generate(model, ids, 5, temperature=0)]
    stop = first[2]
    got = [s.id for s in generate(model, ids, 5, temperature=0, stop_ids={stop})]
    assert got == first[:first.index(stop) + 1]


@pytest.mark.real
@pytest.mark.reference
def test_greedy_generation_matches_the_reference_implementation(real_engine, hf_reference):
    ids = real_engine.tokenizer.encode("The capital of France is")
    ours = [s.id for s in generate(real_engine.model, ids, 20, temperature=0)]
    with torch.inference_mode():
        theirs = hf_reference.generate(torch.tensor([ids]), max_new_tokens=20, do_sample=False,
                                       attention_mask=torch.ones(1, len(ids), dtype=torch.long))
    assert ours == theirs[0, len(ids):].tolist()
    assert real_engine.tokenizer.decode(ours[:1]) == " Paris"


def test_text_stream_holds_back_the_pieces_of_a_character_until_it_is_whole():
    from model.generate import TextStream

    stream = TextStream()
    pieces = [stream.push(bytes([b])) for b in "a猫🙂".encode()]
    assert pieces == ["a", "", "", "猫", "", "", "", "🙂"]
    assert stream.push(b"\xf0\x9f") == "" and stream.flush() == "\ufffd"  # cut off mid-character
    assert TextStream().push(b"\xff!") == "\ufffd!"                        # invalid bytes, as decode shows them
