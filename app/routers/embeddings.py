from fastapi import APIRouter

router = APIRouter(prefix="/api/embeddings", tags=["embeddings"])
