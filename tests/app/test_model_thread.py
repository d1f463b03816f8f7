"""Model work runs on one dedicated thread: torch's OpenMP keeps a team of helper threads per
calling thread, so passes arriving through many pool threads would leave idle teams spinning on
the cores the running pass needs (docs/PERFORMANCE.md, "One model thread")."""

import asyncio
import threading

from app.engine import Engine
from app.settings import Settings
from model.tiny import tiny_model


def test_every_job_runs_on_the_same_thread_one_at_a_time():
    model, tok = tiny_model(seed=0)
    engine = Engine(model, tok, Settings(max_queue=32))
    running, overlaps, threads = 0, 0, set()
    guard = threading.Lock()

    def job(i: int) -> int:
        nonlocal running, overlaps
        with guard:
            running += 1
            overlaps += running > 1
            threads.add(threading.get_ident())
        threading.Event().wait(0.005)
        with guard:
            running -= 1
        return i * i

    async def main() -> list[int]:
        return await asyncio.gather(*(engine.run(job, i) for i in range(20)))

    assert asyncio.run(main()) == [i * i for i in range(20)]
    assert len(threads) == 1 and threading.get_ident() not in threads  # never the event loop's thread
    assert overlaps == 0
    assert engine._waiting == 0  # every finished job left the queue count


def test_a_job_cancelled_before_it_starts_leaves_the_queue():
    model, tok = tiny_model(seed=0)
    engine = Engine(model, tok, Settings(max_queue=4))
    release = threading.Event()

    async def main() -> None:
        blocker = asyncio.ensure_future(engine.run(release.wait, 10))
        queued = [asyncio.ensure_future(engine.run(lambda: None)) for _ in range(3)]
        await asyncio.sleep(0.05)
        assert engine._waiting == 4
        for task in queued:
            task.cancel()                       # the clients went away before their turn
        await asyncio.sleep(0.05)
        assert engine._waiting == 1             # only the running job still counts
        release.set()
        assert await blocker is True

    asyncio.run(main())
    assert engine._waiting == 0


def test_the_model_loads_on_a_thread_that_has_ended_and_the_event_loop_runs_torch_on_one(monkeypatch):
    """A thread that ran torch on several threads keeps an OpenMP team while it lives, and with more
    OpenMP threads than cores libgomp spins less at every barrier of every pass (docs/PERFORMANCE.md,
    "the server's overhead"): the lifespan loads the model on a thread of its own, which has ended,
    and sets the event loop's thread to one torch thread."""
    import torch
    from fastapi.testclient import TestClient

    import app.main as main

    model, tok = tiny_model(seed=0)
    loaded_on = []

    def load(settings: Settings) -> Engine:
        loaded_on.append(threading.current_thread())
        return Engine(model, tok, settings)

    monkeypatch.setattr(main, "load_engine", load)
    app = main.create_app(Settings())

    @app.get("/test-torch-threads")
    async def torch_threads() -> int:
        return torch.get_num_threads()

    previous = torch.get_num_threads()
    try:
        with TestClient(app) as client:
            assert client.get("/api/model").status_code == 200
            assert len(loaded_on) == 1 and loaded_on[0] is not threading.current_thread()
            assert not loaded_on[0].is_alive()
            assert client.get("/test-torch-threads").json() == 1
    finally:
        torch.set_num_threads(previous)  # torch's process-wide count, which later threads start from
