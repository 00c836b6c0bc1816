from fastapi import APIRouter

from api import services
from api.deps import SessionDep

router = APIRouter(prefix="/api/v1", tags=["health"])


@router.get("/health")
async def health(db: SessionDep) -> dict[str, str]:
    await services.ping(db)
    return {"status": "ok"}
