"""transformer-tour's web layer: FastAPI app, JSON API under /api, Jinja2 pages."""

import os

# OpenMP threads that finish their share of a parallel product spin only briefly (1000 rounds)
# for the next one, then sleep. libgomp's default spins far longer: harmless on an idle machine,
# but when another process wants the CPU the spinning thread holds a core the working thread
# needs, and every barrier costs a scheduler time slice. Measured on this 2-core machine, a
# 64-token analysis forced onto two threads beside two busy loops: 0.39-8.2 s with the default
# spin, 0.18-0.23 s with 1000 rounds, 0.13 s never spinning (OMP_WAIT_POLICY=PASSIVE); but idle,
# never spinning made two threads no faster than one (124-149 ms against 72-93 ms spinning, 1000
# rounds included). OpenMP reads this once, when torch loads it, so it is set here, before
# anything imports torch; values the user set are kept (docs/PERFORMANCE.md).
if "OMP_WAIT_POLICY" not in os.environ:
    os.environ.setdefault("GOMP_SPINCOUNT", "1000")
