"""/api/embeddings: word map, nearest tokens, analogies and sentences, with their limits."""

import pytest

from app.schemas.embeddings import MAX_SENTENCE_CHARS, MAX_SENTENCES, MAX_WORD_CHARS, MAX_WORDS

MAP = "/api/embeddings/map"
TINY_WORDS = ["the", "an", "bank", "tab", "hat", "bat"]   # the tiny model's vocabulary is mostly bytes


def detail(response, status=422) -> str:
    assert response.status_code == status, response.text
    return response.json()["detail"]


def test_sets_list_the_ready_made_sets_and_the_limits(tiny_client):
    data = tiny_client.get("/api/embeddings/sets").json()
    names = [s["name"] for s in data["sets"]]
    assert {"animals", "young", "countries", "capitals", "numbers", "colours"} <= set(names)
    assert data["limits"]["max_words"] == MAX_WORDS and data["limits"]["max_sentences"] == MAX_SENTENCES
    assert data["n_layers"] == 2 and data["default_layer"] == 1


@pytest.mark.parametrize("method,dims", [("pca", 2), ("pca", 3), ("tsne", 2)])
def test_the_map_is_the_same_for_the_same_request(tiny_client, method, dims):
    body = {"sets": [], "words": TINY_WORDS, "method": method, "dims": dims, "word_like": False}
    first, second = tiny_client.post(MAP, json=body), tiny_client.post(MAP, json=body)
    assert first.status_code == 200, first.text
    assert first.json() == second.json()
    points = first.json()["points"]
    assert [p["word"] for p in points] == TINY_WORDS and all(len(p["coords"]) == dims for p in points)


def test_the_map_lists_each_words_tokens_and_neighbours_without_the_word_itself(tiny_client):
    data = tiny_client.post(MAP, json={"sets": [], "words": TINY_WORDS, "neighbours": 5, "word_like": False}).json()
    the = data["points"][0]
    assert [t["text"] for t in the["tokens"]] == [" the"]
    assert len(the["neighbours"]) == 5 and " the" not in [n["text"] for n in the["neighbours"]]
    assert data["neighbours_from"] == "vocabulary" and data["groups"] == {"yours": "Your words"}
    assert data["explained"] and len(data["explained"]) == 2


def test_contextual_maps_compare_the_words_on_the_map(tiny_client):
    data = tiny_client.post(MAP, json={"sets": [], "words": TINY_WORDS, "mode": "contextual", "layer": 2,
                                       "neighbours": 3}).json()
    assert data["neighbours_from"] == "map" and data["layer"] == 2
    for p in data["points"]:
        names = [n["text"] for n in p["neighbours"]]
        assert len(names) == 3 and p["word"] not in names and set(names) <= set(TINY_WORDS)


def test_paired_sets_come_with_their_pairs(tiny_client):
    data = tiny_client.post(MAP, json={"sets": ["animals", "young"]}).json()
    words = [p["word"] for p in data["points"]]
    assert len(data["pairs"]) == 12
    assert (words.index("dog"), words.index("puppy")) in [tuple(p) for p in data["pairs"]]
    assert -1 <= data["pairs_parallel"] <= 1
    assert tiny_client.post(MAP, json={"sets": ["animals"]}).json()["pairs_parallel"] is None


@pytest.mark.parametrize("body,says", [
    ({"sets": [], "words": ["w"] * (MAX_WORDS + 1)}, f"at most {MAX_WORDS} items"),
    ({"sets": ["animals", "young", "countries", "capitals", "numbers", "colours"]}, f"the limit is {MAX_WORDS}"),
    ({"sets": [], "words": ["x" * (MAX_WORD_CHARS + 1), "a", "b"]}, f"at most {MAX_WORD_CHARS}"),
    ({"sets": [], "words": ["the", "  ", "bank"]}, "words.1"),
    ({"sets": [], "words": ["the", "an"]}, "at least 3"),
    ({"sets": [], "words": TINY_WORDS[:4], "method": "umap"}, "method: umap needs at least 5"),
    ({"sets": ["pets"]}, "sets.0"),
    ({"layer": 3, "mode": "contextual"}, "this model has 2 layers"),
    ({"layer": -1}, "layer"),
    ({"dims": 4}, "dims"),
    ({"neighbours": 21}, "neighbours"),
    ({"colour": "red"}, "colour"),
])
def test_map_requests_over_a_limit_get_a_422_that_says_what_to_change(tiny_client, body, says):
    assert says in detail(tiny_client.post(MAP, json=body))


def test_neighbours_exclude_the_word_and_keep_to_word_like_tokens(tiny_client):
    data = tiny_client.post("/api/embeddings/neighbours", json={"word": "bank", "k": 3}).json()
    assert data["tokens"] == [{"id": data["tokens"][0]["id"], "text": " bank"}]
    assert data["neighbours"] and all(n["text"].startswith(" ") for n in data["neighbours"])
    assert " bank" not in [n["text"] for n in data["neighbours"]]


