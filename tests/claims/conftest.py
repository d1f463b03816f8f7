"""Claims: what the pages say about the model, checked against the real weights.

Each chapter has one module here (`test_<chapter>.py`) and one section in docs/CLAIMS.md that
lists every statement its page makes about the model and the test or computation behind it.

Two kinds of claims:
- *computed* claims are rendered from a measurement when the page or API answers; their tests
  check the measurement (they run on whatever model `TT_MODEL_PATH` names);
- *pinned* claims are about SmolLM2-135M-Instruct itself (a sentence such as "L18H6 is an
  induction head"); their tests take the `smollm2` fixture, which skips them when another GGUF
  is loaded, so they always say which model they are about.
"""

from __future__ import annotations

import pytest

from model.fetch import SMOLLM2, sha256_of


@pytest.fixture(scope="session")
def smollm2(real_engine):
    """The real engine, only when it runs the default SmolLM2-135M-Instruct GGUF (skip otherwise)."""
    from pathlib import Path

    if real_engine.settings.model_path is not None and \
            sha256_of(Path(real_engine.source)) != SMOLLM2.gguf_sha256:
        pytest.skip("a pinned claim about SmolLM2-135M-Instruct; TT_MODEL_PATH names another model")
    return real_engine
