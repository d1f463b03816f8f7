"""Dependencies as Annotated aliases: handlers ask for `EngineDep` and get the loaded engine."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.engine import Engine
from app.settings import Settings


# `async def`, though they only read an attribute: FastAPI runs a plain `def` dependency in its thread
# pool, so every request would hand it to a pool thread and back, two more wake-ups taking the GIL
# and a core while the model's pass runs on both.
async def get_engine(request: Request) -> Engine:
    return request.app.state.engine


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


EngineDep = Annotated[Engine, Depends(get_engine)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
