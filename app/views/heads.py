"""Head roles: the probe scores of every head, measured once per model, and the probe itself.

The scores are measured by model/head_probes.py the first time they are asked for (44
short passes, each its own job on the model thread, so other requests get the model between
them), then kept in memory and on disk beside the weight cache (`settings.data_dir / "cache"`,
keyed by the GGUF's SHA-256 and the probe version), so a server that starts again reads them back.
Measuring on the first request rather than at start-up keeps start-up (and the first page a
visitor opens) free of work most visits never need; with the disk cache only the very first
request for a new model or probe version waits.
"""

from __future__ import annotations

import asyncio
import weakref
from pathlib import Path

from app.engine import Engine, Prompt
from app.schemas.heads import HeadOut, HeadProbeOut, HeadsOut, ProbesOut, ScoresOut
from app.views.common import tokens_out
from model import head_probes, probes
from model.attention_views import head_weights, kv_head_of
from model.errors import check_index
from model.weights import gguf_sha256

_kept: "weakref.WeakKeyDictionary[Engine, head_probes.HeadScores]" = weakref.WeakKeyDictionary()
_locks: "weakref.WeakKeyDictionary[Engine, tuple[asyncio.AbstractEventLoop, asyncio.Lock]]" = weakref.WeakKeyDictionary()


def _cache_key(engine: Engine) -> tuple[Path | None, str | None]:
    """Where and under which identity this engine's scores are kept on disk (a model built in
    memory, as in the tests, has no GGUF to key a file by: it is measured once per process)."""
    if not engine.source:
        return None, None
    return engine.settings.data_dir / "cache", gguf_sha256(Path(engine.source))


def _lock(engine: Engine) -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    found = _locks.get(engine)
    if found is None or found[0] is not loop:
        found = _locks[engine] = (loop, asyncio.Lock())
    return found[1]


async def scores(engine: Engine) -> head_probes.HeadScores:
    """Every head's scores: kept in memory, else read from disk, else measured on the model thread.

    Measuring takes one `engine.run` per probe pass, so other requests get the model between
    passes; concurrent first requests wait for the one measurement."""
    found = _kept.get(engine)
    if found is not None:
        return found
    async with _lock(engine):
        found = _kept.get(engine)
        if found is not None:
            return found
        cache_dir, identity = await asyncio.to_thread(_cache_key, engine)
        found = await asyncio.to_thread(head_probes.read_cache, cache_dir, identity)
        if found is None:
            per_pass = [await engine.run(head_probes.pass_scores, engine.model, probe)
                        for probe in head_probes.probe_passes(engine.tokenizer)]
            found = head_probes.combine(per_pass)
            await asyncio.to_thread(head_probes.write_cache, cache_dir, identity, found)
        _kept[engine] = found
        return found


def scores_now(engine: Engine) -> head_probes.HeadScores:
    """(scripts and tests, holding the model) The same scores, synchronously."""
    found = _kept.get(engine)
    if found is None:
        cache_dir, identity = _cache_key(engine)
        found = engine.locked(head_probes.load_or_measure, cache_dir, identity,
                              lambda: head_probes.measure(engine.model, engine.tokenizer))
        _kept[engine] = found
    return found


def heads_out(engine: Engine, s: head_probes.HeadScores) -> HeadsOut:
    cfg = engine.cfg
    roles = head_probes.roles(s)
    heads = [HeadOut(layer=l, head=h, kv_head=kv_head_of(h, cfg.n_heads, cfg.n_kv_heads),
                     scores=ScoresOut(**{name: round(float(t[l, h]), 4) for name, t in s.as_dict().items()}),
                     role=roles[l][h])
             for l in range(cfg.n_layers) for h in range(cfg.n_heads)]
    return HeadsOut(probes=ProbesOut(**head_probes.DESCRIPTIONS), heads=heads)


def check_probe_request(engine: Engine, layer: int, head: int, sequence: int) -> None:
    cfg = engine.cfg
    check_index("layer", layer, cfg.n_layers, "layers")
    check_index("head", head, cfg.n_heads, "query heads per layer")
    check_index("sequence", sequence, head_probes.INDUCTION_SEQUENCES, "random sequences in the induction probe")


def probe_out(engine: Engine, s: head_probes.HeadScores, layer: int, head: int, sequence: int) -> HeadProbeOut:
    """(model thread) One head on one of the induction probe's sequences, exactly as the probe read it."""
    ids = head_probes.induction_sequences(engine.tokenizer)[sequence].tolist()
    tokens = [engine.tokenizer.describe(i) for i in ids]
    # Through the analysis cache: every head of this sequence then costs no further pass.
    analysis = engine.analysis(Prompt(engine.tokenizer.decode(ids), tokens))
    weights = head_weights(analysis, layer, head).double()
    period = len(ids) // 2
    return HeadProbeOut(
        layer=layer, head=head, sequence=sequence, n_sequences=head_probes.INDUCTION_SEQUENCES, period=period,
        tokens=tokens_out(tokens),
        weights=((weights * 1e6).round() / 1e6).tolist(),
        score=round(float(probes.induction_score(weights, period)), 4),
        induction=round(float(s.induction[layer, head]), 4),
        role=head_probes.roles(s)[layer][head])
