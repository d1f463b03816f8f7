"""Threads sized to the free cores, and oneDNN for long passes (model/speed.py): what each job
gets, measured from what other processes use; the numbers never depend on it."""

import subprocess
import sys
import time
from contextlib import contextmanager

import torch
import torch.nn.functional as F

from model import speed
from model.llama import Linear
from model.speed import (
    CoreWatch,
    OneDnnKernel,
    ThreadBudget,
    cgroup_cpu_limit,
    cpu_sample,
    onednn_available,
    usable_cores,
    watch_other_processes,
)


class FixedWatch:
    def __init__(self, busy: float):
        self.busy = busy

    def busy_elsewhere(self, window: float | None = None) -> float:
        return self.busy


def test_a_job_gets_the_cores_other_processes_leave_free():
    assert ThreadBudget(2, FixedWatch(0.0), cores=2).threads() == 2
    assert ThreadBudget(2, FixedWatch(0.3), cores=2).threads() == 2    # a browser drawing now and then
    assert ThreadBudget(2, FixedWatch(1.0), cores=2).threads() == 1    # one busy process: one thread
    assert ThreadBudget(2, FixedWatch(2.0), cores=2).threads() == 1    # never fewer than one
    assert ThreadBudget(8, FixedWatch(1.0), cores=4).threads() == 3
    assert ThreadBudget(1, FixedWatch(0.0), cores=2).threads() == 1    # TT_THREADS=1 stays 1
    assert ThreadBudget(4, None, cores=2).threads() == 2               # never more than the cores


def test_a_job_runs_on_its_threads():
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        budget = ThreadBudget(2, FixedWatch(1.0), cores=2)
        with budget.job() as n:
            assert n == 1 and torch.get_num_threads() == 1 and budget.last == 1
        budget.watch = FixedWatch(0.0)
        with budget.job() as n:
            assert n == 2 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_a_long_pass_takes_the_cores_freed_while_it_runs():
    """recheck_threads (called between a long pass's blocks) sets the running job's threads again, both
    ways; outside a job it changes nothing."""
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        watch = FixedWatch(1.0)
        budget = ThreadBudget(2, watch, cores=2)
        with budget.job() as n:
            assert n == 1
            watch.busy = 0.1                       # the browser has stopped drawing
            speed.recheck_threads()
            assert torch.get_num_threads() == 2 and budget.last == 2
            watch.busy = 1.2                       # another process started
            speed.recheck_threads()
            assert torch.get_num_threads() == 1 and budget.last == 1
        torch.set_num_threads(2)
        watch.busy = 1.0
        speed.recheck_threads()                    # no job: nothing to set
        assert torch.get_num_threads() == 2 and budget.last == 1
    finally:
        torch.set_num_threads(before)


def test_long_passes_recheck_between_blocks_short_ones_do_not(tiny_engine):
    """Llama.forward_from calls what the thread policy yields once per block; a pass under RECHECK_FROM
    tokens (a generated token, a typed word, a short prompt) gets nothing to call."""
    calls = []
    with speed.few_tokens_one_thread(speed.RECHECK_FROM) as long_pass, \
            speed.few_tokens_one_thread(speed.RECHECK_FROM - 1) as shorter, \
            speed.few_tokens_one_thread(speed.FEW_TOKENS) as short_pass:
        assert long_pass is speed.recheck_threads and shorter is None and short_pass is None
    model = tiny_engine.model
    saved = model.around_pass

    @contextmanager
    def counting(n_tokens):
        yield (lambda: calls.append(n_tokens)) if n_tokens > speed.FEW_TOKENS else None

    model.around_pass = counting
    try:
        with torch.inference_mode():
            model(torch.arange(speed.FEW_TOKENS + 3))
            assert calls == [speed.FEW_TOKENS + 3] * len(model.blocks)
            model(torch.arange(2))
            assert len(calls) == len(model.blocks)
    finally:
        model.around_pass = saved


def test_core_watch_reads_a_shorter_window_from_its_last_samples():
    # one other core busy for the first 0.3 s, then idle: the whole window says 0.6, the last 0.2 s 0
    ticks = iter([(0, 0, 0), (10, 10, 0), (20, 20, 0), (30, 30, 0), (30, 40, 0), (30, 50, 0)])
    watch = CoreWatch(every=0.1, window=0.5, sample=lambda: next(ticks))
    for _ in range(6):
        watch.tick()
    assert watch.busy_elsewhere() == 0.6 and watch.busy_elsewhere(0.2) == 0.0


