"""Head roles: the probe scores of every head, measured once per model, and the probe itself.

The scores are measured by model/head_probes.py on the model thread the first time they are
asked for (a dozen short passes), then kept in memory and on disk beside the weight cache
(`settings.data_dir / "cache"`, keyed by the GGUF's SHA-256 and the probe version), so a server
that starts again reads them back instead. Measuring on the first request rather than at start-up
keeps start-up (and the first page a visitor opens) free of work most visits never need; with the
disk cache only the very first request of a new model or probe version waits.
"""

from __future__ import annotations

import threading
import weakref
from pathlib import Path

from app.engine import Engine, Prompt
from app.schemas.common import TokenOut
from app.schemas.heads import HeadOut, HeadProbeOut, HeadsOut, ProbesOut, ScoresOut
from model import head_probes, probes
from model.attention_views import head_weights, kv_head_of
from model.errors import check_index
from model.weights import gguf_sha256

_kept: "weakref.WeakKeyDictionary[Engine, head_probes.HeadScores]" = weakref.WeakKeyDictionary()
_kept_lock = threading.Lock()


def scores(engine: Engine) -> head_probes.HeadScores:
    """(model thread) Every head's scores: kept in memory, else read from disk, else measured."""
    with _kept_lock:
        found = _kept.get(engine)
    if found is not None:
        return found
    if engine.source:  # a GGUF on disk: cache beside its weights
        cache_dir, identity = engine.settings.data_dir / "cache", gguf_sha256(Path(engine.source))
    else:  # a model built in memory (tests): nothing to key a file by
        cache_dir, identity = None, None
    found = head_probes.load_or_measure(cache_dir, identity,
                                        lambda: head_probes.measure(engine.model, engine.tokenizer))
    with _kept_lock:
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
        tokens=[TokenOut.of(t) for t in tokens],
        weights=((weights * 1e6).round() / 1e6).tolist(),
        score=round(float(probes.induction_score(weights, period)), 4),
        induction=round(float(s.induction[layer, head]), 4),
        role=head_probes.roles(s)[layer][head])
