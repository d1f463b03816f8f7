"""Read a GGUF with the `gguf` package: metadata, tokenizer data and dequantised tensors.

Dequantised float32 weights are cached as safetensors next to the GGUF, keyed by the GGUF's
SHA-256, so later starts memory-map them instead of parsing and dequantising again. The
quantised blocks themselves are cached beside them (`model/blockmatmul.py` multiplies by them
directly in short passes).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from model.blockmatmul import BlockWeights, from_gguf_blocks
from model.config import LlamaConfig
from model.fetch import sha256_of

CACHE_FORMAT = 2  # bump when the cached layout changes


@dataclass
class TokenizerData:
    """Everything the tokenizer needs from the GGUF, as plain JSON-able values."""

    tokens: list[str]
    token_types: list[int]
    merges: list[str]
    pre: str
    bos_id: int | None
    eos_id: int | None
    chat_template: str | None

    def to_dict(self) -> dict:
        return self.__dict__.copy()


@dataclass
class LoadedWeights:
    config: LlamaConfig
    tensors: dict[str, torch.Tensor]  # our own names, see `_our_name`
    tokenizer: TokenizerData
    sha256: str
    blocks: dict[str, BlockWeights] = field(default_factory=dict)  # quantised matrices, same names
    storage: dict[str, str] = field(default_factory=dict)  # our name -> the GGUF's type for it ("Q4_1", "F32")
    bits: dict[str, float] = field(default_factory=dict)  # each of those types' bits per weight


@dataclass(frozen=True)
class StorageType:
    """How many of a model's weights the GGUF stores in one type, and at what cost per weight."""

    type: str              # the GGUF's name for it: "Q4_1", "Q8_0", "F16", "F32", ...
    bits_per_weight: float  # bytes of a block * 8 / weights in it (Q4_1: 4-bit codes plus a scale and minimum per 32)
    tensors: int
    weights: int


def storage_types(path: Path) -> dict[str, str]:
    """Each tensor's storage type, from the GGUF's header (no dequantising), keyed by our names."""
    from gguf import GGUFReader

    return {_our_name(t.name): t.tensor_type.name for t in GGUFReader(str(path)).tensors}


def bits_per_weight(types) -> dict[str, float]:
    """Bits per weight of each GGUF storage type named, from gguf's block sizes: a block's bytes * 8 /
    the weights in it. Kept in the weight cache's metadata, so a cached start does not import gguf
    (about 50 ms on the 2-core machine)."""
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    sizes = {kind: GGML_QUANT_SIZES[GGMLQuantizationType[kind]] for kind in set(types)}
    return {kind: nbytes * 8 / block for kind, (block, nbytes) in sorted(sizes.items())}


def storage_summary(storage: dict[str, str], bits: dict[str, float],
                    tensors: dict[str, torch.Tensor]) -> list[StorageType]:
    """The model's weights grouped by storage type, the most weights first."""
    counts: dict[str, list[int]] = {}
    for name, kind in storage.items():
        entry = counts.setdefault(kind, [0, 0])
        entry[0] += 1
        entry[1] += tensors[name].numel()
    out = [StorageType(kind, bits[kind], n_tensors, n_weights) for kind, (n_tensors, n_weights) in counts.items()]
    return sorted(out, key=lambda t: -t.weights)


def _field_value(field):
    """A GGUF metadata value as a Python value (strings decoded, arrays as lists)."""
    return field.contents()


