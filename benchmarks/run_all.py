"""Run every benchmark and print figures and ratios measured in the same run.

    make bench     (or: .venv/bin/python -m benchmarks.run_all)

Close other work first: these machines are small and timings follow the load.
"""

import os
import platform

import torch

from benchmarks import (bench_attribution, bench_busy, bench_first_visit, bench_learn, bench_memory, bench_model,
                        bench_server, bench_start)


def main() -> None:
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    bench_start.main()
    bench_model.main()
    bench_busy.main()
    bench_server.main()
    bench_learn.main()
    bench_attribution.main()
    bench_memory.main()
    bench_first_visit.main()


if __name__ == "__main__":
    main()
