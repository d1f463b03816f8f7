"""Reproducible speed and size measurements; `make bench` runs them all (`python -m benchmarks.run_all`)."""
