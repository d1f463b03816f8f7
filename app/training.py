"""The training slot: one live training run at a time, on its own thread, beside the model thread.

A training run of the learning chapter (model/toy_transformer.py) takes seconds to a minute.
Run on the engine's model thread it would hold the model lock all that time and every page
would wait; so it gets a slot of its own:

- one run at a time per process; a second request while one runs is refused at once
  (503 `training_busy` with Retry-After) rather than queued, so nobody waits a minute unseen;
- the run uses one thread (torch.set_num_threads(1) on the slot's own thread), so the language
  model keeps the other cores; on one thread the same seed gives the same numbers bit for bit;
- the run stops within a step when its client goes away (`cancel`), and its step count is
  bounded by the request schema (at most 3000);
- nothing is kept once the run ends: the client gets every number, the server forgets them.

torch's thread count is per thread once a thread has done its first parallel operation, but a
thread that starts while the slot has set it to 1 would read 1 and keep it; `start` therefore
has the engine's model thread do its first operation before the first run (`warm`).
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

import torch


class TrainingBusy(Exception):
    """A training run is already going on in this process."""


@dataclass
class Job:
    """One run: its progress events (an asyncio queue the run feeds from its thread) and its result."""

    loop: asyncio.AbstractEventLoop
    events: asyncio.Queue = field(default_factory=asyncio.Queue)
    cancelled: threading.Event = field(default_factory=threading.Event)
    future: Future | None = None

    def emit(self, event: Any) -> None:
        """(slot thread) Hand a progress event to the event loop."""
        self.loop.call_soon_threadsafe(self.events.put_nowait, event)

    def cancel(self) -> None:
        self.cancelled.set()


class TrainingSlot:
    def __init__(self) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="training")
        self._busy = threading.Lock()

    @property
    def busy(self) -> bool:
        return self._busy.locked()

    def start(self, fn: Callable[[Job], Any]) -> Job:
        """Run `fn(job)` on the slot's thread now, or raise TrainingBusy if a run is going on."""
        if not self._busy.acquire(blocking=False):
            raise TrainingBusy()
        job = Job(asyncio.get_running_loop())
        try:
            job.future = self._thread.submit(self._run, fn, job)
        except BaseException:
            self._busy.release()
            raise
        return job

    def _run(self, fn: Callable[[Job], Any], job: Job) -> Any:
        previous = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return fn(job)
        finally:
            torch.set_num_threads(previous)  # threads started later get the server's count again
            self._busy.release()


_warmed: "weakref.WeakSet" = weakref.WeakSet()


async def warm(engine) -> None:
    """Have the engine's model thread fix its torch thread count before any run sets it to 1."""
    if engine not in _warmed:
        await engine.run(torch.get_num_threads)
        _warmed.add(engine)
