"""Past capacity the server sheds load (503 + Retry-After) instead of queueing without limit,
and the analysis cache stays within its bounds."""

import threading

from app.cache import LRUCache
from app.engine import Engine
from app.settings import Settings
from model.tiny import tiny_model


def test_requests_beyond_the_queue_get_503_with_retry_after(make_client):
    model, tok = tiny_model(seed=0)
    engine = Engine(model, tok, Settings(max_queue=2))
    client = make_client(engine)
    results: list[int] = []
    retry_after: list[str | None] = []

    def call(i: int) -> None:
        r = client.post("/api/predict", json={"text": f"the bank {i}"})
        results.append(r.status_code)
        if r.status_code == 503:
            retry_after.append(r.headers.get("retry-after"))
            assert "busy" in r.json()["detail"] and r.json()["code"] == "busy"

    engine._model_lock.acquire()  # the model is busy with a long pass
    try:
        threads = [threading.Thread(target=call, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        # Requests that cannot queue are answered at once, while the lock is still held.
        for _ in range(200):
            if results.count(503) >= 4:
                break
            threading.Event().wait(0.05)
        assert results.count(503) == 4
    finally:
        engine._model_lock.release()
    for t in threads:
        t.join(timeout=30)
    assert sorted(results) == [200, 200, 503, 503, 503, 503]
    assert retry_after == ["2"] * 4


def test_analysis_cache_evicts_by_count_and_by_bytes():
    cache: LRUCache[bytes] = LRUCache(max_entries=3, max_bytes=100, size_of=len)
    for i in range(5):
        cache.put(i, b"x" * 10)
    assert len(cache) == 3 and cache.get(0) is None and cache.get(4) is not None
    cache.put("big", b"x" * 95)
    assert cache.total_bytes <= 100 and cache.get("big") is not None and len(cache) == 1


def test_engine_keeps_at_most_the_configured_number_of_analyses(make_client):
    model, tok = tiny_model(seed=0)
    engine = Engine(model, tok, Settings(analysis_cache_entries=3))
    client = make_client(engine)
    for i in range(8):
        assert client.post("/api/predict", json={"text": f"text number {i}"}).status_code == 200
    assert len(engine.analyses) == 3
