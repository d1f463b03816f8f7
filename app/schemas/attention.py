"""Requests and responses of the attention chapter."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from app.schemas.common import StrictModel, TextIn, TokenOut
from app.schemas.predict import ContinuedIn, HeadIn

MAX_WORD_CHARS = 40
MIN_GROUPS, MAX_GROUPS = 2, 4
MAX_GROUP_SENTENCES = 6
MAX_CUES = 12
MAX_ABLATE = 270


class AttentionIn(TextIn, ContinuedIn):
    layer: int = Field(..., description="Layer, 0-based (0..n_layers-1; 0..29 for SmolLM2-135M).",
                       examples=[3])
    head: int = Field(..., description="Query head, 0-based (0..n_heads-1; 0..8 for SmolLM2-135M).",
                      examples=[2])
    average: bool = Field(False, description="Answer the mean of the layer's n_heads heads' exact weights "
                          "instead of head `head` (which must still be valid).")


class AttentionOut(BaseModel):
    tokens: list[TokenOut]
    layer: int
    head: int
    average: bool = Field(False, description="`weights` are the mean of the layer's heads, not head `head`'s.")
    kv_head: int | None = Field(..., description="The key/value head this query head reads (grouped-query "
                                "attention); null for the layer's average.")
    shares_kv_with: list[int] = Field([], description="The other query heads of the layer that read the same "
                                      "key/value head (empty for the layer's average).")
    n_layers: int = Field(..., description="The model's layers and heads, so a client needs no other call.")
    n_heads: int
    n_kv_heads: int
    weights: list[list[float]] = Field(..., description="n x n attention weights: row = query position, "
                                       "column = key position; each row sums to 1, zero above the diagonal.")


class AllHeadsOut(BaseModel):
    tokens: list[TokenOut]
    n_layers: int
    n_heads: int
    n_kv_heads: int
    kv_head_of: list[int] = Field(..., description="For each query head, the key/value head it reads.")
    encoding: str = Field("uint8-lower-triangle-base64", description="How `data` is packed.")
    layout: str = Field(..., description="Where weight (layer, head, query i, key j) lives in the decoded bytes.")
    scale: float = Field(..., description="Multiply a byte by this to get the weight (1/255).")
    max_error: float = Field(..., description="Largest difference between a decoded and the exact weight.")
    data: str = Field(..., description="Base64 of one byte per weight on or below the diagonal, every head.")
    layer_averages: str = Field(..., description="Each layer's mean of its heads' exact weights, packed as "
                                "`data` with one pattern per layer: byte layer * n(n+1)/2 + i(i+1)/2 + j.")
    first_token_share: float | None = Field(..., description="The weight queries 1..n-1 put on the first "
                                            "token, averaged over every head (exact; null for one token).")


# Request bodies offered in /docs ("Try it out" sends the one picked): each works as it is.
ATTENTION_EXAMPLES = {
    "head": {"summary": "One head: where each token of a sentence looks",
             "value": {"text": "I sat on the river bank", "layer": 3, "head": 2}},
    "france": {"summary": "A head where ' is' looks back at ' France'",
               "value": {"text": "The capital of France is", "layer": 23, "head": 4}},
}
ALL_HEADS_EXAMPLES = {
    "all": {"summary": "Every head of every layer, packed", "value": {"text": "I sat on the river bank"}},
}


# --- the fair sense test ----------------------------------------------------------------------

Group = Annotated[list[str], Field(min_length=1, max_length=MAX_GROUP_SENTENCES)]
Cues = Annotated[list[str], Field(min_length=1, max_length=MAX_CUES)]


class SensesIn(StrictModel):
    word: str = Field(..., min_length=1, max_length=MAX_WORD_CHARS,
                      description="The word to follow; its first whole-word occurrence (any case) in each sentence.",
                      examples=["bank"])
    groups: list[Group] = Field(..., min_length=MIN_GROUPS, max_length=MAX_GROUPS,
                                description=f"{MIN_GROUPS} to {MAX_GROUPS} groups of 1 to {MAX_GROUP_SENTENCES} "
                                            "sentences; the sentences of a group use the word in one sense.",
                                examples=[[["I sat on the river bank", "We fished from the grassy bank"],
                                           ["I paid the money into the bank", "She opened an account at the bank"]]])
    ablate: list[HeadIn] = Field([], max_length=MAX_ABLATE,
                                 description="Attention heads to switch off (output zeroed, in every sentence and "
                                             "position) before the word's vectors are read; empty = the model as it is.")


class OccurrenceOut(BaseModel):
    group: int
    sentence: int = Field(..., description="Index of the sentence within its group.")
    token_index: int = Field(..., description="Token position of the word's first occurrence (its last token).")


class SenseLayerOut(BaseModel):
    layer: int = Field(..., description="0 = the input embedding; l = after l blocks (the page's 'after layer "
                                        "l-1', layers counted from 0).")
    within: float | None = Field(..., description="Mean cosine between the word's vectors in different sentences "
                                                  "of the same group; null when no group has two sentences.")
    across: float | None = Field(..., description="Mean cosine between the word's vectors in sentences of "
                                                  "different groups.")


class SensesOut(BaseModel):
    word: str
    ablated: list[HeadIn] = Field([], description="The heads that were switched off (distinct, sorted).")
    occurrences: list[OccurrenceOut] = Field(..., description="Where the word was read, group by group.")
    layers: list[SenseLayerOut] = Field(..., description="n_layers + 1 entries, from the input embedding to the "
                                                         "last block. The word's vector in a sentence is the "
                                                         "residual stream at its token.")


class SenseHeadsIn(SensesIn):
    cues: list[Cues] = Field(..., min_length=MIN_GROUPS, max_length=MAX_GROUPS,
                             description="For each group, the words that give the word its sense there (whole "
                                         "words, any case); each sentence needs one of them before the word.",
                             examples=[[["river", "grassy", "fished"], ["money", "paid", "account"]]])
    control: str = Field("table", min_length=1, max_length=MAX_WORD_CHARS,
                         description="A plain word put in the word's place in every sentence, as the control: "
                                     "a head that looks at the cues from it as much as from the word is not "
                                     "fetching the word's sense. It must not occur in the sentences.",
                         examples=["table"])


class CueSentenceOut(BaseModel):
    group: int
    sentence: int
    text: str
    tokens: list[TokenOut]
    token_index: int = Field(..., description="Token position of the word.")
    cue_tokens: list[int] = Field(..., description="Positions of the cue tokens before the word.")
    control_text: str = Field(..., description="The sentence with the control word in the word's place.")


class HeadCueOut(BaseModel):
    layer: int
    head: int
    word_to_cues: float = Field(..., description="Attention from the word to the cue tokens, summed over the "
                                                 "cues, averaged over the sentences.")
    control_to_cues: float = Field(..., description="The same from the control word, in the same sentences.")
    difference: float = Field(..., description="word_to_cues - control_to_cues: how much more the head looks "
                                               "at the cues because the word is there.")
    lowest_difference: float = Field(..., description="The smallest difference in any one sentence.")


class MeanHeadOut(BaseModel):
    word_to_cues: float
    control_to_cues: float
    word_to_first: float = Field(..., description="Attention from the word to the first token (the attention "
                                                  "sink), averaged over every head and sentence.")


class SenseHeadsOut(BaseModel):
    word: str
    control: str
    sentences: list[CueSentenceOut]
    heads: list[HeadCueOut] = Field(..., description="Every head (n_layers x n_heads), the largest difference "
                                                     "first.")
    mean_head: MeanHeadOut = Field(..., description="The average over every head, for scale.")


SENSES_EXAMPLES = {
    "bank": {"summary": "'bank' by a river and 'bank' with money",
             "value": {"word": "bank",
                       "groups": [["I sat on the river bank", "We fished from the grassy bank"],
                                  ["I paid the money into the bank", "She opened an account at the bank"]]}},
}
SENSE_HEADS_EXAMPLES = {
    "bank": {"summary": "Which heads look from 'bank' at river or money words",
             "value": {"word": "bank", "control": "table",
                       "groups": [["I sat on the river bank", "We fished from the grassy bank"],
                                  ["I paid the money into the bank", "She opened an account at the bank"]],
                       "cues": [["river", "grassy", "fished"], ["money", "paid", "account"]]}},
}
