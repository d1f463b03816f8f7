"""How a loaded model is made fast, attached from outside the architecture (model/llama.py).

- **Block kernels.** `use_blocks` gives each projection a `BlockKernel` (its `Linear.kernel`):
  up to `max_rows` rows are multiplied straight by the GGUF's quantised blocks
  (model/blockmatmul.py), a fifth of the bytes of the float32 weights and the same numbers to
  float32 rounding. Short passes (a generated token, a few typed ones) are bound by reading the
  weights, so this is what makes them fast.
- **Fused projections.** `fuse_projections`: attention's q, k and v, and the MLP's gate and up,
  read the same input, so a short pass multiplies by all their blocks in one call of the kernel
  (`Library.matmul_stacked`, the matrices where they are: no stacked copy) instead of three and
  two calls, each a hand-over to the kernel's threads. A long pass, or one whose projections are
  observed with torch hooks (model/inside.py), computes them one by one.
- **oneDNN for longer passes.** Above `max_rows` the product is arithmetic on the float32
  weights; `OneDnnKernel` does it with oneDNN, which uses this CPU's widest vector unit (MKL,
  torch's default for `F.linear`, runs its AVX2 code on AMD processors: half the speed). On an
  Intel Xeon MKL runs AVX-512 and was about 10% faster, but its memory manager keeps its packing
  buffers: the memory benchmark's peak was 1.69 GB against 1.46 GB with oneDNN (bound 1.5 GB), so
  oneDNN stays everywhere (docs/PERFORMANCE.md).
- **One thread for few tokens, except the block kernel.** `few_tokens_one_thread` is the model's
  `around_pass`: passes of up to `FEW_TOKENS` tokens run torch's own operations on one intra-op
  thread (see below), while the block kernel splits its rows over the job's threads
  (`kernel_threads`): decoding the 4-bit codes, not memory, bounds one thread on some machines.
- **Threads sized to the free cores.** `CoreWatch` measures how much CPU other processes used
  in the last half second; `ThreadBudget.job` gives each job of the engine as many threads as
  there are cores nobody else is using (at least one), and a long pass asks again between its
  blocks (`recheck_threads`, from the last 0.2 s): a browser busy with the navigation that asked
  for the pass is often idle before the pass ends. A thread that shares its core with a busy
  process makes every other thread wait for it at each barrier of a split product, so the pass
  would be slower than on one thread. (app/__init__.py also shortens how long OpenMP's waiting
  threads spin before they sleep: GOMP_SPINCOUNT=10000.)

`load_engine` (app/engine.py) attaches all of them; a model built without them (the tiny test
model, a notebook) computes the same numbers on the float32 weights with torch's default threads.
"""

from __future__ import annotations

import math
import os
import threading
from collections import deque
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import torch

from model.blockmatmul import BlockWeights, Library, Stack
from model.llama import Attention, Linear, Llama, RMSNorm, SwiGLU

# A pass over a few tokens is bound by reading the weights (540 MB for SmolLM2 in float32, 110 MB
# in its quantised blocks), and one core already streams them at the memory's full speed: on
# float32 weights, measured 53 ms per token with 1 thread or 2 on an idle 2-core machine, but
# 54 ms against 196 ms when another process keeps one core busy (a second thread then waits at
# every barrier). The block kernel runs on one thread in any case. So short passes, one
# generated token or a few typed ones, run on one thread and leave the other core to the web
# server. From about 8 tokens on, the arithmetic starts to count and two threads win (63 against
# 80 ms at 8).
FEW_TOKENS = 4


_short_pass = threading.local()  # .threads: the job's thread count while a short pass runs on one


def kernel_threads() -> int:
    """Threads for a block-kernel product: the job's count (the engine's budget), also inside a
    short pass that runs torch's own operations on one thread."""
    return getattr(_short_pass, "threads", None) or torch.get_num_threads()


@contextmanager
def few_tokens_one_thread(n_tokens: int) -> Iterator[Callable[[], None] | None]:
    """One intra-op thread for torch's operations in short passes (the block kernel keeps the
    job's threads: `kernel_threads`). A pass of RECHECK_FROM tokens or more gets `recheck_threads`
    to call between its blocks."""
    before = torch.get_num_threads()
    if n_tokens > FEW_TOKENS:
        yield recheck_threads if n_tokens >= RECHECK_FROM else None
        return
    if before == 1:
        yield None
        return
    _short_pass.threads = before
    torch.set_num_threads(1)
    try:
        yield None
    finally:
        torch.set_num_threads(before)
        _short_pass.threads = None


