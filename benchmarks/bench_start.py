"""Start-up: first start (download + verify + dequantise) and later starts (weights cached)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks.common import header, row

ROOT = Path(__file__).resolve().parents[1]


def first_start() -> float:
    """Fetch the wheel into an empty folder, then load (dequantise + write the cache)."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "model.fetch", tmp], check=True, cwd=ROOT,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        code = ("from pathlib import Path; from model.weights import load_weights; "
                f"load_weights(Path({tmp!r}) / 'SmolLM2-135M-Instruct.Q4_1.gguf')")
        subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
        return time.perf_counter() - start


def server_ready_seconds(port: int = 8765, timeout: float = 60.0) -> float:
    """Seconds from launching uvicorn until GET /api/model answers 200 (weights cached).

    Asked every 10 ms by one client made before the launch: a refused connection then costs about
    0.3 ms. `httpx.get` builds a client, with its TLS context and certificate bundle, at every call
    (about 57 ms of CPU here): asked that way every 50 ms, the poller kept a core about half busy
    beside the starting server and saw it ready up to 0.1 s late (starts 0.27 s longer, median of 8
    paired starts)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with httpx.Client(timeout=1.0) as client:
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1",
                                 "--port", str(port), "--log-level", "warning"], cwd=ROOT, env=env)
        try:
            while time.perf_counter() - start < timeout:
                try:
                    if client.get(f"http://127.0.0.1:{port}/api/model").status_code == 200:
                        return time.perf_counter() - start
                except httpx.HTTPError:
                    pass
                time.sleep(0.01)
            raise RuntimeError("the server did not answer in time")
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def torch_import_seconds() -> float:
    """Seconds for a fresh interpreter to import torch: the part of a start that is torch's own
    (measured beside the starts, as it varies by the hour on these shared machines). Imported as
    app/main.py imports it, without cyclic garbage collection, and left by os._exit: a start has no
    interpreter exit, and tearing torch down at a normal exit took about 1 s more here (with collections
    on, `python -c "import torch"` took 3.9 s against 2.35 s)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import gc, os; gc.disable(); import torch; os._exit(0)"],
                   check=True, cwd=ROOT)
    return time.perf_counter() - start


def main() -> None:
    header("Start-up")
    row("first start (download + verify + dequantise)", f"{first_start():.1f} s")
    # In turns, so a slow minute of the machine falls on both alike.
    starts, imports = [], []
    for _ in range(3):
        starts.append(server_ready_seconds())
        imports.append(torch_import_seconds())
    later, torch_alone = statistics.median(starts), statistics.median(imports)
    row("server ready, weights cached (median of 3)", f"{later:.2f} s", "goal: <= 3 s")
    row("  of which a fresh python importing torch", f"{torch_alone:.2f} s",
        f"the rest of the start: {later - torch_alone:.2f} s")


if __name__ == "__main__":
    main()