def test_analogy_results_exclude_their_inputs_and_rank_the_expected_answer(tiny_client):
    body = {"a": "the", "b": "an", "c": "bank", "expected": "hat", "k": 20, "word_like": False}
    data = tiny_client.post("/api/embeddings/analogy", json=body).json()
    inputs = {t["id"] for w in ("a", "b", "c") for t in data[w]["tokens"]}
    assert not inputs & {r["id"] for r in data["results"]}
    assert [r["rank"] for r in data["results"]] == list(range(1, 21))
    assert data["expected"]["word"] == "hat" and data["expected"]["rank"] >= 1
    assert data["correct"] == (data["expected"]["rank"] == 1) and data["answer"] == "hat"
    assert data["offsets"]["first"] == "an → the" and data["offsets"]["second"] == "bank → hat"
    roles = [p["role"] for p in data["points"]]
    assert roles[:5] == ["b", "a", "c", "target", "answer"]


def test_analogy_asks_for_every_word(tiny_client):
    assert "c: Field required" in detail(tiny_client.post("/api/embeddings/analogy", json={"a": "x", "b": "y"}))


def test_sentences_give_a_symmetric_similarity_matrix_and_a_map(tiny_client, tiny_engine):
    sentences = ["the bank", "a bat", "the hat"]
    data = tiny_client.post("/api/embeddings/sentences", json={"sentences": sentences}).json()
    sim = data["similarity"]
    assert len(sim) == 3 and all(sim[i][j] == sim[j][i] for i in range(3) for j in range(3))
    assert all(sim[i][i] == pytest.approx(1.0) for i in range(3))
    assert [s["n_tokens"] for s in data["sentences"]] == [len(tiny_engine.tokenizer.encode(s)) for s in sentences]
    assert data["layer"] == 1 and len(data["explained"]) == 2


@pytest.mark.parametrize("body,says", [
    ({"sentences": ["only one"]}, "at least 2"),
    ({"sentences": ["s"] * (MAX_SENTENCES + 1)}, f"at most {MAX_SENTENCES}"),
    ({"sentences": ["fine", "x" * (MAX_SENTENCE_CHARS + 1)]}, f"sentences.1: is {MAX_SENTENCE_CHARS + 1} characters"),
    ({"sentences": ["fine", "   "]}, "sentences.1"),
    ({"sentences": ["a", "b"], "layer": 9}, "this model has 2 layers"),
])
def test_sentence_requests_over_a_limit_get_a_422(tiny_client, body, says):
    assert says in detail(tiny_client.post("/api/embeddings/sentences", json=body))


# --- the real model ---------------------------------------------------------------------------


@pytest.mark.real
def test_the_nearest_tokens_of_dog_include_another_animal(real_client):
    data = real_client.post("/api/embeddings/neighbours", json={"word": "dog", "k": 10}).json()
    assert data["tokens"][0]["text"] == " dog"
    assert {n["text"] for n in data["neighbours"]} & {" cat", " puppy", " horse", " cats", " canine"}


@pytest.mark.real
def test_the_model_answers_puppy_minus_dog_plus_cat_with_kitten(real_client):
    data = real_client.post("/api/embeddings/analogy",
                            json={"a": "puppy", "b": "dog", "c": "cat", "expected": "kitten"}).json()
    assert data["correct"] is True and data["results"][0]["text"] == " kitten"
    assert not {" puppy", " dog", " cat"} & {r["text"] for r in data["results"]}
    assert data["offsets"]["cosine"] > 0.3


def test_exact_texts_are_read_as_given_and_counted_with_the_words(tiny_client, tiny_engine):
    body = {"sets": [], "words": ["the"], "texts": ["the", " the", " an", " bank"], "neighbours": 0, "word_like": False}
    data = tiny_client.post(MAP, json=body).json()
    # "the" the word is read as " the", so the exact text " the" is the same point; "the" without a space is not.
    encode = tiny_engine.tokenizer.encode
    assert [(p["word"], p["exact"], [t["id"] for t in p["tokens"]]) for p in data["points"]] == [
        ("the", False, encode(" the")), ("the", True, encode("the")), (" an", True, encode(" an")),
        (" bank", True, encode(" bank"))]
    assert encode("the") != encode(" the")


@pytest.mark.parametrize("texts,says", [([" "], "texts.0: is only spaces"),
                                        (["x" * (MAX_WORD_CHARS + 2)], "texts.0: is 42 characters")])
def test_exact_texts_that_are_empty_or_too_long_get_a_422(tiny_client, texts, says):
    assert says in detail(tiny_client.post(MAP, json={"sets": [], "words": TINY_WORDS, "texts": texts}))


def test_the_built_in_analogies_are_served(tiny_client):
    examples = tiny_client.get("/api/embeddings/sets").json()["analogies"]
    assert examples[0] == {"a": "puppy", "b": "dog", "c": "cat", "expected": "kitten"} and len(examples) >= 4


def test_first_position_has_one_row_per_layer(tiny_client, tiny_engine):
    data = tiny_client.get("/api/embeddings/first-position").json()
    assert [r["layer"] for r in data["layers"]] == list(range(tiny_engine.cfg.n_layers + 1))
    # At layer 0 a word read alone and after the prefix is the same embedding row.
    assert data["layers"][0]["alone_cosine"] == pytest.approx(data["layers"][0]["prefixed_cosine"], abs=1e-4)
    assert all(r["length_ratio"] > 0 for r in data["layers"])