def short_enough(x: torch.Tensor, max_rows: int) -> bool:
    """Whether a block kernel takes x: 1 to max_rows rows, and no gradient wanted."""
    return x.dim() == 2 and 0 < x.shape[0] <= max_rows and not x.requires_grad


def long_pass(x: torch.Tensor, library: Library) -> bool:
    """Whether the long-pass block kernel takes x: built here, float32 rows, no gradient wanted."""
    return (library.long_kernel and x.dim() == 2 and x.shape[0] > 0 and x.dtype == torch.float32
            and not x.requires_grad)


class BlockKernel:
    """A `Linear.kernel`: x (m, in) @ W^T from W's quantised blocks, by the few-row kernel when
    1 <= m <= max_rows and by the long-pass one (where built, Q4_1) above; for anything else
    `longer` (a kernel of the float32 weight, or None: F.linear then)."""

    def __init__(self, blocks: BlockWeights, library: Library, max_rows: int,
                 longer: Callable[[torch.Tensor], torch.Tensor | None] | None = None):
        self.blocks, self.library, self.max_rows, self.longer = blocks, library, max_rows, longer
        self.alone = library.stack([blocks]) if library.long_kernel else None  # None: not Q4_1

    def __call__(self, x: torch.Tensor) -> torch.Tensor | None:
        if short_enough(x, self.max_rows):
            return self.library.matmul(x, self.blocks, kernel_threads())
        if self.alone is not None and long_pass(x, self.library):
            return self.library.matmul_long(x, self.alone, kernel_threads())
        return self.longer(x) if self.longer is not None else None


class OneDnnKernel:
    """A `Linear.kernel`: x @ W^T on the float32 weight through oneDNN, for inference (no
    gradient: oneDNN's op has no backward in torch, so a pass that needs one gets F.linear).
    Same arithmetic as F.linear in another order: float32 rounding, checked by the parity tests."""

    def __init__(self, weight: torch.Tensor):
        self.weight = weight

    def __call__(self, x: torch.Tensor) -> torch.Tensor | None:
        if x.dim() != 2 or x.dtype != torch.float32 or x.shape[0] == 0 or (
                torch.is_grad_enabled() and x.requires_grad):
            return None
        return torch.ops.mkldnn._linear_pointwise(x, self.weight, None, "none", [], "")


def onednn_available() -> bool:
    """Whether this torch build has oneDNN's linear op and it computes x @ W^T here."""
    try:
        if not torch.backends.mkldnn.is_available():
            return False
        x, w = torch.randn(3, 64), torch.randn(8, 64)
        got = torch.ops.mkldnn._linear_pointwise(x, w, None, "none", [], "")
        return bool(torch.allclose(got, x @ w.T, atol=1e-4))
    except (AttributeError, RuntimeError):
        return False


def use_blocks(model: Llama, library: Library | None, blocks: dict[str, BlockWeights], max_rows: int = 12,
               onednn: bool = False) -> int:
    """Let passes of up to `max_rows` tokens multiply by quantised blocks (keyed like the
    weights: "blocks.0.attn.q_proj.weight"; a tied unembedding uses "embed.weight"), and with
    `onednn` longer passes through oneDNN. Without a library, or with max_rows 0, every pass uses
    the float32 weights. Returns how many matrices now have blocks."""
    attached = 0
    for name, module in model.named_modules():
        if not isinstance(module, Linear):
            continue
        key = "embed.weight" if module.weight is model.embed.weight else name + ".weight"
        found = blocks.get(key) if library is not None and max_rows > 0 else None
        if found is not None and found.shape != tuple(module.weight.shape):
            raise ValueError(f"blocks for {key} are {found.shape}, the weight is {tuple(module.weight.shape)}")
        longer = OneDnnKernel(module.weight) if onednn else None
        module.kernel = (BlockKernel(found, library, min(max_rows, library.max_rows), longer)
                         if found is not None else longer)
        attached += found is not None
    return attached


