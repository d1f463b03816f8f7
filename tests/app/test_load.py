"""A bounded load test on loopback: 16 concurrent clients, mixed endpoints, a fixed time, on the
real model. No request may fail, and memory must stay bounded. Prints its figures."""

import asyncio
import random
import resource
import time

import httpx
import pytest

pytestmark = pytest.mark.real

CLIENTS = 16
SECONDS = 20
WORDS = "the river bank money paid into sat on I we water town boat quiet morning".split()


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _request(rng: random.Random) -> tuple[str, dict]:
    text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 24)))
    kind = rng.random()
    if kind < 0.3:
        return "/api/tokenize", {"text": text}
    if kind < 0.6:
        return "/api/predict", {"text": text, "temperature": rng.choice([0.5, 1.0, 1.5]), "top_k": 10}
    if kind < 0.8:
        return "/api/attention", {"text": text, "layer": rng.randrange(30), "head": rng.randrange(9)}
    if kind < 0.9:
        return "/api/surprise", {"text": text}
    return "/api/generate", {"text": text, "max_new_tokens": 4, "temperature": 0.8, "seed": rng.randrange(100)}


async def _client(base: str, seed: int, until: float, stats: dict) -> None:
    rng = random.Random(seed)
    async with httpx.AsyncClient(base_url=base, timeout=120) as http:
        while time.perf_counter() < until:
            path, body = _request(rng)
            r = await http.post(path, json=body)
            stats["served"] += 1
            stats.setdefault(r.status_code, 0)
            stats[r.status_code] += 1


def test_sixteen_clients_for_twenty_seconds_without_an_error(live_server, real_engine):
    before = _rss_mb()
    stats = {"served": 0}
    until = time.perf_counter() + SECONDS

    async def run_all() -> None:
        clients = asyncio.gather(*(_client(live_server, i, until, stats) for i in range(CLIENTS)))
        await asyncio.wait_for(clients, SECONDS + 180)
    asyncio.run(run_all())
    after = _rss_mb()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nload: {stats['served']} requests from {CLIENTS} clients in {SECONDS} s; statuses "
          f"{ {k: v for k, v in stats.items() if k != 'served'} }; RSS {before:.0f} -> {after:.0f} MB "
          f"(peak {peak:.0f} MB); analyses kept {len(real_engine.analyses)} "
          f"({real_engine.analyses.total_bytes / 1e6:.0f} MB)")
    assert stats["served"] >= CLIENTS
    assert set(stats) == {"served", 200}, stats
    assert len(real_engine.analyses) <= real_engine.settings.analysis_cache_entries
    assert real_engine.analyses.total_bytes <= real_engine.settings.analysis_cache_bytes
    assert after - before < 1500, "memory grew by more than 1.5 GB under load"
