"""Reproducible speed and size measurements; `make bench` runs them all (`python -m benchmarks.run_all`)."""

import app  # noqa: F401  (sets OpenMP's wait policy before torch loads, as the server does)