class StackedKernel:
    """The `kernel` of a module whose projections read the same input (attention's q, k and v;
    the MLP's gate and up): their products side by side from one call of the block kernel, for
    passes of up to `max_rows`; None otherwise (each projection then runs its own kernel)."""

    def __init__(self, stack: Stack, library: Library, max_rows: int):
        self.stack, self.library, self.max_rows = stack, library, max_rows

    def __call__(self, x: torch.Tensor) -> torch.Tensor | None:
        if short_enough(x, self.max_rows):
            return self.library.matmul_stacked(x, self.stack, kernel_threads())
        if long_pass(x, self.library):
            return self.library.matmul_long(x, self.stack, kernel_threads())
        return None


def fuse_projections(model: Llama) -> int:
    """Attention's q, k and v, and the MLP's gate and up, read the same input: where each has a
    block kernel, one call multiplies by all their blocks (a generated token: 90 fewer calls, each
    a hand-over to the kernel's threads). Returns how many modules now fuse."""
    fused = 0
    for block in model.blocks:
        for module in (block.attn, block.mlp):
            kernels = [p.kernel for p in module.projections()]
            module.kernel = None
            if not all(isinstance(k, BlockKernel) for k in kernels):
                continue
            stack = kernels[0].library.stack([k.blocks for k in kernels])
            if stack is not None:
                module.kernel = StackedKernel(stack, kernels[0].library, min(k.max_rows for k in kernels))
                fused += 1
    return fused


class NormKernel:
    """An `RMSNorm.kernel`: the norm in one pass over the numbers (model/blockmatmul.c), for float32
    rows when no gradient is wanted; None otherwise (F.rms_norm then)."""

    def __init__(self, library: Library):
        self.library = library

    def __call__(self, x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor | None:
        if (x.dim() != 2 or x.dtype != torch.float32 or (x.shape[1] > 1 and x.stride(1) != 1) or x.shape[0] == 0
                or (torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad))):
            return None
        return self.library.rms_norm(x, weight, eps, kernel_threads())


