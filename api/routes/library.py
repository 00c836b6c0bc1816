"""REST: /api/v1/library — the case library and FAQ (KB-1): ranked search, manual entries, edits."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from activities import library
from api.auth import ActorDep, require
from api.deps import SessionDep
from api.errors import Conflict, NotFound
from db.library import LibraryEntry
from domain.library import Category, EntryInput, EntryPatch
from domain.permissions import Permission

router = APIRouter(prefix="/api/v1", tags=["library"])

EDIT = [Depends(require(Permission.LIBRARY_EDIT))]  # KB-1 edits; reading is open to all staff
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "unknown library entry"},
    422: {"description": "invalid field; `detail[].loc` names it"},
}


class EntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    case_number: str | None = Field(description="the archived case; null for a manual (FAQ) entry")
    process: str | None
    category: str | None = Field(description="consultation | fault | complaint | suggestion")
    title: str
    symptom: str
    cause: str | None
    remedy: str
    tags: list[str]
    created_by: str
    created_at: datetime
    updated_at: datetime
    updated_by: str | None


class HitOut(EntryOut):
    score: float = Field(description="ts_rank_cd of the query; entries holding every query term come first")


class LibraryPage(BaseModel):
    items: list[HitOut]
    total: int
    page: int
    page_size: int


async def _entry(db: SessionDep, entry_id: int) -> LibraryEntry:
    entry = await db.get(LibraryEntry, entry_id)
    if entry is None:
        raise NotFound(f"library entry {entry_id} does not exist")
    return entry


@router.get("/library")
async def search_library(
    db: SessionDep,
    q: Annotated[str, Query(max_length=500, description="Chinese or English text; empty lists all")] = "",
    category: Category | None = None,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> LibraryPage:
    """Archived cases and FAQ entries ranked for `q` (e.g. `报表导出失败` finds `无法导出报表`)."""
    found, total = await library.search(
        db, q, category=category, limit=page_size, offset=(page - 1) * page_size
    )
    items = [HitOut.model_validate({**EntryOut.model_validate(e).model_dump(), "score": s}) for e, s in found]
    return LibraryPage(items=items, total=total, page=page, page_size=page_size)


@router.post("/library", status_code=201, responses=ERRORS, dependencies=EDIT)
async def create_entry(body: EntryInput, db: SessionDep, actor: ActorDep) -> EntryOut:
    """A manual entry (FAQ / 知识库话术); resolved cases are archived by their workflows."""
    entry = await library.create_entry(db, body, actor=actor)
    await db.commit()
    return EntryOut.model_validate(entry)


@router.get("/library/{entry_id}", responses=ERRORS)
async def get_entry(entry_id: int, db: SessionDep) -> EntryOut:
    return EntryOut.model_validate(await _entry(db, entry_id))


@router.patch("/library/{entry_id}", responses=ERRORS, dependencies=EDIT)
async def edit_entry(entry_id: int, body: EntryPatch, db: SessionDep, actor: ActorDep) -> EntryOut:
    """Changes the fields given (an archived case's entry too: staff may sharpen its wording)."""
    entry = await library.edit_entry(db, await _entry(db, entry_id), body, actor=actor)
    await db.commit()
    return EntryOut.model_validate(entry)


@router.delete(
    "/library/{entry_id}",
    status_code=204,
    responses={**ERRORS, 409: {"description": "the entry archives a case and is kept"}},
    dependencies=EDIT,
)
async def delete_entry(entry_id: int, db: SessionDep) -> Response:
    """Deletes a manual entry. An archived case's entry is the record of how that case was resolved
    (000 §(三) 归档) and its workflow would write it again on a reopen, so it is edited, not deleted."""
    entry = await _entry(db, entry_id)
    if entry.case_number is not None:
        raise Conflict(f"library entry {entry_id} archives case {entry.case_number}; edit it instead")
    await library.delete_entry(db, entry_id)
    await db.commit()
    return Response(status_code=204)