def test_core_watch_counts_other_processes_time_not_its_own():
    # (all CPU time, elapsed time per CPU, this process's time), in ticks
    samples = iter([(0, 0, 0), (150, 100, 50), (300, 200, 100)])
    watch = CoreWatch(every=1, window=10, sample=lambda: next(samples))
    assert watch.busy_elsewhere() == 0.0           # nothing measured yet
    watch.tick(), watch.tick()
    assert watch.busy_elsewhere() == 1.0           # 150 ticks busy in 100, 50 of them ours
    watch.tick()
    assert watch.busy_elsewhere() == 1.0


def test_core_watch_sees_a_busy_process():
    if cpu_sample() is None:
        return  # not Linux: no /proc, the budget then uses every usable core
    busy = subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 20\nwhile time.time() < end: pass"])
    watch = CoreWatch(every=0.1, window=0.5).start()
    try:
        time.sleep(1.0)
        assert watch.busy_elsewhere() >= 0.7  # other processes on this machine only add to it
    finally:
        watch.stop()
        busy.kill()
        busy.wait()


def test_cgroup_quota_limits_the_usable_cores(tmp_path):
    v2 = tmp_path / "v2"
    (v2 / "box").mkdir(parents=True)
    (v2 / "box" / "cpu.max").write_text("150000 100000\n")
    assert cgroup_cpu_limit(v2, "0::/box\n") == 1.5
    (v2 / "box" / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_limit(v2, "0::/box\n") is None
    v1 = tmp_path / "v1"
    (v1 / "cpu" / "box").mkdir(parents=True)
    (v1 / "cpu" / "box" / "cpu.cfs_quota_us").write_text("100000\n")
    (v1 / "cpu" / "box" / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_cpu_limit(v1, "4:memory:/box\n3:cpu,cpuacct:/box\n") == 1.0
    (v1 / "cpu" / "box" / "cpu.cfs_quota_us").write_text("-1\n")
    assert cgroup_cpu_limit(v1, "3:cpu,cpuacct:/box\n") is None
    assert usable_cores() >= 1


def test_onednn_kernel_computes_the_float32_product():
    if not onednn_available():
        return  # a torch build without oneDNN keeps F.linear
    layer = Linear(576, 1536).requires_grad_(False)
    torch.nn.init.normal_(layer.weight, std=0.05)
    layer.kernel = OneDnnKernel(layer.weight)
    for rows in (1, 13, 64):
        x = torch.randn(rows, 576)
        exact = (x.double() @ layer.weight.double().T).float()
        assert torch.allclose(layer(x), exact, atol=1e-4, rtol=1e-5)


def test_onednn_kernel_leaves_gradients_to_f_linear():
    layer = Linear(64, 8)
    layer.kernel = OneDnnKernel(layer.weight)
    x = torch.randn(3, 64, requires_grad=True)
    layer(x).sum().backward()
    assert torch.allclose(x.grad, layer.weight.detach().sum(0).expand(3, 64), atol=1e-5)
    assert layer.kernel(x) is None
    assert torch.allclose(layer(x.detach()), F.linear(x.detach(), layer.weight), atol=1e-5)


def test_under_a_cpu_quota_the_hosts_load_is_not_ours(monkeypatch):
    """A container limited to 2 CPUs' time on a 64-CPU host: the host's busy cores do not take
    from the quota, so the budget uses the quota's cores without watching them."""
    monkeypatch.setattr(speed, "_affinity_cores", lambda: 64)
    monkeypatch.setattr(speed, "cgroup_cpu_limit", lambda: 2.0)
    assert usable_cores() == 2
    assert watch_other_processes() is None
    monkeypatch.setattr(speed, "cgroup_cpu_limit", lambda: None)
    watch = watch_other_processes()
    assert usable_cores() == 64 and (watch is not None or cpu_sample() is None)
    if watch is not None:
        watch.stop()


def test_the_app_shortens_openmps_spin_before_torch_loads():
    """OpenMP reads its wait settings once, when torch loads it: importing `app` sets a short spin
    unless the user chose a wait policy or spin count (docs/PERFORMANCE.md, 'On a shared machine')."""
    import os

    def spin_after_import(**env):
        base = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
        out = subprocess.run([sys.executable, "-c", "import os, app, sys; print(os.environ.get('GOMP_SPINCOUNT'),"
                              " 'torch' in sys.modules)"], env={**base, **env}, capture_output=True, text=True,
                             check=True)
        return out.stdout.split()

    assert spin_after_import() == ["10000", "False"]
    assert spin_after_import(GOMP_SPINCOUNT="50") == ["50", "False"]
    assert spin_after_import(OMP_WAIT_POLICY="PASSIVE") == ["None", "False"]