class ActivationKernel:
    """A `SwiGLU.activation`: silu(gate) * up in one pass, for the float32 halves of the fused
    gate-and-up product when no gradient is wanted; None otherwise (torch's two operations then)."""

    def __init__(self, library: Library):
        self.library = library

    def __call__(self, gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor | None:
        if (gate.dim() != 2 or gate.dtype != torch.float32 or up.dtype != torch.float32
                or gate.shape != up.shape or gate.stride() != up.stride() or (gate.shape[1] > 1 and gate.stride(1) != 1)
                or gate.shape[0] == 0 or (torch.is_grad_enabled() and (gate.requires_grad or up.requires_grad))):
            return None
        return self.library.silu_mul(gate, up, kernel_threads())


class AttentionCore:
    """An `Attention.core`: pattern and z of a pass in one call when no gradient is wanted, None
    otherwise (torch's operations then). Up to `most` new tokens, one query row at a time on one
    thread (model/blockmatmul.c `tt_attention`); longer passes in register tiles that skip the
    future's keys, on the job's threads (`tt_attention_long`, where the long kernels are built:
    a 256-token layer 1.2 against torch's 2-6 ms on the Zen 3; elsewhere torch's batched products).
    `most` defaults to 6 where the tiles are built (one thread, 512 keys: 4 new tokens 0.20 ms row
    by row against 0.28 in tiles, 8 tokens 0.39 against 0.28) and to 16 elsewhere."""

    def __init__(self, library: Library, most: int | None = None):
        self.library = library
        self.most = most if most is not None else (6 if library.long_kernel else 16)

    def __call__(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, masked: bool
                 ) -> tuple[torch.Tensor, torch.Tensor] | None:
        long = q.shape[1] > self.most
        if ((long and not self.library.long_kernel) or q.dtype != torch.float32 or k.dtype != torch.float32
                or k.stride() != v.stride() or q.stride(2) != 1 or k.stride(2) != 1
                or (torch.is_grad_enabled() and (q.requires_grad or k.requires_grad or v.requires_grad))):
            return None
        if long:
            return self.library.attention_long(q, k, v, masked)
        return self.library.attention(q, k, v, masked)


def use_elementwise(model: Llama, library: Library | None) -> int:
    """Attach the norm, activation and attention kernels (None: take them off). Returns
    how many modules have one."""
    attached = 0
    for module in model.modules():
        if isinstance(module, Attention):
            module.core = AttentionCore(library) if library is not None else None
            attached += library is not None
        elif isinstance(module, RMSNorm):
            module.kernel = NormKernel(library) if library is not None else None
            attached += library is not None
        elif isinstance(module, SwiGLU):
            module.activation = ActivationKernel(library) if library is not None else None
            attached += library is not None
    return attached


def block_rows(model: Llama) -> int:
    """The longest pass whose every projection reads quantised blocks (0: none do, or kernels are off)."""
    return min((m.kernel.max_rows if isinstance(m.kernel, BlockKernel) else 0
                for m in model.modules() if isinstance(m, Linear)), default=0)


def make_fast(model: Llama, library: Library | None, blocks: dict[str, BlockWeights], max_rows: int,
              onednn: bool = True) -> int:
    """Everything `load_engine` attaches: the thread policy, block kernels up to `max_rows`
    (0: none) and above that the long-pass block kernel where it is built, oneDNN elsewhere; the
    norm, activation and attention kernels (with the block kernels' library). Returns
    how many matrices have blocks."""
    model.around_pass = few_tokens_one_thread
    attached = use_blocks(model, library if max_rows > 0 else None, blocks, max_rows,
                          onednn=onednn and onednn_available())
    fuse_projections(model)
    use_elementwise(model, library if max_rows > 0 else None)
    return attached


# --- threads sized to the cores nobody else is using -------------------------------------------

def cgroup_cpu_limit(root: Path = Path("/sys/fs/cgroup"), membership: str | None = None) -> float | None:
    """The CPU quota of this process's cgroup in cores (a container's `--cpus`), or None.
    `membership` is /proc/self/cgroup's text (read when not given)."""
    try:
        lines = (membership if membership is not None else Path("/proc/self/cgroup").read_text()).splitlines()
    except OSError:
        return None
    limits = []
    for line in lines:
        if line.count(":") < 2:
            continue
        _, controllers, path = line.split(":", 2)
        if controllers == "":                                         # cgroup v2: cpu.max "quota period"
            found = root / path.lstrip("/") / "cpu.max"
            try:
                quota, period = found.read_text().split()
            except (OSError, ValueError):
                continue
            if quota != "max":
                limits.append(int(quota) / int(period))
        elif "cpu" in controllers.split(","):                         # cgroup v1: cfs quota and period
            folder = root / "cpu" / path.lstrip("/")
            try:
                quota = int((folder / "cpu.cfs_quota_us").read_text())
                period = int((folder / "cpu.cfs_period_us").read_text())
            except (OSError, ValueError):
                continue
            if quota > 0 and period > 0:
                limits.append(quota / period)
    return min(limits) if limits else None


def _affinity_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _quota_cores() -> int | None:
    limit = cgroup_cpu_limit()
    return None if limit is None else max(1, math.ceil(limit - 0.05))


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity, cut to a container's CPU quota."""
    cores, quota = _affinity_cores(), _quota_cores()
    return max(1, min(cores, quota) if quota is not None else cores)


def watch_other_processes() -> CoreWatch | None:
    """A started CoreWatch, or None where the load on our CPUs says nothing about our share: under
    a container's CPU quota smaller than the CPUs it may run on, the host's other processes do
    not take from that quota (the budget then uses the quota's cores)."""
    quota = _quota_cores()
    if quota is not None and quota < _affinity_cores():
        return None
    return CoreWatch().start()


def process_cpu_ticks(pid: int | str = "self") -> int:
    """CPU time a process has used (user + system, all its threads), in clock ticks, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    return int(fields[11]) + int(fields[12])  # utime, stime


def cpu_sample(cpus: set[int] | None = None) -> tuple[float, float, float] | None:
    """(CPU time used by all processes, elapsed CPU time, this process's CPU time), in clock ticks
    since boot, over the CPUs in `cpus` (default: this process's affinity); None off Linux."""
    try:
        cpus = cpus if cpus is not None else os.sched_getaffinity(0)
        busy = total = 0
        with open("/proc/stat") as f:
            for line in f:
                if not line.startswith("cpu") or line.startswith("cpu "):
                    if busy or total:
                        break
                    continue
                name, *fields = line.split()
                if int(name[3:]) not in cpus:
                    continue
                ticks = [int(v) for v in fields[:8]]  # user nice system idle iowait irq softirq steal
                total += sum(ticks)
                busy += sum(ticks) - ticks[3] - ticks[4]
        return float(busy), float(total) / len(cpus), float(process_cpu_ticks())
    except (OSError, ValueError, IndexError, AttributeError, ZeroDivisionError):
        return None


class CoreWatch:
    """How many cores other processes kept busy lately (averaged over the last `window` seconds),
    sampled every `every` seconds by a daemon thread; 0 where /proc is not readable.

    Other processes' time is all CPU time spent on our cores minus our own process's time, so the
    engine's threads never count themselves as the load."""

    def __init__(self, every: float = 0.1, window: float = 0.5,
                 sample: Callable[[], tuple[float, float, float] | None] = cpu_sample):
        self.every, self.sample = every, sample
        self._samples: deque = deque(maxlen=max(2, round(window / every) + 1))
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def tick(self) -> None:
        found = self.sample()
        if found is not None:
            with self._lock:
                self._samples.append(found)

    def busy_elsewhere(self, window: float | None = None) -> float:
        """Cores used by other processes, on average over the window, or over the last `window`
        seconds of it (0 before two samples)."""
        with self._lock:
            if len(self._samples) < 2:
                return 0.0
            first = 0 if window is None else max(0, len(self._samples) - 1 - max(1, round(window / self.every)))
            (busy0, elapsed0, own0), (busy1, elapsed1, own1) = self._samples[first], self._samples[-1]
        if elapsed1 <= elapsed0:
            return 0.0
        return max(0.0, ((busy1 - busy0) - (own1 - own0)) / (elapsed1 - elapsed0))

    def start(self) -> CoreWatch:
        if self._thread is None and self.sample() is not None:
            self.tick()
            self._thread = threading.Thread(target=self._run, name="core-watch", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.tick()


# A long pass asks again between its blocks, from the last 0.2 s only: what it began with was decided
# on the last half second, and a browser busy with the navigation that asked for the pass is often idle
# a few hundred milliseconds later (measured: a ~200-token /predict from a page visit, started on one
# thread while Chromium set the page up, kept that one thread for its 1.2-1.3 s).
RECHECK_WINDOW = 0.2
# Only passes long enough for the cores to change under them: one of 32 tokens takes about 0.1 s here,
# no longer than the window itself (the server benchmark's ~15-token passes, 8 clients at once, served
# 9.0 and 8.6 requests/s with rechecks against 9.5 and 9.0 without: within its noise, but no gain to
# be had there).
RECHECK_FROM = 32

_job = threading.local()  # .budget: the ThreadBudget whose job runs on this thread, if any


def recheck_threads() -> None:
    """Between the blocks of a long pass: the running job's threads set again from the cores free
    now (a no-op outside a job of a ThreadBudget, as in a notebook)."""
    budget = getattr(_job, "budget", None)
    if budget is not None:
        budget.recheck()


class ThreadBudget:
    """Threads for each job: the free cores (usable cores minus those other processes keep busy,
    a core counting as busy from half its time), between 1 and `most`; set as torch's intra-op
    threads for the job, and set again between the blocks of a long pass (`recheck`)."""

    def __init__(self, most: int, watch: CoreWatch | None = None, cores: int | None = None):
        self.most, self.watch = max(1, most), watch
        self.cores = cores if cores is not None else usable_cores()
        self.last = min(self.most, self.cores)

    def threads(self, window: float | None = None) -> int:
        busy = self.watch.busy_elsewhere(window) if self.watch is not None else 0.0
        free = int(self.cores - busy + 0.5)
        return max(1, min(self.most, self.cores, free))

    @contextmanager
    def job(self) -> Iterator[int]:
        """Set the threads for one job (the engine runs one at a time); yields their number."""
        n = self.threads()
        self.last = n
        if torch.get_num_threads() != n:
            torch.set_num_threads(n)
        _job.budget = self
        try:
            yield n
        finally:
            _job.budget = None

    def recheck(self) -> None:
        """The running job's threads from the cores free in the last RECHECK_WINDOW seconds."""
        n = self.threads(RECHECK_WINDOW)
        if n != torch.get_num_threads():
            torch.set_num_threads(n)
            self.last = n
