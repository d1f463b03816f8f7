"""Products straight from the GGUF's quantised blocks equal the float32 products they replace."""

from pathlib import Path

import numpy as np
import pytest
import torch

from model import blockmatmul
from model.blockmatmul import BlockWeights, Library, compile_library, from_gguf_blocks, load_library
from model.llama import Attention, KVCache, Linear, SwiGLU
from model.speed import FEW_TOKENS, BlockKernel, block_rows


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """Compiled afresh, as on a new machine. `make test` needs a C compiler (CI has gcc)."""
    found = load_library(tmp_path_factory.mktemp("kernels"))
    assert found is not None, "the block kernel did not build: is a C compiler (cc/gcc) installed?"
    return found


def random_q4_1(out: int, inp: int, seed: int = 0) -> BlockWeights:
    g = torch.Generator().manual_seed(seed)
    codes = torch.randint(0, 256, (out, inp // 2), dtype=torch.uint8, generator=g)
    scale = torch.rand(out, inp // 32, generator=g) * 0.02
    low = (torch.rand(out, inp // 32, generator=g) - 0.5) * 0.2
    return BlockWeights("q4_1", codes, scale, low)


def random_q8_0(out: int, inp: int, seed: int = 0) -> BlockWeights:
    g = torch.Generator().manual_seed(seed)
    codes = torch.randint(-128, 128, (out, inp), dtype=torch.int8, generator=g)
    return BlockWeights("q8_0", codes, torch.rand(out, inp // 32, generator=g) * 0.01)


def errors(library, x, w):
    """Largest error of the block product and of the dense float32 product, against float64."""
    dense = w.dequantised()
    exact = x.double() @ dense.double().T
    return ((library.matmul(x, w).double() - exact).abs().max().item(),
            ((x @ dense.T).double() - exact).abs().max().item())


@pytest.mark.parametrize("make", [random_q4_1, random_q8_0])
@pytest.mark.parametrize("shape", [(576, 576), (1536, 576), (576, 1536), (40, 64)])
def test_block_product_is_as_accurate_as_the_float32_product(library, make, shape):
    w = make(*shape)
    for rows in range(1, library.max_rows + 1):
        x = torch.randn(rows, shape[1], generator=torch.Generator().manual_seed(rows))
        block_error, dense_error = errors(library, x, w)
        # Same arithmetic in another order: float32 rounding, no worse than the dense kernel's.
        assert block_error <= 4 * dense_error + 1e-6, (rows, block_error, dense_error)


@pytest.mark.parametrize("isa,flags,width", [
    ("AVX2", ["-mavx2", "-mfma", "-mno-avx512f"], 8),   # most x86 CPUs without AVX-512
    ("plain C", [], 1),                                  # baseline x86-64: the portable loop
])
def test_every_instruction_set_path_gives_the_same_products(tmp_path, isa, flags, width):
    """This machine runs the AVX-512 path; build the others too and check them the same way."""
    target = tmp_path / f"blockmatmul-{width}.so"
    compile_library(target, ["-O3", "-std=c11", "-shared", "-fPIC", *flags])
    built = Library(target)
    assert built.simd_width == width, isa
    for make in (random_q4_1, random_q8_0):
        w = make(96, 128, seed=width)
        for rows in (1, 3, built.max_rows):
            x = torch.randn(rows, 128, generator=torch.Generator().manual_seed(rows))
            block_error, dense_error = errors(built, x, w)
            assert block_error <= 4 * dense_error + 1e-6, (isa, make.__name__, rows)


def test_nibble_order_is_the_ggufs(library):
    """Byte i of a Q4_1 block holds weight i (low nibble) and weight i + 16 (high nibble)."""
    codes = torch.zeros(1, 16, dtype=torch.uint8)
    codes[0, 3] = 0x52  # weight 3 -> 2, weight 19 -> 5
    w = BlockWeights("q4_1", codes, torch.ones(1, 1), torch.zeros(1, 1))
    expected = torch.zeros(32)
    expected[3], expected[19] = 2, 5
    assert torch.equal(w.dequantised()[0], expected)
    basis = torch.eye(32)[:16]
    assert torch.equal(library.matmul(basis, w)[:, 0], expected[:16])


def test_blocks_read_from_gguf_bytes_dequantise_like_the_gguf_package():
    from gguf import GGMLQuantizationType
    from gguf.quants import dequantize, quantize

    values = np.random.default_rng(0).standard_normal((8, 64)).astype(np.float32)
    for kind in ("Q4_1", "Q8_0"):
        raw = quantize(values, GGMLQuantizationType[kind])
        blocks = from_gguf_blocks(kind, raw, 8, 64)
        expected = dequantize(raw, GGMLQuantizationType[kind]).reshape(8, 64)
        assert np.array_equal(blocks.dequantised().numpy(), expected), kind
    assert from_gguf_blocks("F32", values, 8, 64) is None


def test_refuses_what_it_cannot_compute(library):
    w = random_q4_1(64, 64)
    with pytest.raises(ValueError):
        library.matmul(torch.randn(library.max_rows + 1, 64), w)  # too many rows: the dense path's job
    with pytest.raises(ValueError):
        library.matmul(torch.randn(2, 32), w)                      # wrong width
    with pytest.raises(ValueError):
        library.matmul(torch.randn(2, 64, dtype=torch.float64), w)


# ---- the long-pass kernel (built for AVX2 without AVX-512 only; built so here on any x86 with AVX2)

def _has_avx2() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text().replace("\n", " ")
    except OSError:
        return False
    return " avx2 " in flags and " fma " in flags


@pytest.fixture(scope="module")
def avx2_library(tmp_path_factory):
    if not _has_avx2():
        pytest.skip("the long-pass kernel needs AVX2, which this CPU lacks")
    target = tmp_path_factory.mktemp("avx2") / "blockmatmul-avx2.so"
    compile_library(target, ["-O3", "-std=c11", "-ffp-contract=off", "-shared", "-fPIC", "-fopenmp", "-mavx2", "-mfma",
                             "-mno-avx512f"])
    built = Library(target)
    assert built.long_kernel and built.simd_width == 8
    return built


def long_errors(library, x, parts):
    """Largest error of the long kernel's product and of the dense float32 one, against float64."""
    dense = torch.cat([p.dequantised() for p in parts])
    exact = x.double() @ dense.double().T
    got = library.matmul_long(x, library.stack(parts), 2)
    return (got.double() - exact).abs().max().item(), ((x @ dense.T).double() - exact).abs().max().item()


@pytest.mark.parametrize("shape", [(576, 576), (192, 576), (1536, 576), (576, 1536), (40, 64), (17, 96)])
def test_long_product_is_as_accurate_as_the_float32_product(avx2_library, shape):
    """Tiles of 6 rows by 16 columns, slices of 192 inputs: shapes that fill none of them evenly too."""
    w = random_q4_1(*shape, seed=shape[0])
    for rows in (1, 5, 13, 64, 67, 200):
        x = torch.randn(rows, shape[1], generator=torch.Generator().manual_seed(rows))
        long_error, dense_error = long_errors(avx2_library, x, [w])
        assert long_error <= 4 * dense_error + 1e-6, (rows, long_error, dense_error)


def test_long_product_decodes_the_very_float32_weights(avx2_library):
    """One row of x picking one input at a time reads the decoded weights back: they equal the
    dequantised matrix exactly (a multiply and an add, as the float32 copy was made), across
    several slices of 192 inputs (the later ones added to the earlier ones' zeros)."""
    w = random_q4_1(40, 416, seed=3)
    eye = torch.eye(416)
    assert torch.equal(avx2_library.matmul_long(eye, avx2_library.stack([w]), 1).T, w.dequantised())


@pytest.mark.parametrize("rows", [13, 64, 100])
def test_long_stacked_products_are_each_matrix_side_by_side_whatever_the_threads(avx2_library, rows):
    """Matrices whose sizes are not whole panels of 16 share no panel; threads take whole panels, so
    the results are equal, not merely close, for any thread count."""
    parts = [random_q4_1(n, 128, seed=n) for n in (96, 40, 200)]
    x = torch.randn(rows, 128, generator=torch.Generator().manual_seed(rows))
    stacked = avx2_library.matmul_long(x, avx2_library.stack(parts), 1)
    separate = torch.cat([avx2_library.matmul_long(x, avx2_library.stack([p]), 1) for p in parts], dim=1)
    assert torch.equal(stacked, separate)
    for threads in (2, 3, 8):
        assert torch.equal(avx2_library.matmul_long(x, avx2_library.stack(parts), threads), stacked)
    long_error, dense_error = long_errors(avx2_library, x, parts)
    assert long_error <= 4 * dense_error + 1e-6


def test_long_kernel_refuses_what_it_cannot_compute(avx2_library, tmp_path):
    w = avx2_library.stack([random_q4_1(64, 64)])
    with pytest.raises(ValueError):
        avx2_library.matmul_long(torch.randn(20, 32), w)                         # wrong width
    with pytest.raises(ValueError):
        avx2_library.matmul_long(torch.randn(20, 64, dtype=torch.float64), w)
    with pytest.raises(ValueError):
        avx2_library.matmul_long(torch.randn(0, 64), w)
    plain = tmp_path / "blockmatmul-plain.so"
    compile_library(plain, ["-O3", "-std=c11", "-shared", "-fPIC"])
    built = Library(plain)
    assert not built.long_kernel
    with pytest.raises(ValueError):
        built.matmul_long(torch.randn(20, 64), w)


def test_without_a_compiler_the_model_keeps_its_float32_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    assert load_library(tmp_path) is None
    assert not list(tmp_path.glob("*.so*"))  # nothing half-built left behind


def test_linear_uses_blocks_only_for_short_passes(library):
    layer = Linear(64, 40).requires_grad_(False)
    w = random_q4_1(40, 64)
    layer.weight.copy_(w.dequantised())
    layer.kernel = BlockKernel(w, library, 4)  # attached as model/speed.py attaches it
    calls = []
    real = library.matmul
    library.matmul = lambda x, b, threads=None: calls.append(x.shape[0]) or real(x, b, threads)
    try:
        for rows in (1, 4, 5, 30):
            x = torch.randn(rows, 64)
            assert torch.allclose(layer(x), x @ w.dequantised().T, atol=1e-5)
    finally:
        del library.matmul
    assert calls == [1, 4]


@pytest.mark.parametrize("make", [random_q4_1, random_q8_0])
@pytest.mark.parametrize("rows", [1, 3, 7])
def test_rows_split_between_threads_give_the_very_same_numbers(library, make, rows):
    """Threads take whole output rows, so each row's sums run in the same order whatever the
    thread count: the results are equal, not merely close (and a product too small to split, under
    64 rows a thread, runs on one)."""
    w = make(300, 128)
    x = torch.randn(rows, 128, generator=torch.Generator().manual_seed(rows))
    one = library.matmul(x, w, 1)
    for threads in (2, 3, 8):
        assert torch.equal(library.matmul(x, w, threads), one)
    small = make(40, 64)
    assert torch.equal(library.matmul(x[:, :64], small, 2), library.matmul(x[:, :64], small, 1))


@pytest.mark.real
def test_real_blocks_are_exactly_the_float32_weights(real_engine):
    """Every quantised matrix dequantises to the very float32 weight the model holds
    (Q and K rows un-permuted the same way)."""
    attached = [(name, m) for name, m in real_engine.model.named_modules()
                if isinstance(m, Linear) and isinstance(m.kernel, BlockKernel)]
    assert len(attached) == 7 * real_engine.model.cfg.n_layers + 1  # every projection and the unembedding
    for name, module in attached:
        assert torch.equal(module.kernel.blocks.dequantised(), module.weight), name


@pytest.mark.real
def test_real_decoding_with_blocks_gives_the_float32_probabilities(real_engine):
    model = real_engine.model
    ids = torch.tensor(real_engine.tokenizer.encode("The capital of France is"))

    def decode() -> tuple[list[int], torch.Tensor]:
        cache, chosen, probs = KVCache(), [], []
        with torch.inference_mode():
            logits = model(ids, cache=cache, last_only=True)[-1]
            for _ in range(12):
                chosen.append(int(logits.argmax()))
                probs.append(logits.double().softmax(-1))
                logits = model(torch.tensor(chosen[-1:]), cache=cache, last_only=True)[-1]
        return chosen, torch.stack(probs)

    with_blocks = decode()
    assert block_rows(model) > 0
    with model.float32_only():
        assert block_rows(model) == 0
        float32 = decode()
    assert block_rows(model) > 0
    assert with_blocks[0] == float32[0]
    assert (with_blocks[1] - float32[1]).abs().max() < 1e-5


@pytest.mark.real
def test_the_loaded_model_reads_blocks_for_short_passes_only(real_engine, monkeypatch):
    """Speed attached from outside the architecture (model/speed.py) is attached: a generated token
    and a few typed ones go through the block kernel, which keeps the job's threads while torch's
    own operations of a pass of one token run on one; a long pass uses the block kernel not at all."""
    model = real_engine.model
    kernels = [m.kernel for m in model.modules() if isinstance(m, Linear)]
    library = kernels[0].library
    calls, threads = [], []
    real_matmul = library.matmul

    def counting(x, w, kernel_threads=None):
        calls.append(x.shape[0])
        threads.append((torch.get_num_threads(), kernel_threads))
        return real_matmul(x, w, kernel_threads)

    monkeypatch.setattr(library, "matmul", counting)
    ids = torch.tensor(real_engine.tokenizer.encode("The capital of France is Paris, and the capital of Italy is"))
    assert len(ids) > max(k.max_rows for k in kernels)
    job_threads = torch.get_num_threads()
    with torch.inference_mode():
        model(ids[:1])
        assert calls and set(calls) == {1} and set(threads) == {(1, job_threads)}
        calls.clear(), threads.clear()
        model(ids[:FEW_TOKENS + 1])   # past the one-thread policy, still within the kernels' rows
        assert set(calls) == {FEW_TOKENS + 1} and set(threads) == {(job_threads, job_threads)}
        calls.clear()
        model(ids)
    assert calls == []


@pytest.mark.real
def test_the_loaded_model_reads_blocks_in_long_passes_where_the_long_kernel_is_built(real_engine, monkeypatch):
    """A prompt longer than the few-row kernels' rows: every projection through the long-pass kernel
    (q, k, v and gate, up fused) where it is built here, none of them where it is not."""
    model = real_engine.model
    library = next(m.kernel.library for m in model.modules() if isinstance(m, Linear))
    calls = []
    real_long = library.matmul_long
    monkeypatch.setattr(library, "matmul_long", lambda x, stack, threads=None: calls.append(
        (x.shape[0], len(stack.parts))) or real_long(x, stack, threads))
    ids = torch.tensor(real_engine.tokenizer.encode("The capital of France is Paris, and the capital of Italy is"))
    with torch.inference_mode():
        real_engine.locked(model, ids)
    if not library.long_kernel:
        assert calls == []
        return
    layers = model.cfg.n_layers
    assert sorted(calls) == sorted([(len(ids), 3)] * layers + [(len(ids), 2)] * layers + [(len(ids), 1)] * 2 * layers)


@pytest.mark.parametrize("rows", [1, 3, 7])
def test_stacked_matrices_give_each_ones_product_side_by_side(library, rows):
    """q, k and v (gate and up) read the same input: one call multiplies by all three, and each
    matrix's columns are its own product, equal (whole rows, same sums) whatever the threads."""
    parts = [random_q4_1(n, 128, seed=n) for n in (96, 32, 200)]
    x = torch.randn(rows, 128, generator=torch.Generator().manual_seed(rows))
    stack = library.stack(parts)
    separate = torch.cat([library.matmul(x, p, 1) for p in parts], dim=1)
    for threads in (1, 2, 3):
        assert torch.equal(library.matmul_stacked(x, stack, threads), separate)
    assert library.stack([random_q4_1(8, 64), random_q8_0(8, 64)]) is None
    assert library.stack([random_q4_1(8, 64), random_q4_1(8, 128)]) is None


@pytest.mark.real
def test_the_loaded_model_fuses_projections_in_short_passes_only(real_engine):
    model = real_engine.model
    fused = [m for m in model.modules() if isinstance(m, (Attention, SwiGLU)) and m.kernel is not None]
    assert len(fused) == 2 * model.cfg.n_layers
    ids = torch.tensor(real_engine.tokenizer.encode("The capital of France is"))
    with torch.inference_mode():
        together = real_engine.locked(model, ids)
        saved = [(m, m.kernel) for m in fused]
        try:
            for m in fused:
                m.kernel = None
            apart = real_engine.locked(model, ids)
        finally:
            for m, k in saved:
                m.kernel = k
    assert (together - apart).abs().max() < 1e-4


# ---- the norm and activation kernels -------------------------------------------------------------

@pytest.fixture(scope="module", params=["native", "plain C"])
def any_build(request, tmp_path_factory, library):
    """This machine's build, and the portable loop (every machine can run it)."""
    if request.param == "native":
        return library
    target = tmp_path_factory.mktemp("plain") / "blockmatmul-plain.so"
    compile_library(target, ["-O3", "-std=c11", "-shared", "-fPIC"])
    return Library(target)


@pytest.mark.parametrize("rows", [1, 7, 64, 200])
def test_rms_norm_is_torchs_to_float32_rounding(any_build, rows):
    g = torch.Generator().manual_seed(rows)
    wide = torch.randn(rows, 700, generator=g) * 5
    x = wide[:, 50:626]  # rows 700 apart, as a slice of a wider tensor
    weight = torch.randn(576, generator=g)
    expected = torch.nn.functional.rms_norm(x, (576,), weight, 1e-5)
    for threads in (1, 2):
        got = any_build.rms_norm(x, weight, 1e-5, threads)
        assert torch.allclose(got, expected, rtol=2e-6, atol=1e-7), (rows, threads)


@pytest.mark.parametrize("rows", [1, 5, 130])
def test_silu_times_up_is_torchs_to_float32_rounding(any_build, rows):
    """Over the whole range a gate takes, from where e^-x overflows to where silu is x."""
    g = torch.Generator().manual_seed(rows)
    fused = torch.randn(rows, 2 * 1000, generator=g) * 4
    fused[0, :1000] = torch.linspace(-120, 120, 1000)
    gate, up = fused[:, :1000], fused[:, 1000:]
    expected = torch.nn.functional.silu(gate.double()) * up.double()
    for threads in (1, 2):
        got = any_build.silu_mul(gate, up, threads)
        assert torch.allclose(got.double(), expected, rtol=1e-6, atol=1e-30), (rows, threads)
    torch_error = (torch.nn.functional.silu(gate) * up - expected).abs().max()
    assert (any_build.silu_mul(gate, up) - expected).abs().max() <= 4 * torch_error
    # far below zero silu is 0 (torch: -0, and NaN at -inf where its e^-x overflows), never -inf
    ends = torch.tensor([[-float("inf"), -1e30, -200.0, -86.0, 88.0, 200.0, 1e30, float("inf")] * 2])
    got = any_build.silu_mul(ends, torch.ones_like(ends))[0]
    assert got[:3].eq(0).all() and got[8:11].eq(0).all()
    assert got[4:8].equal(ends[0, 4:8]) and got[12:].equal(ends[0, 12:])
    assert 0 > got[3] > -1e-30


def test_norm_and_activation_read_any_row_stride(any_build):
    """Rows are only read: a row repeated (stride 0, as expand gives) is as good as any."""
    weight = torch.randn(576)
    one = torch.randn(576)
    x = one.expand(3, 576)
    assert torch.allclose(any_build.rms_norm(x, weight, 1e-5),
                          torch.nn.functional.rms_norm(x, (576,), weight, 1e-5), rtol=2e-6, atol=1e-7)
    gate = torch.randn(1536).expand(2, 1536)
    assert torch.allclose(any_build.silu_mul(gate, gate), torch.nn.functional.silu(gate) * gate, rtol=1e-6, atol=1e-7)


def test_norm_and_activation_kernels_refuse_what_they_cannot_compute(library):
    with pytest.raises(ValueError):
        library.rms_norm(torch.randn(4, 8).T, torch.ones(4), 1e-5)          # columns not adjacent
    with pytest.raises(ValueError):
        library.rms_norm(torch.randn(4, 8, dtype=torch.float64), torch.ones(8), 1e-5)
    fused = torch.randn(3, 10)
    with pytest.raises(ValueError):
        library.silu_mul(fused[:, :5], fused[:, :5].contiguous())           # different strides
    with pytest.raises(ValueError):
        library.silu_mul(fused[:, :4], fused[:, 5:])                        # different shapes


@pytest.mark.real
def test_the_loaded_model_norms_and_activates_in_c_without_gradients_only(real_engine):
    """Attached to every norm and MLP; a pass that wants gradients (attribution) goes through torch's
    own operations."""
    from model.speed import ActivationKernel, NormKernel
    from model.llama import RMSNorm

    model = real_engine.model
    norms = [m for m in model.modules() if isinstance(m, RMSNorm)]
    assert norms and all(isinstance(m.kernel, NormKernel) for m in norms)
    assert all(isinstance(m.activation, ActivationKernel) for m in model.modules() if isinstance(m, SwiGLU))
    x = torch.randn(5, model.cfg.d_model, requires_grad=True)
    norm = norms[0]
    assert norm.kernel(x, norm.weight, norm.eps) is None
    with torch.no_grad():
        assert norm.kernel(x, norm.weight, norm.eps) is not None
    with model.float32_only():
        assert all(m.kernel is None for m in norms)
    assert all(isinstance(m.kernel, NormKernel) for m in norms)


# ---- attention of a few new tokens ---------------------------------------------------------------

def reference_attention(q, k, v, causal):
    """The model's own torch arithmetic (Attention.forward), in float64."""
    h, n, dh = q.shape
    g, n_k, _ = k.shape
    group = h // g
    scores = (q.double().reshape(g, group * n, dh) @ k.double().transpose(1, 2)).view(h, n, n_k) / dh ** 0.5
    if causal:
        future = torch.arange(n_k)[None, :] > (n_k - n + torch.arange(n))[:, None]
        scores = scores.masked_fill(future, float("-inf"))
    pattern = scores.softmax(-1)
    return pattern, (pattern.reshape(g, group * n, n_k) @ v.double()).view(h, n, dh)


@pytest.mark.parametrize("n,cached", [(1, 0), (1, 40), (3, 64), (7, 0), (16, 5)])
def test_few_token_attention_is_torchs_to_float32_rounding(any_build, n, cached):
    """q as the model has it (a transposed view), k and v as the cache keeps them (the seen positions
    of a buffer with room after them): grouped heads, the causal mask offset by the cached keys."""
    gen = torch.Generator().manual_seed(n * 100 + cached)
    h, g, dh, n_k = 9, 3, 64, n + cached
    q = torch.randn(n, h, dh, generator=gen).transpose(0, 1)
    room_k = torch.randn(g, n_k + 11, dh, generator=gen) * 2
    room_v = torch.randn(g, n_k + 11, dh, generator=gen)
    k, v = room_k[:, :n_k], room_v[:, :n_k]
    for causal in (True, False):
        pattern, z = any_build.attention(q, k, v, causal)
        want_pattern, want_z = reference_attention(q, k, v, causal)
        assert torch.allclose(pattern.double(), want_pattern, atol=2e-6), (n, cached, causal)
        assert torch.allclose(z.double(), want_z, atol=2e-5), (n, cached, causal)
        if causal and n > 1:
            assert pattern[:, 0, n_k - n + 1:].abs().max() == 0  # the future weighs exactly nothing
        assert torch.allclose(pattern.sum(-1), torch.ones(h, n), atol=1e-5)


def test_few_token_attention_refuses_what_it_cannot_compute(library):
    q, k = torch.randn(9, 2, 64), torch.randn(3, 5, 64)
    with pytest.raises(ValueError):
        library.attention(q, k, torch.randn(3, 6, 64), True)              # v not like k
    with pytest.raises(ValueError):
        library.attention(torch.randn(8, 2, 64), k, k, True)              # 8 heads do not share 3
    with pytest.raises(ValueError):
        library.attention(torch.randn(9, 7, 64), k, k, True)              # more new tokens than keys
    with pytest.raises(ValueError):
        library.attention(q.double(), k, k, True)


@pytest.mark.parametrize("n,cached,h,g,dh", [(17, 0, 9, 3, 64), (256, 0, 9, 3, 64), (40, 23, 9, 3, 64),
                                              (31, 2, 4, 2, 48), (50, 0, 3, 3, 20), (23, 9, 2, 1, 8)])
def test_long_attention_is_torchs_to_float32_rounding_whatever_the_threads(avx2_library, n, cached, h, g, dh):
    """The tiles of 6 query rows by 16 keys: uneven row and key counts, head sizes that are not a
    multiple of 16, the causal mask offset by cached keys, q as a transposed view and k, v with room."""
    gen = torch.Generator().manual_seed(n * 1000 + cached)
    n_k = n + cached
    q = torch.randn(n, h, dh, generator=gen).transpose(0, 1)
    room_k = torch.randn(g, n_k + 5, dh, generator=gen) * 2
    room_v = torch.randn(g, n_k + 5, dh, generator=gen)
    k, v = room_k[:, :n_k], room_v[:, :n_k]
    for causal in (True, False):
        pattern, z = avx2_library.attention_long(q, k, v, causal, 1)
        want_pattern, want_z = reference_attention(q, k, v, causal)
        assert torch.allclose(pattern.double(), want_pattern, atol=2e-6), (n, cached, causal)
        assert torch.allclose(z.double(), want_z, atol=2e-5), (n, cached, causal)
        if causal:
            future = torch.arange(n_k)[None, :] > (cached + torch.arange(n))[:, None]
            assert pattern[:, future].abs().max() == 0  # the future weighs exactly nothing
        for threads in (2, 3):
            again = avx2_library.attention_long(q, k, v, causal, threads)
            assert torch.equal(again[0], pattern) and torch.equal(again[1], z)


def test_a_nan_stays_nan_as_in_torch(avx2_library):
    """e^x by the polynomial (exp8) clamps its input: a NaN must not be clamped into a number, or a
    NaN in the activations would silently turn into a weight of about 0 instead of showing."""
    gate, up = torch.randn(2, 20), torch.randn(2, 20)
    gate[0, 3] = gate[1, 17] = float("nan")  # one in the 8-wide part, one in the tail
    assert torch.equal(avx2_library.silu_mul(gate, up).isnan(), (torch.nn.functional.silu(gate) * up).isnan())
    q, k, v = torch.randn(9, 40, 64), torch.randn(3, 40, 64), torch.randn(3, 40, 64)
    k[0, 5, 3] = float("nan")
    want = reference_attention(q, k, v, True)[0].isnan().any(-1)  # rows that see the NaN key: every row after it
    assert torch.equal(avx2_library.attention_long(q, k, v, True, 2)[0].isnan().any(-1), want)
    assert torch.equal(avx2_library.attention(q[:, -3:], k, v, True)[0].isnan().any(-1), want[:, -3:])
    assert not bool(want[:, :5].any()) and bool(want[:3, 5:].all())


def test_long_attention_refuses_what_it_cannot_compute(avx2_library, tmp_path):
    k = torch.randn(3, 20, 64)
    with pytest.raises(ValueError):
        avx2_library.attention_long(torch.randn(9, 21, 64), k, k, True)   # more new tokens than keys
    with pytest.raises(ValueError):
        avx2_library.attention_long(torch.randn(8, 20, 64), k, k, True)   # 8 heads do not share 3
    plain = tmp_path / "blockmatmul-plain.so"
    compile_library(plain, ["-O3", "-std=c11", "-shared", "-fPIC"])
    with pytest.raises(ValueError):
        Library(plain).attention_long(torch.randn(9, 20, 64), k, k, True)


@pytest.mark.parametrize("n", [3, 9, 30])
def test_the_attention_core_honours_pattern_replacements_and_other_masks(avx2_library, n):
    """On the tiny model with the cores attached (row by row up to 6 new tokens, tiles above): the
    same logits as torch's path; a hook that returns a replacement pattern changes z as on torch's
    path; a mask that is not the plain causal one (attribution's copies side by side, which must not
    see each other) goes to torch's operations, so the copies stay apart."""
    from model import attribution as A
    from model.speed import use_elementwise
    from model.tiny import tiny_model

    model, _ = tiny_model(seed=2)
    ids = torch.randint(0, model.cfg.vocab_size, (n,), generator=torch.Generator().manual_seed(n))

    def uniform_head_1(pattern, name):
        out = pattern.clone()
        out[1] = torch.ones_like(out[1]).tril() / torch.arange(1, n + 1)[:, None]
        return out
    replaced = {f"blocks.{i}.attn.pattern": uniform_head_1 for i in range(model.cfg.n_layers)}
    read = A.direction(model, 3).float()
    with torch.no_grad():
        want, want_replaced = model(ids), None
        with model.hooks(replaced):
            want_replaced = model(ids)
        x = model.embed(ids)
        want_copies = torch.stack([A.batched_f(model, (x * 0.5)[None], read)[0], A.batched_f(model, x[None], read)[0]])
        use_elementwise(model, avx2_library)
        assert model.positions(0, n).causal and model.positions(4, n).causal
        assert torch.allclose(model(ids), want, atol=1e-4)
        with model.hooks(replaced):
            got_replaced = model(ids)
        assert torch.allclose(got_replaced, want_replaced, atol=1e-4)
        assert (got_replaced - want).abs().max() > 1e-3  # the replacement did change something
        copies = A.batched_f(model, torch.stack([x * 0.5, x]), read)
    assert torch.allclose(copies, want_copies, atol=1e-4)


@pytest.mark.real
def test_the_loaded_model_attends_in_c_and_still_honours_z_hooks(real_engine):
    """Generation, typing and (where the long kernels are built) long passes go through the attention
    core; a hook on z (head ablation) still changes the result as on torch's path (hooks that replace
    the pattern: the tiny-model test above)."""
    from model.ablation import ablated_next_logits
    from model.analysis import analyse_ids
    from model.speed import AttentionCore

    model = real_engine.model
    attns = [m for m in model.modules() if isinstance(m, Attention)]
    assert attns and all(isinstance(m.core, AttentionCore) for m in attns)
    calls = []
    core = attns[0].core
    real_call = AttentionCore.__call__

    def counting(self, q, k, v, masked):
        out = real_call(self, q, k, v, masked)
        calls.append((q.shape[1], out is not None))
        return out

    ids = real_engine.tokenizer.encode("The capital of France is Paris, and the capital of Italy is Rome. The capital "
                                       "of Spain is Madrid, and the capital of")
    assert len(ids) - 3 > core.most
    AttentionCore.__call__ = counting
    try:
        short = real_engine.locked(analyse_ids, model, ids[:5])
        previous = real_engine.locked(analyse_ids, model, ids[:-3])
        typed = real_engine.locked(analyse_ids, model, ids, previous=previous)
        ablated = real_engine.locked(ablated_next_logits, short, [(3, 2), (7, 0)])
    finally:
        AttentionCore.__call__ = real_call
    assert (5, True) in calls and (3, True) in calls and (len(ids) - 3, core.library.long_kernel) in calls
    with model.float32_only():
        assert all(m.core is None for m in attns)
        short_torch = real_engine.locked(analyse_ids, model, ids[:5])
        previous_torch = real_engine.locked(analyse_ids, model, ids[:-3])
        typed_torch = real_engine.locked(analyse_ids, model, ids, previous=previous)
        ablated_torch = real_engine.locked(ablated_next_logits, short_torch, [(3, 2), (7, 0)])
    assert attns[0].core is core
    assert (short.attn_pattern - short_torch.attn_pattern).abs().max() < 1e-5
    assert (typed.attn_pattern - typed_torch.attn_pattern).abs().max() < 1e-5
    assert (previous.attn_pattern - previous_torch.attn_pattern).abs().max() < 1e-5
    assert (ablated - ablated_torch).abs().max() < 1e-3
    assert (ablated - short.next_logits).abs().max() > 0.01  # the ablation did change something
