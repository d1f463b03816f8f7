"""transformer-tour's web layer: FastAPI app, JSON API under /api, Jinja2 pages."""

import os

# OpenMP threads that finish their share of a parallel product sleep instead of spinning for the
# next one. Spinning costs nothing on an idle machine, but when another process wants the CPU
# the spinning thread takes its core and the thread still working waits behind it: a 64-token
# analysis on two threads took 3.6-10 s instead of 0.18-0.29 s on this 2-core machine while
# other work ran (docs/PERFORMANCE.md). OpenMP reads this once, when torch loads it, so it is set
# here, before anything imports torch; a value the user set is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
