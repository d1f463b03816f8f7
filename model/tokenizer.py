"""The model's own tokenizer, rebuilt with the `tokenizers` library from GGUF data.

Byte-level BPE over the GGUF vocabulary and merges, with the pre-tokenisation llama.cpp
applies for the `tokenizer.ggml.pre` name (for `smollm`: every digit on its own, then the
GPT-2 split), the special tokens as single tokens, and the chat template rendered with jinja2.

Plain text is encoded without a BOS token. The GGUF sets `add_bos_token`, but SmolLM2's own
tokenizer adds none, chat prompts already begin with `<|im_start|>`, and the published
behaviour ("The capital of France is" -> " Paris", p = 0.77) is the no-BOS one.
"""

from __future__ import annotations

import unicodedata

from dataclasses import dataclass
from functools import cached_property

from jinja2.sandbox import ImmutableSandboxedEnvironment
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

from model.weights import TokenizerData

# Pre-tokenisers by `tokenizer.ggml.pre`, as llama.cpp's llama-vocab.cpp defines them.
# Every one ends in the GPT-2 split (ByteLevel's own regex); some isolate digits first.
_DIGITS_FIRST = {"smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva"}
_GPT2_ONLY = {"gpt-2", "gpt2", "default", "mpt", "olmo", "jais"}

SPECIAL_TOKEN_TYPES = {3}  # GGUF token type CONTROL
_VISIBLE = {" ": "␣", "\n": "⏎", "\t": "⇥", "\r": "␍", "\x7f": "␡"}
# Other C0 control characters as their Unicode "control pictures" (U+2400 + code): NUL -> ␀.
_VISIBLE.update({chr(c): chr(0x2400 + c) for c in range(32) if chr(c) not in _VISIBLE})


@dataclass(frozen=True)
class Token:
    id: int
    text: str        # the token's text; bytes that are only part of a character decode to U+FFFD
    display: str     # `text` with spaces, newlines and tabs made visible
    start: int       # character offsets into the encoded text
    end: int
    special: bool
    partial: bool    # the token's bytes are not a whole UTF-8 character sequence
    bytes_hex: str   # the token's raw bytes, e.g. "f0 9f"


def _byte_decoder() -> dict[str, int]:
    """GPT-2's printable stand-ins for bytes (Ġ for space, Ċ for newline, ...) -> byte values."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) \
        + list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    n = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(printable, chars)}


_BYTE_OF = _byte_decoder()


def _invisible(ch: str) -> bool:
    """A character that draws as nothing on its own: a format character (zero-width joiner, soft
    hyphen, byte-order mark, ...) or a variation selector (U+FE0F asks for the emoji form)."""
    code = ord(ch)
    return unicodedata.category(ch) == "Cf" or 0xFE00 <= code <= 0xFE0F or 0xE0100 <= code <= 0xE01EF


def visible(text: str) -> str:
    """Make whitespace, control and invisible characters visible: ' the' -> '␣the', '\\n' -> '⏎',
    NUL -> '␀', U+FE0F -> '⟨U+FE0F⟩' (a token of only invisible characters would draw as an empty chip)."""
    return "".join(_VISIBLE.get(ch) or (f"⟨U+{ord(ch):04X}⟩" if _invisible(ch) else ch) for ch in text)


class ModelTokenizer:
    def __init__(self, data: TokenizerData):
        self.data = data
        vocab = {token: i for i, token in enumerate(data.tokens)}
        merges = [tuple(m.split(" ", 1)) for m in data.merges]
        self._tk = Tokenizer(models.BPE(vocab, merges, ignore_merges=False))
        self._tk.pre_tokenizer = self._pre_tokenizer(data.pre)
        self._tk.decoder = decoders.ByteLevel()
        self.special_ids = {i for i, t in enumerate(data.token_types) if t in SPECIAL_TOKEN_TYPES}
        self._tk.add_special_tokens(
            [AddedToken(data.tokens[i], special=True, normalized=False) for i in sorted(self.special_ids)])
        self.bos_id = data.bos_id
        self.eos_id = data.eos_id
        # The end-of-turn token ends generation in chat (SmolLM2: <|im_end|>).
        self.stop_ids = {i for i in (data.eos_id, vocab.get("<|im_end|>"), vocab.get("<|endoftext|>"))
                         if i is not None}

    @staticmethod
    def _pre_tokenizer(pre: str):
        byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        if pre in _DIGITS_FIRST:
            return pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(r"\p{N}"), "isolated"), byte_level])
        if pre in _GPT2_ONLY:
            return byte_level
        raise ValueError(f"pre-tokeniser {pre!r} is not supported; known: "
                         f"{sorted(_DIGITS_FIRST | _GPT2_ONLY)}")

    @property
    def vocab_size(self) -> int:
        return len(self.data.tokens)

    def encode(self, text: str) -> list[int]:
        return self._tk.encode(text, add_special_tokens=False).ids

    def decode(self, ids: list[int]) -> str:
        return self._tk.decode(list(ids), skip_special_tokens=False)

    def token_bytes(self, token_id: int) -> bytes:
        piece = self.data.tokens[token_id]
        if token_id in self.special_ids:
            return piece.encode("utf-8")
        return bytes(_BYTE_OF[ch] for ch in piece)

    @cached_property
    def _texts(self) -> list[str]:
        return [self.token_bytes(i).decode("utf-8", errors="replace") for i in range(self.vocab_size)]

    def token_text(self, token_id: int) -> str:
        return self._texts[token_id]

    def describe(self, token_id: int, start: int = 0, end: int = 0) -> Token:
        raw = self.token_bytes(token_id)
        try:
            text, partial = raw.decode("utf-8"), False
        except UnicodeDecodeError:
            text, partial = raw.decode("utf-8", errors="replace"), True
        special = token_id in self.special_ids
        return Token(id=token_id, text=text, display=text if special else visible(text),
                     start=start, end=end, special=special, partial=partial,
                     bytes_hex=raw.hex(" "))

    def tokenize(self, text: str) -> list[Token]:
        """Tokens of `text` with character offsets (pieces of one character share its offsets)."""
        encoding = self._tk.encode(text, add_special_tokens=False)
        return [self.describe(i, s, e) for i, (s, e) in zip(encoding.ids, encoding.offsets)]

    # --- chat -----------------------------------------------------------------------------

    @cached_property
    def _template(self):
        if not self.data.chat_template:
            raise ValueError("this model's GGUF has no chat template")
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        return env.from_string(self.data.chat_template)

    def apply_chat_template(self, messages: list[dict], add_generation_prompt: bool = True) -> str:
        """Render `messages` ({role, content}) exactly as the GGUF's template writes them."""
        bos = self.data.tokens[self.bos_id] if self.bos_id is not None else ""
        eos = self.data.tokens[self.eos_id] if self.eos_id is not None else ""
        return self._template.render(messages=messages, add_generation_prompt=add_generation_prompt,
                                     bos_token=bos, eos_token=eos)
