"""The loaded model and everything that runs it: one per process, created in the lifespan.

Model work runs on one dedicated thread, one pass at a time (torch already uses every core, so
two passes at once would only slow each other), never on the event loop. Each job gets as many
threads as there are cores other processes leave free (model/speed.py `ThreadBudget`). Analyses
are kept in a bounded cache so every view of the same prompt reads one forward pass.
"""

from __future__ import annotations

import asyncio
import functools
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

import torch

from app.cache import LRUCache
from app.settings import Settings
from model.analysis import Analysis, analyse_ids, estimated_nbytes, shared_prefix
from model.errors import InputError
from model.llama import Llama
from model.speed import ThreadBudget
from model.tokenizer import ModelTokenizer, Token

T = TypeVar("T")


class Overloaded(Exception):
    """More model requests are waiting than the server will queue."""


@dataclass
class Prompt:
    text: str
    tokens: list[Token]

    @property
    def ids(self) -> list[int]:
        return [t.id for t in self.tokens]


class Engine:
    def __init__(self, model: Llama, tokenizer: ModelTokenizer, settings: Settings,
                 source: str = "", load_seconds: float = 0.0, storage: list | None = None,
                 threads: ThreadBudget | None = None):
        self.model, self.tokenizer, self.settings = model, tokenizer, settings
        # Threads per job: all usable cores up to TT_THREADS, fewer while other processes keep
        # cores busy (load_engine watches them; without a watch, always TT_THREADS).
        self.threads = threads or ThreadBudget(settings.threads)
        self.cfg = model.cfg
        self.source, self.load_seconds = source, load_seconds
        # How the GGUF stores the weights (model.weights.StorageType per type, most weights first);
        # empty for a model that did not come from a GGUF (the tiny test model).
        self.storage = storage or []
        self.n_params = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
        self._model_lock = threading.Lock()
        # Always the same thread: torch's OpenMP keeps a team of worker threads per calling
        # thread, and teams left by earlier callers spin for a while after each pass, taking
        # cores from the current one (measured with 8 clients through a shared thread pool:
        # 9.1 requests/s, against 11.7 with one client).
        self._model_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")
        self._waiting = 0  # submitted and not finished: queued or running
        self._waiting_lock = threading.Lock()
        self.analyses: LRUCache[Analysis] = LRUCache(
            settings.analysis_cache_entries, settings.analysis_cache_bytes, lambda a: a.nbytes())

    @property
    def display_name(self) -> str:
        """A readable name: the GGUF's file name without its quantisation ("SmolLM2-135M-Instruct");
        the metadata's `general.name` is often a training-run label."""
        if not self.source:
            return self.cfg.name
        stem = Path(self.source).name.removesuffix(".gguf")
        return re.sub(r"[.-](I?Q\d\w*|BF16|F16|F32)$", "", stem, flags=re.IGNORECASE)

    @functools.cached_property
    def runs_smollm2(self) -> bool:
        """Whether this is the default GGUF, SmolLM2-135M-Instruct: the pages' pinned sentences
        (docs/CLAIMS.md) were checked on it alone. A GGUF named in TT_MODEL_PATH is hashed once, at
        the first page; the default was checked when it was fetched; the tiny test model is not it."""
        if not self.source:
            return False
        if self.settings.model_path is None:
            return True
        from model.fetch import SMOLLM2, sha256_of
        return sha256_of(Path(self.source)) == SMOLLM2.gguf_sha256

    # --- running model work off the event loop -----------------------------------------------

    def locked(self, fn: Callable[..., T], *args, **kwargs) -> T:
        """Run `fn` holding the model lock, on the threads the budget gives this job (the model
        thread does; so may scripts and tests)."""
        with self._model_lock, self.threads.job():
            return fn(*args, **kwargs)

    async def run(self, fn: Callable[..., T], *args, **kwargs) -> T:
        """Run model work on the model thread, one at a time; Overloaded past `max_queue` waiting."""
        with self._waiting_lock:
            if self._waiting >= self.settings.max_queue:
                raise Overloaded()
            self._waiting += 1
        job = self._model_thread.submit(self.locked, functools.partial(fn, *args, **kwargs))
        job.add_done_callback(self._finished)  # also when cancelled before it started
        return await asyncio.wrap_future(job)

    def _finished(self, _job) -> None:
        with self._waiting_lock:
            self._waiting -= 1

    # --- prompts --------------------------------------------------------------------------------

    def check_characters(self, n_chars: int, field: str = "text", subject: str | None = None,
                         advice: str = "Shorten the text.") -> None:
        """The prompt limit in characters (413 `too_many_characters`), also for texts that are not
        one prompt (a chat's messages together)."""
        limit = self.settings.max_prompt_chars
        if n_chars > limit:
            raise InputError(f"{subject or field} is {n_chars} characters long; the limit is {limit} characters. "
                             f"{advice}", code="too_many_characters", field=field, limit=limit, actual=n_chars)

    def tokenize(self, text: str, field: str = "text") -> list[Token]:
        """Tokens of any text within the character limit (empty text and any token count allowed)."""
        self.check_characters(len(text), field)
        return self.tokenizer.tokenize(text)

    def prompt(self, text: str, field: str = "text", subject: str | None = None,
               advice: str = "Shorten the text.") -> Prompt:
        """Tokenize text the model will read, enforcing every prompt limit (the one place they are
        checked): `InputError` 413 `too_many_characters` / `too_many_tokens`, 422 `empty`. `subject`
        and `advice` reword the message for the request (e.g. a chat's whole conversation)."""
        self.check_characters(len(text), field, subject, advice)
        if not text.strip():
            raise InputError(f"{field} is empty; type some text for the model to read.", code="empty", field=field)
        tokens = self.tokenizer.tokenize(text)
        self.check_tokens(len(tokens), field, subject, advice)
        return Prompt(text, tokens)

    def check_tokens(self, n_tokens: int, field: str = "text", subject: str | None = None,
                     advice: str = "Shorten the text.", detail: str | None = None) -> None:
        """The prompt limit in tokens (413 `too_many_tokens`); `detail` may word the whole message,
        with `{actual}` and `{limit}` filled in."""
        limit = self.settings.max_prompt_tokens
        if n_tokens > limit:
            detail = detail or f"{subject or field} is {{actual}} tokens long; the limit is {{limit}} tokens. {advice}"
            raise InputError(detail.format(actual=n_tokens, limit=limit), code="too_many_tokens", field=field,
                             limit=limit, actual=n_tokens)

    def analysis(self, prompt: Prompt) -> Analysis:
        """The cached Analysis of a prompt, computing it if needed (call inside `locked`)."""
        key = tuple(prompt.ids)
        found = self.analyses.get(key)
        if found is None:
            # Room first, so the kept analyses and the new one stay within the bound together; the
            # prefix to extend is then looked for among those still kept (one evicted here but held
            # through the pass would be outside the bound).
            nbytes = estimated_nbytes(self.cfg, len(prompt.ids))
            self.analyses.make_room(nbytes)
            previous = self._longest_shared_prefix(prompt.ids)
            found = analyse_ids(self.model, prompt.ids, prompt.tokens, previous)
            del previous
            self.analyses.put(key, found)
            if nbytes >= TRIM_AFTER_BYTES:
                return_freed_memory()  # the pass's intermediates
        return found

    def _longest_shared_prefix(self, ids: list[int]) -> Analysis | None:
        """The kept analysis sharing the most leading tokens with `ids` (typing extends a prompt)."""
        best, best_len = None, 0
        for candidate in self.analyses.values():
            n = shared_prefix(candidate.ids.tolist(), ids)
            if n > best_len:
                best, best_len = candidate, n
        return best

    async def analyse(self, prompt: Prompt) -> Analysis:
        key = tuple(prompt.ids)
        found = self.analyses.get(key)  # a cache hit needs no worker thread
        return found if found is not None else await self.run(self.analysis, prompt)


