"""Pages quote the running model's own numbers (layers, heads, vocabulary, vector size), so
their explanations stay true for another GGUF given in TT_MODEL_PATH. The tiny test model has
2 layers of 4 query heads sharing 2 key/value heads, 32-wide vectors, 268 tokens."""

import re


def text_of(client, path: str) -> str:
    """The page's prose: without its scripts (a server-drawn first picture's inline JSON answer), its
    stylesheets (written into the head) and the coordinates and images of its SVG drawings, which hold
    numbers that are not sentences."""
    html = re.sub(r"<(script|style)\b.*?</\1>", "", client.get(path).text, flags=re.S)
    html = re.sub(r"<svg\b.*?</svg>", "", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


def test_attention_page_counts_the_tiny_models_heads(tiny_client):
    text = text_of(tiny_client, "/attention")
    assert "2 layers with 4 heads each: 8 heads" in text
    assert "All 8 heads at once" in text
    assert "4 questions, 2 sets of answers" in text
    assert "use only 2 key/value heads, 2 query heads each" in text
    assert "270" not in text and "30 layers" not in text


def test_vocabulary_and_vector_size_are_the_models(tiny_client):
    embeddings = text_of(tiny_client, "/embeddings")
    assert "268 rows, one per token of the vocabulary, each a list of 32 numbers" in embeddings
    assert "49,152" not in embeddings and "576" not in embeddings
    assert 'max="2"' in tiny_client.get("/embeddings").text  # layer sliders end at the last layer
    for path in ("/predict", "/tokens", "/network"):
        assert "49,152" not in text_of(tiny_client, path), path
    assert 'data-vocab-size="268"' in tiny_client.get("/predict").text


def test_the_real_model_reads_with_thousands_separators(real_client):
    assert "49,152 rows" in text_of(real_client, "/embeddings")
    assert "All 270 heads at once" in text_of(real_client, "/attention")


def test_a_page_says_when_another_model_runs_than_the_one_its_sentences_were_checked_on(tiny_client, real_client):
    """Pinned sentences (docs/CLAIMS.md) describe SmolLM2-135M-Instruct itself; with another model the page
    still shows them, so it says which model runs and that those were checked on SmolLM2 only."""
    for path in ("/", "/chat", "/why", "/attention"):
        assert "not SmolLM2-135M-Instruct, the model these pages were written about" in text_of(tiny_client, path)
        assert "other-model" not in real_client.get(path).text, path


def test_only_the_default_gguf_counts_as_smollm2(real_engine, tiny_engine, tmp_path):
    from pathlib import Path

    from app.engine import Engine
    from app.settings import Settings

    assert real_engine.runs_smollm2 and not tiny_engine.runs_smollm2
    same = Engine(real_engine.model, real_engine.tokenizer, Settings(model_path=Path(real_engine.source)),
                  source=real_engine.source)
    assert same.runs_smollm2  # the same file named in TT_MODEL_PATH: its SHA-256 is the default's
    other = tmp_path / "other.gguf"
    other.write_bytes(b"GGUF" + bytes(64))
    assert not Engine(tiny_engine.model, tiny_engine.tokenizer, Settings(model_path=other),
                      source=str(other)).runs_smollm2
