"""The shape of a Llama-architecture model, read from GGUF metadata (never typed in)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class LlamaConfig:
    name: str
    n_layers: int
    n_heads: int
    n_kv_heads: int
    d_model: int
    d_mlp: int
    vocab_size: int
    context_length: int
    rope_base: float
    norm_eps: float

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads

    @property
    def group_size(self) -> int:
        """How many query heads share one key/value head (grouped-query attention)."""
        return self.n_heads // self.n_kv_heads

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "LlamaConfig":
        return cls(**{field: data[field] for field in cls.__dataclass_fields__})

    @classmethod
    def from_gguf_fields(cls, fields: dict, vocab_size: int) -> "LlamaConfig":
        """`fields` maps GGUF metadata keys to values; only the llama architecture is accepted."""
        arch = fields.get("general.architecture")
        if arch != "llama":
            raise ValueError(f"this GGUF's architecture is {arch!r}; transformer-tour runs 'llama' models")
        p = "llama."
        return cls(
            name=str(fields.get("general.name") or fields.get("general.basename") or "llama"),
            n_layers=int(fields[p + "block_count"]),
            n_heads=int(fields[p + "attention.head_count"]),
            n_kv_heads=int(fields.get(p + "attention.head_count_kv", fields[p + "attention.head_count"])),
            d_model=int(fields[p + "embedding_length"]),
            d_mlp=int(fields[p + "feed_forward_length"]),
            vocab_size=int(fields.get(p + "vocab_size", vocab_size)),
            context_length=int(fields[p + "context_length"]),
            rope_base=float(fields.get(p + "rope.freq_base", 10000.0)),
            norm_eps=float(fields[p + "attention.layer_norm_rms_epsilon"]),
        )