def _libc():
    try:
        import ctypes
        import ctypes.util
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


_LIBC = _libc()
M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter


def keep_large_allocations_returnable(threshold: int = 8 * 1024 * 1024) -> None:
    """Allocate blocks from `threshold` bytes up (a layer's attention weights, an Analysis's
    tensors) with their own mmap, so freeing them gives the memory back to the system. glibc
    otherwise raises its threshold to 32 MB as blocks are freed, serves tensors from its heap, and
    the heap only grows: resident memory then keeps the peak of every request ever answered.
    8 MB, not lower: each fresh mmap is zeroed page by page on first touch, and at 1 MB the
    typing update's few-MB copies made it 22-25 ms instead of 17-18 (a 505-token layer's
    attention weights, 9 MB, still get their own; bench_memory's peak was the same at 1 MB and 8 MB)."""
    if _LIBC is not None and hasattr(_LIBC, "mallopt"):
        _LIBC.mallopt(M_MMAP_THRESHOLD, threshold)


# Passes whose analysis is at least this large give their freed heap back (malloc_trim). A short
# pass frees a few MB that the next pass reuses at once; trimming them cost 2-3 ms a request (about
# 5% of a 17-token /api/predict, measured interleaved) and the next pass faults the pages in again.
# Evicted analyses need no trim: their large tensors are mmapped and unmapped when freed.
TRIM_AFTER_BYTES = 32 * 1024**2


def return_freed_memory() -> None:
    """Give freed heap pages back to the system (glibc's malloc_trim; a no-op elsewhere)."""
    if _LIBC is not None and hasattr(_LIBC, "malloc_trim"):
        _LIBC.malloc_trim(0)


def load_engine(settings: Settings) -> Engine:
    """Load the configured GGUF (default: the fetched SmolLM2) through the weight cache."""
    from model.blockmatmul import load_library
    from model.fetch import ensure_gguf
    from model.speed import make_fast, watch_other_processes
    from model.weights import load_weights, storage_summary

    torch.set_num_threads(settings.threads)
    keep_large_allocations_returnable()
    started = time.perf_counter()
    if settings.model_path is not None:
        if not settings.model_path.is_file():
            raise FileNotFoundError(f"TT_MODEL_PATH={settings.model_path} is not a file")
        gguf_path = settings.model_path
    else:
        gguf_path = ensure_gguf(settings.data_dir)
    weights = load_weights(gguf_path, settings.data_dir / "cache")
    model = Llama.from_weights(weights.config, weights.tensors)
    # Speed is attached from outside the architecture: block kernels for short passes, one thread
    # for a few tokens (model/speed.py).
    library = load_library(settings.data_dir / "cache") if settings.block_rows > 0 else None
    make_fast(model, library, weights.blocks, settings.block_rows)
    tokenizer = ModelTokenizer(weights.tokenizer)
    threads = ThreadBudget(settings.threads, watch_other_processes())
    return Engine(model, tokenizer, settings, source=str(gguf_path),
                  storage=storage_summary(weights.storage, weights.bits, weights.tensors),
                  load_seconds=time.perf_counter() - started, threads=threads)