def unpermute_qk(w: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Undo the row order GGUF uses for Llama's Q and K projections.

    llama.cpp applies rotary embeddings to adjacent pairs (x0, x1), (x2, x3), ...; the
    converter therefore permuted each head's rows from HF's "two halves" order. We use the
    halves order (rotate_half, as in the paper's reference code), so we permute them back.
    (out, in) -> (heads, pairs, 2, in) -> (heads, 2, pairs, in) -> (out, in)
    """
    out, inp = w.shape
    return w.reshape(n_heads, out // n_heads // 2, 2, inp).transpose(1, 2).reshape(out, inp)


def _unpermuted_rows(blocks: BlockWeights, n_heads: int) -> BlockWeights:
    """`unpermute_qk` for quantised blocks: the same reordering of output rows."""
    order = unpermute_qk(torch.arange(blocks.shape[0])[:, None], n_heads)[:, 0]
    return blocks.rows(order)


def _our_name(gguf_name: str) -> str:
    """GGUF tensor names -> the module paths of model.llama.Llama."""
    table = {
        "token_embd.weight": "embed.weight",
        "output_norm.weight": "norm.weight",
        "output.weight": "unembed.weight",
    }
    if gguf_name in table:
        return table[gguf_name]
    _, layer, rest = gguf_name.split(".", 2)
    per_block = {
        "attn_norm.weight": "attn_norm.weight",
        "attn_q.weight": "attn.q_proj.weight",
        "attn_k.weight": "attn.k_proj.weight",
        "attn_v.weight": "attn.v_proj.weight",
        "attn_output.weight": "attn.o_proj.weight",
        "ffn_norm.weight": "mlp_norm.weight",
        "ffn_gate.weight": "mlp.gate_proj.weight",
        "ffn_up.weight": "mlp.up_proj.weight",
        "ffn_down.weight": "mlp.down_proj.weight",
    }
    return f"blocks.{layer}.{per_block[rest]}"


def read_gguf(path: Path) -> tuple[LlamaConfig, dict[str, torch.Tensor], TokenizerData, dict[str, BlockWeights],
                                   dict[str, str]]:
    """Parse and dequantise a GGUF (a few seconds); `load_weights` caches the result.

    Also returns the Q4_1 and Q8_0 matrices as they are stored (other types have no entry) and
    every tensor's storage type."""
    from gguf import GGUFReader
    from gguf.quants import dequantize

    reader = GGUFReader(str(path))
    wanted = {"general.architecture", "general.name", "general.basename", "tokenizer.ggml.pre",
              "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.chat_template",
              "tokenizer.ggml.model"}
    fields = {k: _field_value(f) for k, f in reader.fields.items()
              if k.startswith("llama.") or k in wanted}
    tokens = reader.fields["tokenizer.ggml.tokens"].contents()
    if fields.get("tokenizer.ggml.model") != "gpt2":
        raise ValueError("transformer-tour reads byte-level BPE ('gpt2') tokenizers from GGUF; "
                         f"this file has {fields.get('tokenizer.ggml.model')!r}")
    tok = TokenizerData(
        tokens=tokens,
        token_types=[int(t) for t in reader.fields["tokenizer.ggml.token_type"].contents()],
        merges=reader.fields["tokenizer.ggml.merges"].contents(),
        pre=str(fields.get("tokenizer.ggml.pre", "default")),
        bos_id=fields.get("tokenizer.ggml.bos_token_id"),
        eos_id=fields.get("tokenizer.ggml.eos_token_id"),
        chat_template=fields.get("tokenizer.chat_template"),
    )
    config = LlamaConfig.from_gguf_fields(fields, vocab_size=len(tokens))

    tensors: dict[str, torch.Tensor] = {}
    blocks: dict[str, BlockWeights] = {}
    storage = {_our_name(t.name): t.tensor_type.name for t in reader.tensors}
    for t in reader.tensors:
        # gguf lists shapes innermost-first; dequantize returns the row-major (out, in) array.
        array = np.array(dequantize(t.data, t.tensor_type), dtype=np.float32, copy=True)
        name = _our_name(t.name)
        shape = [int(d) for d in reversed(t.shape)]
        w = torch.from_numpy(array.reshape(shape))
        quantised = from_gguf_blocks(t.tensor_type.name, t.data, *shape) if len(shape) == 2 else None
        heads = (config.n_heads if name.endswith("q_proj.weight")
                 else config.n_kv_heads if name.endswith("k_proj.weight") else None)
        if heads:
            w = unpermute_qk(w, heads)
            if quantised is not None:
                quantised = _unpermuted_rows(quantised, heads)
        tensors[name] = w.contiguous()
        if quantised is not None:
            blocks[name] = quantised
    return config, tensors, tok, blocks, storage


def _cache_paths(cache_dir: Path, sha: str) -> tuple[Path, Path, Path]:
    stem = f"{sha[:16]}-v{CACHE_FORMAT}"
    return cache_dir / f"{stem}.safetensors", cache_dir / f"{stem}.blocks.safetensors", cache_dir / f"{stem}.json"


def _sha_with_marker(path: Path) -> str:
    """SHA-256 of the GGUF, remembered beside it (keyed by size and mtime) to skip rehashing."""
    marker = path.with_name(path.name + ".sha256")
    stamp = f"{path.stat().st_size} {path.stat().st_mtime_ns}"
    if marker.exists():
        saved_stamp, _, saved_sha = marker.read_text().partition("\n")
        if saved_stamp == stamp:
            return saved_sha.strip()
    sha = sha256_of(path)
    try:
        marker.write_text(f"{stamp}\n{sha}")
    except OSError:
        pass  # a read-only folder only costs a rehash next time
    return sha


def gguf_sha256(path: Path) -> str:
    """The GGUF's SHA-256, the identity caches are keyed by (remembered beside it: no rehash)."""
    return _sha_with_marker(Path(path))


def load_weights(gguf_path: Path, cache_dir: Path | None = None) -> LoadedWeights:
    """Config, float32 tensors, quantised blocks and tokenizer data of a GGUF, cached."""
    gguf_path = Path(gguf_path)
    cache_dir = Path(cache_dir) if cache_dir else gguf_path.parent / "cache"
    sha = _sha_with_marker(gguf_path)
    tensors_path, blocks_path, meta_path = _cache_paths(cache_dir, sha)
    if tensors_path.exists() and blocks_path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if "storage" not in meta or "bits" not in meta:  # a cache written before these were kept: once
            meta["storage"] = meta.get("storage") or storage_types(gguf_path)
            meta["bits"] = bits_per_weight(meta["storage"].values())
            try:
                _write_atomically(meta_path, json.dumps(meta))
            except OSError:
                pass  # a read-only cache only costs reading them again at the next start
        return LoadedWeights(LlamaConfig.from_dict(meta["config"]), load_file(str(tensors_path)),
                             TokenizerData(**meta["tokenizer"]), sha,
                             BlockWeights.from_tensors(load_file(str(blocks_path))), meta["storage"], meta["bits"])

    config, tensors, tok, blocks, storage = read_gguf(gguf_path)
    cache_dir.mkdir(parents=True, exist_ok=True)
    flat_blocks = {k: v for name, b in blocks.items() for k, v in b.tensors(name).items()}
    # Write every file under a temporary name, then rename, the metadata last (it is what
    # marks the cache complete): a crash never leaves a half cache.
    for data, path in ((tensors, tensors_path), (flat_blocks, blocks_path)):
        partial = path.with_suffix(".safetensors.partial")
        save_file(data, str(partial))
        os.replace(partial, path)
    bits = bits_per_weight(storage.values())
    _write_atomically(meta_path, json.dumps({"config": config.to_dict(), "tokenizer": tok.to_dict(),
                                             "storage": storage, "bits": bits}))
    _remove_older_formats(cache_dir, sha)
    return LoadedWeights(config, tensors, tok, sha, blocks, storage, bits)


def _write_atomically(path: Path, text: str) -> None:
    # A name of this process's own: two servers starting at once never write the same partial file.
    partial = path.with_suffix(f".json.{os.getpid()}.partial")
    try:
        partial.write_text(text)
        os.replace(partial, path)
    except OSError:
        partial.unlink(missing_ok=True)
        raise


def _remove_older_formats(cache_dir: Path, sha: str) -> None:
    """Delete this GGUF's caches in earlier layouts (each is over 500 MB and never read again)."""
    current = f"{sha[:16]}-v{CACHE_FORMAT}."
    for old in cache_dir.glob(f"{sha[:16]}-v*"):
        if not old.name.startswith(current):
            old.unlink(missing_ok=True)
