from fastapi import APIRouter

router = APIRouter(prefix="/api", tags=["generate"])
