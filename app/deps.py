"""Dependencies as Annotated aliases: handlers ask for `EngineDep` and get the loaded engine."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.engine import Engine
from app.settings import Settings


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


EngineDep = Annotated[Engine, Depends(get_engine)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
