"""GET /api/model: the model being run (its shape, size) and the server's input limits."""

from fastapi import APIRouter

from app.deps import EngineDep
from app.schemas.model import ModelInfo
from app.views import model as view

router = APIRouter(prefix="/api", tags=["model"])


@router.get("/model", response_model=ModelInfo)
def model_info(engine: EngineDep) -> ModelInfo:
    """Describe the model being run: its shape, size and the server's input limits."""
    return view.model_info(engine)
