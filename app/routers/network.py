from fastapi import APIRouter

router = APIRouter(prefix="/api/network", tags=["network"])
