"""The web layer: requests per second with 8 concurrent clients on loopback, beside the bare
model call, and the size of the largest answers."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from urllib.parse import urlsplit

import httpx

from app.views.predict import top_predictions
from benchmarks.bench_start import ROOT
from benchmarks.common import engine, header, row
from model.analysis import analyse_ids
from model.sampling import distribution

CLIENTS = 8
REQUESTS = 48


def _prompts() -> list[str]:
    # Distinct prompts, so every request costs a real forward pass (no cache hits).
    return [f"Request number {i}: the river bank was quiet and the town slept while" for i in range(REQUESTS)]


def bare_seconds(prompts: list[str]) -> float:
    """The same work /api/predict does, called directly: the pass, the distribution, the top 20,
    as one engine job each (on the threads the engine's budget gives, as in the server)."""
    e = engine()

    def predict(text: str) -> None:
        analysis = analyse_ids(e.model, e.tokenizer.encode(text))
        dist = distribution(analysis.next_logits, 1.0, 10, 1.0)
        top_predictions(e.tokenizer, dist, analysis.next_logits, 20)

    start = time.perf_counter()
    for p in prompts:
        e.locked(predict, p)
    return time.perf_counter() - start


async def served_seconds(base: str, prompts: list[str]) -> tuple[float, int]:
    """8 httpx clients (as a notebook would call the API). On this 2-core machine they share the
    cores with the server: about 5 ms of CPU per request, taken from the model's threads."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for p in prompts:
        queue.put_nowait(p)
    errors = 0

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal errors
        async with http:
            while not queue.empty():
                text = queue.get_nowait()
                r = await http.post("/api/predict", json={"text": text})
                errors += r.status_code != 200

    # Made before the clock starts: making an httpx client builds a TLS context and reads a certificate
    # bundle (about 57 ms of CPU here), which a notebook pays once, not per request.
    clients = [httpx.AsyncClient(base_url=base, timeout=120) for _ in range(CLIENTS)]
    start = time.perf_counter()
    await asyncio.gather(*(client(http) for http in clients))
    return time.perf_counter() - start, errors


async def _raw_post(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, path: str,
                    body: bytes) -> int:
    """One HTTP/1.1 request on a kept-alive connection; the answer's status (its body read and dropped)."""
    writer.write(f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    if length is None:
        raise RuntimeError("the server answered without a Content-Length")
    await reader.readexactly(int(length.group(1)))
    return status


async def served_seconds_light(base: str, prompts: list[str]) -> tuple[float, int]:
    """The same requests from 8 clients that cost next to no CPU (HTTP/1.1 written by hand on asyncio
    streams, as load generators such as wrk do), so that what is measured is the server's overhead,
    not the load generator's: in deployment the clients are browsers on other machines."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for p in prompts:
        queue.put_nowait(p)
    errors = 0
    parts = urlsplit(base)

    async def client() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        try:
            while not queue.empty():
                body = json.dumps({"text": queue.get_nowait()}).encode()
                errors += await _raw_post(reader, writer, parts.netloc, "/api/predict", body) != 200
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return time.perf_counter() - start, errors


def payload_sizes(base: str) -> None:
    e = engine()
    text = " ".join(["The quick brown fox jumps over the lazy dog."] * 6)
    text64 = e.tokenizer.decode(e.tokenizer.encode(text)[:64])
    cases = [("all 270 heads, 64 tokens", "/api/attention/all", {"text": text64}, 1.5e6),
             ("one head, 64 tokens", "/api/attention", {"text": text64, "layer": 3, "head": 2}, None),
             ("next-token prediction", "/api/predict", {"text": text64}, None),
             ("logit lens, 64 positions", "/api/logit-lens", {"text": text64, "last": 64}, None)]
    for label, path, body, goal in cases:
        r = httpx.post(base + path, json=body, timeout=120, headers={"Accept-Encoding": "gzip"})
        wire = int(r.headers.get("content-length", len(r.content)))
        note = f"JSON {len(r.content) / 1e6:.2f} MB before gzip"
        if goal:
            note += f" (goal <= {goal / 1e6:.1f} MB)"
        row(label, f"{wire / 1e6:.3f} MB", note if r.status_code == 200 else f"status {r.status_code}")


def main() -> None:
    header(f"Server: {REQUESTS} distinct prompts, {CLIENTS} concurrent clients on loopback")
    port = 8766
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1",
                             "--port", str(port), "--log-level", "warning"], cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(base + "/api/model", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        prompts = _prompts()
        bare = bare_seconds(prompts)
        # Each measurement on prompts of its own, so no request is answered from the server's cache.
        # (The server extends a kept analysis that shares a prefix, so the second set starts differently.)
        served, errors = asyncio.run(served_seconds(base, [p + " then" for p in prompts]))
        light, light_errors = asyncio.run(served_seconds_light(base, [p.replace("Request", "Question", 1) + " then"
                                                                       for p in prompts]))
        row("bare model calls", f"{REQUESTS / bare:.1f} req/s")
        row("through the server, light clients", f"{REQUESTS / light:.1f} req/s",
            f"overhead {light / bare - 1:+.0%} (goal <= +20%), errors: {light_errors}")
        row("through the server, httpx clients", f"{REQUESTS / served:.1f} req/s",
            f"overhead {served / bare - 1:+.0%} (the clients' CPU on the same cores), errors: {errors}")
        payload_sizes(base)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
