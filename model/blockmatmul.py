"""Matrix products straight from the GGUF's quantised blocks, for passes over a few tokens.

A pass over one token (generation) or a few (typing) is bound by reading the weights: 540 MB
as float32, against about 100 MB in the GGUF's Q4_1 and Q8_0 blocks. Those blocks *are* the
model (the float32 copy is computed from them), so multiplying by them directly gives the
same numbers to float32 rounding, 3-4x faster for 1-3 rows (docs/PERFORMANCE.md).

The kernel is `blockmatmul.c`, compiled once per machine with the C compiler at hand
(`-march=native`) into the weight cache folder. Without a compiler, or on a CPU without AVX2,
`load_library` returns None and the model keeps using its float32 weights: same results,
slower short passes.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import math
import os
import platform
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("blockmatmul.c")
# -ffp-contract=off: a multiply and an add stay two roundings (no FMA), so the long-pass kernel's
# decoded weights are exactly the float32 copy's (-std=c11 implies it; said so it cannot be lost).
FLAGS = ["-O3", "-march=native", "-std=c11", "-ffp-contract=off", "-shared", "-fPIC", "-fopenmp"]
LIBRARIES = ["-lm"]  # after the source: with --as-needed a library named before its users is dropped
BLOCK = 32  # weights per block, in both formats


@dataclass
class BlockWeights:
    """One (out, in) weight matrix as the GGUF stores it, scales widened to float32.

    q4_1: codes uint8 (out, in/2), two 4-bit codes per byte; weight = scale * code + low
    q8_0: codes int8 (out, in); weight = scale * code (low is None)
    scale, low: float32 (out, in/32), one per block of 32 weights
    """

    kind: str
    codes: torch.Tensor
    scale: torch.Tensor
    low: torch.Tensor | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.codes.shape[0], self.scale.shape[1] * BLOCK

    def dequantised(self) -> torch.Tensor:
        """The float32 matrix these blocks stand for (what `gguf.quants.dequantize` gives)."""
        out, inp = self.shape
        if self.kind == "q8_0":
            codes = self.codes.float().view(out, -1, BLOCK)
            return (codes * self.scale[:, :, None]).reshape(out, inp)
        low_nibbles, high_nibbles = self.codes & 0x0F, self.codes >> 4
        codes = torch.cat([low_nibbles.view(out, -1, 16), high_nibbles.view(out, -1, 16)], dim=2).float()
        return (codes * self.scale[:, :, None] + self.low[:, :, None]).reshape(out, inp)

    def rows(self, order: torch.Tensor) -> "BlockWeights":
        """The same matrix with its rows (outputs) taken in `order`."""
        pick = lambda t: None if t is None else t[order].contiguous()  # noqa: E731
        return BlockWeights(self.kind, pick(self.codes), pick(self.scale), pick(self.low))

    def tensors(self, prefix: str) -> dict[str, torch.Tensor]:
        found = {f"{prefix}.{self.kind}.codes": self.codes, f"{prefix}.{self.kind}.scale": self.scale}
        if self.low is not None:
            found[f"{prefix}.{self.kind}.low"] = self.low
        return found

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor]) -> dict[str, "BlockWeights"]:
        """Inverse of `tensors`: {prefix: BlockWeights} from a flat dict."""
        found: dict[str, BlockWeights] = {}
        for key in tensors:
            prefix, kind, part = key.rsplit(".", 2)
            if part == "codes":
                found[prefix] = cls(kind, tensors[key], tensors[f"{prefix}.{kind}.scale"],
                                    tensors.get(f"{prefix}.{kind}.low"))
        return found


def from_gguf_blocks(kind: str, raw: np.ndarray, out: int, inp: int) -> BlockWeights | None:
    """BlockWeights from a GGUF tensor's raw bytes (out rows of in/32 blocks); None for other types."""
    if inp % BLOCK:
        return None
    if kind == "Q4_1":  # per block: float16 scale, float16 low, 16 bytes of codes
        blocks = np.ascontiguousarray(raw).reshape(out, inp // BLOCK, 20)
        halves = blocks[:, :, :4].copy().view(np.float16).astype(np.float32)
        return BlockWeights("q4_1", torch.from_numpy(blocks[:, :, 4:].reshape(out, inp // 2).copy()),
                            torch.from_numpy(np.ascontiguousarray(halves[:, :, 0])),
                            torch.from_numpy(np.ascontiguousarray(halves[:, :, 1])))
    if kind == "Q8_0":  # per block: float16 scale, 32 signed bytes
        blocks = np.ascontiguousarray(raw).reshape(out, inp // BLOCK, 34)
        scale = blocks[:, :, :2].copy().view(np.float16).astype(np.float32)[:, :, 0]
        codes = blocks[:, :, 2:].copy().view(np.int8).reshape(out, inp)
        return BlockWeights("q8_0", torch.from_numpy(codes), torch.from_numpy(np.ascontiguousarray(scale)))
    return None


def _machine_key() -> str:
    """What the compiled library depends on: source, flags, compiler, CPU features."""
    cpu_flags = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                cpu_flags = line
                break
    except OSError:
        pass
    parts = [SOURCE.read_bytes(), " ".join(FLAGS + LIBRARIES).encode(), platform.machine().encode(), cpu_flags.encode()]
    return hashlib.sha256(b"\0".join(parts)).hexdigest()[:16]


class Library:
    """The compiled kernel, called through ctypes (which releases the GIL during the call)."""

    def __init__(self, path: Path):
        lib = ctypes.CDLL(str(path))
        ptr, i64 = ctypes.c_void_p, ctypes.c_int64
        i32 = ctypes.c_int
        lib.tt_q4_1_matmul.argtypes = [ptr, i64, i64, ptr, ptr, ptr, i64, ptr, i64, i64, i32]
        lib.tt_q8_0_matmul.argtypes = [ptr, i64, i64, ptr, ptr, i64, ptr, i64, i64, i32]
        lib.tt_q4_1_matmul_parts.argtypes = [ptr, i64, i64, i32, ptr, ptr, ptr, ptr, ptr, i32]
        lib.tt_q4_1_matmul_long.argtypes = [ptr, i64, i64, i32, ptr, ptr, ptr, ptr, ptr, i32]
        lib.tt_rms_norm.argtypes = [ptr, i64, i64, i64, ptr, ctypes.c_float, ptr, i32]
        lib.tt_silu_mul.argtypes = [ptr, ptr, i64, i64, i64, ptr, i32]
        lib.tt_attention.argtypes = [ptr, i64, i64, i64, i64, i64, ptr, ptr, i64, i64, i64, i64, i32,
                                     ctypes.c_float, ptr, ptr]
        lib.tt_attention_long.argtypes = lib.tt_attention.argtypes + [i32]
        self._lib = lib
        self.path = path
        self.simd_width = lib.tt_simd_width()
        self.max_rows = lib.tt_max_rows()
        # Whether `matmul_long` and `attention_long` are compiled here (AVX2 without AVX-512; see blockmatmul.c)
        self.long_kernel = bool(lib.tt_long_kernel())

    def matmul(self, x: torch.Tensor, w: BlockWeights, threads: int | None = None) -> torch.Tensor:
        """x (m, in) @ w^T -> (m, out), float32, for 1 <= m <= max_rows, on `threads` threads
        (default: torch's current count; the kernel uses fewer where the product is small)."""
        x, m, inp = self._rows(x, w.shape[1])
        n = w.shape[0]
        out = torch.empty(m, n, dtype=torch.float32)
        threads = torch.get_num_threads() if threads is None else threads
        if w.kind == "q4_1":
            rc = self._lib.tt_q4_1_matmul(x.data_ptr(), m, inp, w.codes.data_ptr(), w.scale.data_ptr(),
                                          w.low.data_ptr(), n, out.data_ptr(), 0, n, threads)
        else:
            rc = self._lib.tt_q8_0_matmul(x.data_ptr(), m, inp, w.codes.data_ptr(), w.scale.data_ptr(),
                                          n, out.data_ptr(), 0, n, threads)
        if rc != 0:
            raise ValueError(f"blockmatmul refused a ({m}, {inp}) by {w.kind} ({n}, {w.shape[1]}) product")
        return out

    def _rows(self, x: torch.Tensor, inputs: int, most: int | None = None) -> tuple[torch.Tensor, int, int]:
        """x made contiguous, with its rows and columns, if the kernel takes it (else ValueError)."""
        x = x.contiguous()
        m, inp = x.shape
        most = self.max_rows if most is None else most
        if x.dtype != torch.float32 or inp != inputs or not 1 <= m <= most:
            raise ValueError(f"blockmatmul takes 1..{most} float32 rows of {inputs}, got {tuple(x.shape)} {x.dtype}")
        return x, m, inp

    def stack(self, parts: list[BlockWeights]) -> "Stack | None":
        """Q4_1 matrices of one input size, to be multiplied as one (`matmul_stacked`); None for
        anything else (other formats, sizes, or more than 8)."""
        if not 1 <= len(parts) <= 8 or {(p.kind, p.shape[1]) for p in parts} != {("q4_1", parts[0].shape[1])}:
            return None
        return Stack(parts)

    def matmul_stacked(self, x: torch.Tensor, stack: "Stack", threads: int | None = None) -> torch.Tensor:
        """x (m, in) @ [w_1; w_2; ...]^T -> (m, out_1 + out_2 + ...): each matrix's product side by
        side, in one call (one block sum of x, one split between threads), the matrices where they are."""
        return self._stacked(self._lib.tt_q4_1_matmul_parts, x, stack, threads, self.max_rows, "")

    def matmul_long(self, x: torch.Tensor, stack: "Stack", threads: int | None = None) -> torch.Tensor:
        """As `matmul_stacked`, for any number of rows: the kernel for long passes (a register-blocked
        product that decodes each block once for all rows), where `long_kernel` says it is built."""
        if not self.long_kernel:
            raise ValueError("this machine's build has no long-pass kernel (it needs AVX2 without AVX-512)")
        return self._stacked(self._lib.tt_q4_1_matmul_long, x, stack, threads, x.shape[0], "long ")

    def _stacked(self, kernel, x: torch.Tensor, stack: "Stack", threads: int | None, most: int,
                 kind: str) -> torch.Tensor:
        """One call of a kernel that takes stacked Q4_1 matrices (`tt_q4_1_matmul_parts`' arguments)."""
        x, m, inp = self._rows(x, stack.inputs, most)
        out = torch.empty(m, stack.outputs, dtype=torch.float32)
        threads = torch.get_num_threads() if threads is None else threads
        rc = kernel(x.data_ptr(), m, inp, len(stack.parts), stack.codes, stack.scale, stack.low, stack.n,
                    out.data_ptr(), threads)
        if rc != 0:
            raise ValueError(f"blockmatmul refused a {kind}({m}, {inp}) product by {len(stack.parts)} stacked matrices")
        return out

    def rms_norm(self, x: torch.Tensor, weight: torch.Tensor, eps: float, threads: int = 1) -> torch.Tensor:
        """F.rms_norm(x, (d,), weight, eps) for float32 rows x (m, d) with unit column stride, in one
        pass over the numbers (same float32 arithmetic; the sum of squares in another order)."""
        m, d = x.shape
        if (x.dtype != torch.float32 or (d > 1 and x.stride(1) != 1) or weight.shape != (d,)
                or weight.dtype != torch.float32):
            raise ValueError(f"rms_norm takes float32 rows with unit column stride, got {tuple(x.shape)} {x.dtype}")
        weight = weight.contiguous()
        out = torch.empty(m, d, dtype=torch.float32)
        if m and self._lib.tt_rms_norm(x.data_ptr(), m, d, x.stride(0), weight.data_ptr(), eps, out.data_ptr(), threads):
            raise ValueError(f"rms_norm refused rows {tuple(x.shape)} with stride {x.stride()}")
        return out

    def silu_mul(self, gate: torch.Tensor, up: torch.Tensor, threads: int = 1) -> torch.Tensor:
        """F.silu(gate) * up for float32 (m, f) rows sharing one row stride (the two halves of the fused
        gate-and-up product), in one pass (e^x by a polynomial within 2 ulp: float32 rounding)."""
        m, f = gate.shape
        if (gate.dtype != torch.float32 or up.dtype != torch.float32 or up.shape != gate.shape
                or gate.stride() != up.stride() or (f > 1 and gate.stride(1) != 1)):
            raise ValueError(f"silu_mul takes two float32 (m, f) tensors with the same strides, got "
                             f"{tuple(gate.shape)} {gate.stride()} and {tuple(up.shape)} {up.stride()}")
        out = torch.empty(m, f, dtype=torch.float32)
        if m and self._lib.tt_silu_mul(gate.data_ptr(), up.data_ptr(), m, f, gate.stride(0), out.data_ptr(), threads):
            raise ValueError(f"silu_mul refused rows {tuple(gate.shape)} with stride {gate.stride()}")
        return out


    def attention(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool
                  ) -> tuple[torch.Tensor, torch.Tensor]:
        """Grouped causal attention in one call: q (h, n, dh), k and v (g, n_k, dh) with the n new
        tokens last -> (pattern (h, n, n_k), z (h, n, dh)), as softmax(q k^T / sqrt(dh)) and its
        product with v. Any strides whose last is 1 (k and v alike): the KV cache's room is fine.
        One thread, one query row at a time: for a few new tokens (generation, typing)."""
        return self._attention(self._lib.tt_attention, q, k, v, causal)

    def attention_long(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool,
                       threads: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """`attention` for any number of new tokens, in register tiles of 6 query rows by 16 keys that
        skip the keys a causal row may not see, on `threads` threads (default: torch's current
        count). Only where `long_kernel` is True."""
        threads = torch.get_num_threads() if threads is None else threads
        return self._attention(self._lib.tt_attention_long, q, k, v, causal, threads)

    @staticmethod
    def _attention(kernel, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool, *threads: int
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        h, n, dh = q.shape
        g, n_k, _ = k.shape
        if (q.dtype != torch.float32 or k.dtype != torch.float32 or v.dtype != torch.float32
                or k.shape != (g, n_k, dh) or v.shape != k.shape or k.stride() != v.stride()
                or q.stride(2) != 1 or k.stride(2) != 1 or h % g or n_k < n):
            raise ValueError(f"attention takes float32 q (h, n, dh) and k, v (g, n_k, dh) alike, got "
                             f"{tuple(q.shape)}, {tuple(k.shape)} {k.stride()}, {tuple(v.shape)} {v.stride()}")
        pattern = torch.empty(h, n, n_k, dtype=torch.float32)
        z = torch.empty(h, n, dh, dtype=torch.float32)
        rc = kernel(q.data_ptr(), h, n, dh, q.stride(0), q.stride(1), k.data_ptr(), v.data_ptr(),
                    g, n_k, k.stride(0), k.stride(1), int(causal), 1.0 / math.sqrt(dh),
                    pattern.data_ptr(), z.data_ptr(), *threads)
        if rc != 0:
            raise ValueError(f"attention refused q {tuple(q.shape)}, k {tuple(k.shape)}")
        return pattern, z


class Stack:
    """Pointers to several Q4_1 matrices' blocks for `Library.matmul_stacked`, made once (it keeps
    the matrices alive, so the pointers stay valid)."""

    def __init__(self, parts: list[BlockWeights]):
        self.parts = list(parts)
        self.inputs = parts[0].shape[1]
        self.outputs = sum(p.shape[0] for p in parts)
        pointers = ctypes.c_void_p * len(parts)
        self.codes = pointers(*(p.codes.data_ptr() for p in parts))
        self.scale = pointers(*(p.scale.data_ptr() for p in parts))
        self.low = pointers(*(p.low.data_ptr() for p in parts))
        self.n = (ctypes.c_int64 * len(parts))(*(p.shape[0] for p in parts))


def compile_library(target: Path, flags: list[str] = FLAGS) -> None:
    """Compile blockmatmul.c into `target` (tests also build it without AVX-512 or AVX2, to check
    every code path on one machine)."""
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise RuntimeError("no C compiler (cc or gcc) on PATH")
    target.parent.mkdir(parents=True, exist_ok=True)
    # Compile to a temporary name and rename: a concurrent or interrupted build never leaves
    # a half-written library under the final name.
    with tempfile.NamedTemporaryFile(dir=target.parent, suffix=".so.partial", delete=False) as tmp:
        partial = Path(tmp.name)
    try:
        subprocess.run([compiler, *flags, "-o", str(partial), str(SOURCE), *LIBRARIES], check=True,
                       capture_output=True, text=True, timeout=120)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def load_library(cache_dir: Path) -> Library | None:
    """The kernel for this machine, compiled on first use; None (float32 fallback) if impossible."""
    target = Path(cache_dir) / f"blockmatmul-{_machine_key()}.so"
    try:
        if not target.exists():
            try:
                compile_library(target)
            except subprocess.CalledProcessError:
                # no OpenMP with this compiler: the same kernel on one thread
                compile_library(target, [flag for flag in FLAGS if flag != "-fopenmp"])
            for older in target.parent.glob("blockmatmul-*.so"):  # from an earlier source or CPU
                if older != target:
                    older.unlink(missing_ok=True)
        library = Library(target)
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", "") or exc
        log.warning("block kernels unavailable, short passes use float32 weights: %s", detail)
        return None
    if library.simd_width < 8:
        log.warning("block kernels skipped: this CPU has no AVX2, float32 weights are faster here")
        return None
    return library
