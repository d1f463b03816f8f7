"""Resident memory of a real server under a sequence of valid requests that each keep or build a
large analysis: distinct 505-token prompts through /api/predict, /api/attention/all (its token
limit permitting), /api/surprise, /api/logit-lens and /v1/completions with echo, then the same
prompts again. Prints the resident set after each request and the peak (VmHWM); the server runs
with default settings in its own process, as `make run` starts it.

    .venv/bin/python -m benchmarks.bench_memory
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
BOUND_GB = 1.5
WORDS = ("river bank money water city paper house music light stone garden window winter summer story "
         "table market letter forest mountain road engine science language").split()


def _rss(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process, in GB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    kb = lambda name: int(fields[name].split()[0])  # noqa: E731
    return kb("VmRSS") / 1024**2, kb("VmHWM") / 1024**2


def _prompt(seed: int, client: httpx.Client, tokens: int = 505) -> str:
    """Random common words cut after exactly `tokens` tokens (one /api/tokenize call)."""
    rng = random.Random(seed)
    text = " ".join(rng.choice(WORDS) for _ in range(tokens + 50))
    pieces = client.post("/api/tokenize", json={"text": text}).json()["tokens"]
    return text[:pieces[tokens - 1]["end"]]


def main(prompts: int = 10) -> dict:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TT_")}  # default settings
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1",
                               "--port", str(port), "--log-level", "warning"], cwd=ROOT, env=env)
    peak_seen = 0.0
    try:
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600)
        deadline = time.time() + 300
        while True:
            try:
                model = client.get("/api/model").json()
                break
            except httpx.TransportError:
                if time.time() > deadline or server.poll() is not None:
                    raise RuntimeError("the server did not start")
                time.sleep(0.5)
        model_id = client.get("/v1/models").json()["data"][0]["id"]
        rss, _ = _rss(server.pid)
        print(f"memory: after loading {rss:.2f} GB resident", flush=True)
        texts = [_prompt(seed, client) for seed in range(prompts)]
        requests = []
        for text in texts:
            requests += [("/api/predict", {"text": text}), ("/api/surprise", {"text": text}),
                         ("/api/logit-lens", {"text": text, "last": 64}),
                         ("/v1/completions", {"model": model_id, "prompt": text, "max_tokens": 4, "echo": True,
                                              "logprobs": 5}),
                         ("/api/attention", {"text": text, "layer": 3, "head": 2})]
        requests += [("/api/predict", {"text": text}) for text in texts]  # back to the first prompts
        started = time.perf_counter()
        for i, (path, body) in enumerate(requests):
            response = client.post(path, json=body)
            response.raise_for_status()
            rss, peak = _rss(server.pid)
            peak_seen = max(peak_seen, peak)
            if i % 5 == 4 or i == len(requests) - 1:
                print(f"memory: {i + 1:3d} requests ({path}): {rss:.2f} GB resident, peak {peak:.2f} GB", flush=True)
        info = client.get("/api/model").json()
        print(f"memory: {len(requests)} requests over {prompts} prompts of ~505 tokens in "
              f"{time.perf_counter() - started:.0f} s; peak resident {peak_seen:.2f} GB "
              f"(bound {BOUND_GB} GB: {'held' if peak_seen < BOUND_GB else 'EXCEEDED'}); "
              f"model {model.get('name', '')} {info.get('n_params', '')}")
        return {"peak_gb": peak_seen}
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)

