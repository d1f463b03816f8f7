"""Settings, read from the environment (prefix TT_), e.g. TT_MAX_PROMPT_TOKENS=256."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from model.fetch import DEFAULT_DATA_DIR


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TT_", protected_namespaces=())

    model_path: Path | None = Field(None, description="A local GGUF of the Llama architecture to run "
                                    "instead of the default SmolLM2-135M-Instruct.")
    data_dir: Path = Field(DEFAULT_DATA_DIR, description="Where the default GGUF and the weight cache live.")
    threads: int = Field(max(1, os.cpu_count() or 1), ge=1, description="Most torch intra-op threads per job (fewer while other processes keep cores busy).")
    block_rows: int = Field(12, ge=0, le=16, description="Passes of up to this many tokens multiply by the "
                            "GGUF's quantised blocks, compiled for this CPU on first start (same numbers to "
                            "float32 rounding; measured 2-3x faster for 1-3 tokens, 1.2x at 12); 0 uses the "
                            "float32 weights always.")

    max_prompt_tokens: int = Field(512, ge=1, description="Longest prompt, in tokens.")
    max_prompt_chars: int = Field(8000, ge=1, description="Longest prompt, in characters.")
    max_new_tokens: int = Field(256, ge=1, description="Longest generation, in tokens.")
    max_body_bytes: int = Field(256 * 1024, ge=1024, description="Largest request body (413 above it).")
    analysis_cache_entries: int = Field(16, ge=1, description="Prompts whose analysis is kept.")
    analysis_cache_bytes: int = Field(512 * 1024**2, ge=1, description="Memory bound of kept analyses, "
                                      "measured (Analysis.nbytes): one 512-token analysis of SmolLM2 fits (406 MB "
                                      "at 505 tokens), so the server stays under 1.5 GB resident (benchmarks/"
                                      "bench_memory.py).")
    max_all_heads_tokens: int = Field(128, ge=1, description="Longest prompt whose 270 heads are sent at "
                                      "once (L*h*n(n+1)/2 bytes: about 3 MB of base64 at 128 tokens).")
    max_queue: int = Field(16, ge=1, description="Model requests waiting at once before 503.")
