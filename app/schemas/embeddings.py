"""Requests and responses of /api/embeddings, and the limits that keep each request small."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field

from app.schemas.common import BeyondLimit, StrictModel
from model.embeddings import WORD_SETS

# Limits (a request over one gets a 422 naming the field). Each word or sentence is one
# forward pass in contextual mode, so these bound the work one request can ask for.
MAX_WORDS = 60              # words on one map, ready-made sets and own words together
MIN_MAP_WORDS = 3           # fewer points make no picture
MAX_WORD_CHARS = 40
MAX_SENTENCES = 12
MIN_SENTENCES = 2
MAX_SENTENCE_CHARS = 300
MAX_NEIGHBOURS = 20

SetName = Literal[tuple(WORD_SETS)]  # type: ignore[valid-type]
Method = Literal["pca", "tsne", "umap"]
Mode = Literal["static", "contextual"]
Pooling = Literal["mean", "last"]


def _word(value: str) -> str:
    word = value.strip()
    if not word:
        raise ValueError("is empty; type a word such as 'dog'")
    if len(word) > MAX_WORD_CHARS:
        raise BeyondLimit(f"is {len(word)} characters long; a word may have at most {MAX_WORD_CHARS}",
                          limit=MAX_WORD_CHARS, actual=len(word))
    return word


def _sentence(value: str) -> str:
    if not value.strip():
        raise ValueError("is empty; type a sentence or remove the line")
    if len(value) > MAX_SENTENCE_CHARS:
        raise BeyondLimit(f"is {len(value)} characters long; shorten it to at most {MAX_SENTENCE_CHARS}",
                          limit=MAX_SENTENCE_CHARS, actual=len(value))
    return value


Word = Annotated[str, AfterValidator(_word), Field(description="A word, typed without the leading space "
                                                               "(the server adds it: 'dog' is read as ' dog').")]


def _exact(value: str) -> str:
    if not value.strip():
        raise ValueError("is only spaces; give a word, with or without one leading space, such as ' capital'")
    if len(value) > MAX_WORD_CHARS + 1:
        raise BeyondLimit(f"is {len(value)} characters long; a text may have at most {MAX_WORD_CHARS + 1}",
                          limit=MAX_WORD_CHARS + 1, actual=len(value))
    return value


Exact = Annotated[str, AfterValidator(_exact), Field(description="A piece of text read exactly as given: no space "
                                                                 "added or removed ('The' and ' The' are different "
                                                                 "tokens).")]
Sentence = Annotated[str, AfterValidator(_sentence)]
Layer = Annotated[int | None, Field(None, ge=0, description="Residual-stream layer: 0 = the input embedding, "
                                    "i = after block i. Default: the middle layer.")]


# --- shared pieces ----------------------------------------------------------------------------


class Piece(BaseModel):
    id: int
    text: str = Field(..., description="The token's text, leading space included.")


class NeighbourOut(BaseModel):
    id: int | None = Field(None, description="Token id (None when the neighbour is a word of the map).")
    text: str
    cosine: float = Field(..., description="Cosine similarity, from -1 (opposite) to 1 (same direction).")
    bytes: str | None = Field(None, description="A token's bytes in hex, e.g. 'e6 88' (None for a word of the map): "
                              "a piece of a character has no text of its own (`text` shows U+FFFD).")
    partial: bool = Field(False, description="The token is a piece of a UTF-8 character (see `bytes`).")


class WordOut(BaseModel):
    word: str
    tokens: list[Piece] = Field(..., description="The tokens of ' ' + word.")


# --- ready-made sets --------------------------------------------------------------------------


class WordSetOut(BaseModel):
    name: str
    label: str
    words: list[str]
    pairs_with: str | None = Field(None, description="words[i] pairs with that set's words[i] (dog -> puppy).")


class AnalogyExample(BaseModel):
    a: str
    b: str
    c: str
    expected: str


class SetsOut(BaseModel):
    sets: list[WordSetOut]
    analogies: list[AnalogyExample] = Field(..., description="The page's ready-made analogies (a - b + c ≈ expected); "
                                                             "some work on SmolLM2 and some do not.")
    limits: dict[str, int]
    context_prefix: str = Field(..., description="Text read before a word in contextual mode.")
    n_layers: int
    default_layer: int


# --- the first position ----------------------------------------------------------------------


class FirstPositionLayer(BaseModel):
    layer: int = Field(..., description="0 = the input embedding, l = after block l.")
    length_ratio: float = Field(..., description="How many times longer the first position's vector is than the "
                                                 "other positions' (mean over the texts '<prefix> <word>').")
    alone_cosine: float = Field(..., description="Mean cosine between the words' vectors when each is read alone, "
                                                 "at position 0.")
    prefixed_cosine: float = Field(..., description="The same, each word read after the prefix (as the map does).")


class FirstPositionOut(BaseModel):
    words: list[str] = Field(..., description="The words measured.")
    context_prefix: str
    layers: list[FirstPositionLayer] = Field(..., description="n_layers + 1 entries, layer 0 first.")


# --- word map ---------------------------------------------------------------------------------


class MapIn(StrictModel):
    sets: list[SetName] = Field(["animals", "countries", "numbers", "colours"],
                                description="Ready-made sets to place on the map.")
    words: list[Word] = Field([], max_length=MAX_WORDS,
                              description=f"Your own words (sets and words together: at most {MAX_WORDS}).")
    texts: list[Exact] = Field([], max_length=MAX_WORDS,
                               description="Pieces of text placed as typed, with no space added: a prompt's own "
                                           "words as its tokens have them ('The', ' capital'). Counted with `words`.")
    method: Method = Field("pca", description="pca (linear, default), tsne or umap.")
    dims: Literal[2, 3] = 2
    mode: Mode = Field("static", description="static: input embedding; contextual: hidden state at `layer`.")
    layer: Layer = None
    pooling: Pooling = Field("mean", description="How a word of several tokens gets one vector: the mean of "
                                                 "its tokens' vectors, or the last token's.")
    neighbours: int = Field(8, ge=0, le=MAX_NEIGHBOURS, description="Nearest tokens listed per word.")
    word_like: bool = Field(True, description="List only word-like neighbours (a space, then letters).")


class MapPiece(Piece):
    bytes: str = Field(..., description="The token's bytes in hex, e.g. 'e6 88'.")
    partial: bool = Field(..., description="The token is a piece of a UTF-8 character: `text` shows U+FFFD, "
                          "`bytes` what it is.")


class MapPoint(WordOut):
    tokens: list[MapPiece] = Field(..., description="The tokens of ' ' + word, with their bytes.")
    exact: bool = Field(False, description="True for an entry of `texts`: `word` is then the text as given, "
                                          "leading space included.")
    group: str = Field(..., description="Name of the set the word came from, or 'yours'.")
    coords: list[float] = Field(..., description="Position on the map (2 or 3 numbers).")
    neighbours: list[NeighbourOut]


class MapOut(BaseModel):
    points: list[MapPoint]
    groups: dict[str, str] = Field(..., description="Set name -> label, in the order the points use them.")
    pairs: list[tuple[int, int]] = Field(..., description="Point indices of paired words (dog -> puppy).")
    pairs_parallel: float | None = Field(
        None, description="Mean cosine between the pairs' offsets (dog → puppy vs cat → kitten, ...) over all "
                          "d numbers: 1 = every offset points the same way. None with < 2 pairs.")
    pairs_random: float | None = Field(
        None, description="The control for pairs_parallel: the same first words, each paired instead with a word-like "
                          "token matched to its partner in how common it is (token id: BPE numbers its merges, most "
                          "frequent first) and in vector length (the 2,000 word-like tokens nearest to the partner "
                          "in both, the map's words left out), one drawn per pair, averaged over 100 seeded draws "
                          "(input embeddings; None in contextual mode or with < 2 pairs). Not 0 in SmolLM2 "
                          "(countries -> matched partners: about 0.22).")
    method: Method
    dims: int
    mode: Mode
    layer: int
    pooling: Pooling
    explained: list[float] | None = Field(None, description="PCA: share of the spread along each axis.")
    neighbours_from: Literal["vocabulary", "map"] = Field(
        ..., description="vocabulary: nearest of all tokens' input embeddings; map: nearest words on this "
                         "map (contextual mode, where only the map's words have hidden states).")


# --- nearest tokens ---------------------------------------------------------------------------


class NeighboursIn(StrictModel):
    word: Word
    k: int = Field(10, ge=1, le=MAX_NEIGHBOURS)
    word_like: bool = True


class NeighboursOut(WordOut):
    neighbours: list[NeighbourOut]


# --- analogies --------------------------------------------------------------------------------


class AnalogyIn(StrictModel):
    a: Word = Field(..., description="a in a - b + c, e.g. 'puppy'.", examples=["puppy"])
    b: Word = Field(..., description="b, e.g. 'dog'.", examples=["dog"])
    c: Word = Field(..., description="c, e.g. 'cat'.", examples=["cat"])
    expected: Word | None = Field(None, description="The answer you expect (e.g. 'kitten'): its rank is reported.")
    k: int = Field(10, ge=1, le=MAX_NEIGHBOURS)
    word_like: bool = True


class RankedOut(NeighbourOut):
    rank: int


class ExpectedOut(WordOut):
    rank: int = Field(..., description="Its place among the results (1 = the model's answer).")
    cosine: float


class OffsetsOut(BaseModel):
    first: str = Field(..., description="e.g. 'dog → puppy' (a - b).")
    second: str = Field(..., description="e.g. 'cat → kitten' (answer - c).")
    cosine: float = Field(..., description="Cosine between the two offsets: 1 = the same direction.")
    length_first: float
    length_second: float
    random_cosine: float = Field(..., description="The control: mean cosine of a - b with r - c over the "
                                 "`random_count` word-like tokens r matched to the answer in how common it is "
                                 "(token id: BPE numbers its merges, most frequent first; a word of several tokens "
                                 "by its rarest) and in vector length: the nearest to it in both, inputs and "
                                 "answer left out. Not 0 in SmolLM2: dog -> puppy and cat -> a token matched to "
                                 "kitten score about 0.46.")
    random_beaten: float = Field(..., description="Share of those matched tokens whose offset from c has a lower "
                                 "cosine with a - b than the answer's offset has.")
    random_count: int = Field(..., description="How many matched word-like tokens the control read: 2,000 (fewer "
                              "only in a vocabulary with fewer word-like tokens).")


class AnalogyPoint(BaseModel):
    label: str
    role: Literal["a", "b", "c", "target", "answer", "result"]
    x: float
    y: float


class AnalogyOut(BaseModel):
    a: WordOut
    b: WordOut
    c: WordOut
    results: list[RankedOut] = Field(..., description="Tokens nearest a - b + c, the inputs' tokens excluded.")
    with_inputs: list[RankedOut] = Field(..., description="The same, inputs not excluded.")
    expected: ExpectedOut | None
    answer: str = Field(..., description="The word the offsets compare: `expected` if given, else the top result.")
    correct: bool | None = Field(None, description="Whether `expected` is the top result (None without one).")
    offsets: OffsetsOut
    points: list[AnalogyPoint] = Field(..., description="2D PCA of the raw vectors: b, a, target, c form an "
                                                        "exact parallelogram (a linear map keeps it one).")


# --- sentences --------------------------------------------------------------------------------


class SentencesIn(StrictModel):
    sentences: list[Sentence] = Field(..., min_length=MIN_SENTENCES, max_length=MAX_SENTENCES,
                                      description=f"{MIN_SENTENCES} to {MAX_SENTENCES} sentences, "
                                                  f"each at most {MAX_SENTENCE_CHARS} characters.")
    layer: Layer = None


class SentenceOut(BaseModel):
    text: str
    n_tokens: int
    x: float
    y: float


class SentencesOut(BaseModel):
    sentences: list[SentenceOut]
    similarity: list[list[float]] = Field(..., description="Cosine similarity of every pair of sentence vectors.")
    layer: int
    explained: list[float]
