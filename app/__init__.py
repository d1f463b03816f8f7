"""transformer-tour's web layer: FastAPI app, JSON API under /api, Jinja2 pages."""

import os

# OpenMP threads that finish their share of a parallel product spin only briefly (10,000 rounds)
# for the next one, then sleep. libgomp's default spins far longer: harmless on an idle machine,
# but when another process wants the CPU the spinning thread holds a core the working thread
# needs, and every barrier costs a scheduler time slice (a 64-token analysis forced onto two
# threads beside two busy loops: 0.39-8.2 s with the default spin). Too short a spin costs the
# idle speed instead: a thread that slept must be woken for the next product, and on some
# machines that costs as much as the second thread gains (Xeon, 2 threads: a 64-token analysis
# 166-176 ms at 1,000 rounds, 117-126 ms at 10,000, 172-175 ms on one thread; the threaded block
# kernel 40 against 51 tokens/s). The engine's thread budget gives a job one thread while other
# processes keep a core busy, so the long spin's cost is bounded to a process that starts in the
# middle of a pass. OpenMP reads this once, when torch loads it, so it is set here, before
# anything imports torch; values the user set are kept (docs/PERFORMANCE.md).
if "OMP_WAIT_POLICY" not in os.environ:
    os.environ.setdefault("GOMP_SPINCOUNT", "10000")
