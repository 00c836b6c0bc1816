"""Staff web pages (zh-CN and English) for the case library (KB-1): search, an entry, new and edited FAQ entries."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from activities import library
from api.auth import CurrentUser, require
from api.deps import SessionDep
from api.errors import Conflict, NotFound
from api.i18n import N_
from api.web.forms import errors_by_field
from api.web.pages import _render, use_locale
from db.library import LibraryEntry
from domain.library import Category, EntryInput, EntryPatch
from domain.permissions import Permission

router = APIRouter(include_in_schema=False)
Editor = Annotated[CurrentUser, Depends(require(Permission.LIBRARY_EDIT))]  # KB-1 edits
PAGE_SIZE = 20
FIELDS = ("title", "symptom", "cause", "remedy", "category", "tags")
CATEGORIES = [c.value for c in Category]
# Staff separate tags with commas (half- or full-width), 、 or spaces.
_TAG_SEPARATORS = re.compile(r"[,，、\s]+")


async def _entry(db: SessionDep, entry_id: int) -> LibraryEntry:
    entry = await db.get(LibraryEntry, entry_id)
    if entry is None:
        raise NotFound(N_("案例库中没有这个条目"))
    return entry


def _form_values(entry: LibraryEntry) -> dict[str, str]:
    return {
        "title": entry.title,
        "symptom": entry.symptom,
        "cause": entry.cause or "",
        "remedy": entry.remedy,
        "category": entry.category or "",
        "tags": "，".join(entry.tags),
    }


def _parse(form: dict[str, str]) -> dict[str, Any]:
    """Form strings to an entry: a blank cause or category is none, tags split on separators."""
    data: dict[str, Any] = {k: form.get(k, "").strip() for k in FIELDS}
    data["cause"] = data["cause"] or None
    data["category"] = data["category"] or None
    data["tags"] = [t for t in _TAG_SEPARATORS.split(data["tags"]) if t]
    return data


def _by_field(err: ValidationError) -> dict[str, str]:
    # "tags.2" (one bad tag) shows at the tags field.
    return {name.split(".", 1)[0]: msg for name, msg in reversed(errors_by_field(err).items())}


def _form_page(request: Request, status: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("errors", {})
    return _render(request, "library_form.html", status, categories=CATEGORIES, **context)


@router.get("/library", response_class=HTMLResponse)
async def search_page(
    request: Request, db: SessionDep, q: str = "", category: str = "", page: int = 1
) -> HTMLResponse:
    page = max(page, 1)
    chosen = category if category in CATEGORIES else None
    found, total = await library.search(
        db, q[:500], category=chosen, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    return _render(
        request,
        "library_search.html",
        hits=found,
        total=total,
        q=q,
        category=chosen or "",
        categories=CATEGORIES,
        page=page,
        page_size=PAGE_SIZE,
    )


@router.get("/library/new", response_class=HTMLResponse)
async def new_form(request: Request) -> HTMLResponse:
    return _form_page(request, entry=None, form={})


@router.post("/library/new", response_class=HTMLResponse)
async def create(request: Request, db: SessionDep, user: Editor) -> Response:
    form = {k: str(v) for k, v in (await request.form()).items()}
    use_locale(request)  # the error messages
    errors: dict[str, str] = {}
    try:
        data = EntryInput.model_validate(_parse(form))
    except ValidationError as err:
        errors.update(_by_field(err))
    if errors:
        return _form_page(request, 422, entry=None, form=form, errors=errors)
    entry = await library.create_entry(db, data, actor=user.display_name)
    await db.commit()
    return RedirectResponse(f"/library/{entry.id}", status_code=303)


@router.get("/library/{entry_id}", response_class=HTMLResponse)
async def entry_page(request: Request, entry_id: int, db: SessionDep, saved: int = 0) -> HTMLResponse:
    return _render(request, "library_entry.html", entry=await _entry(db, entry_id), saved=bool(saved))


@router.get("/library/{entry_id}/edit", response_class=HTMLResponse)
async def edit_form(request: Request, entry_id: int, db: SessionDep) -> HTMLResponse:
    entry = await _entry(db, entry_id)
    return _form_page(request, entry=entry, form=_form_values(entry))


@router.post("/library/{entry_id}/edit", response_class=HTMLResponse)
async def save(request: Request, entry_id: int, db: SessionDep, user: Editor) -> Response:
    entry = await _entry(db, entry_id)
    form = {k: str(v) for k, v in (await request.form()).items()}
    use_locale(request)  # the error messages
    errors: dict[str, str] = {}
    try:
        # The form shows every field, so every field is set: a cleared cause or category is removed.
        patch = EntryPatch.model_validate(_parse(form))
    except ValidationError as err:
        errors.update(_by_field(err))
    if errors:
        return _form_page(request, 422, entry=entry, form=form, errors=errors)
    await library.edit_entry(db, entry, patch, actor=user.display_name)
    await db.commit()
    return RedirectResponse(f"/library/{entry_id}?saved=1", status_code=303)


@router.post("/library/{entry_id}/delete", dependencies=[Depends(require(Permission.LIBRARY_EDIT))])
async def remove(entry_id: int, db: SessionDep) -> Response:
    entry = await _entry(db, entry_id)
    if entry.case_number is not None:
        raise Conflict(N_("归档案例的条目不能删除，可以编辑"))
    await library.delete_entry(db, entry_id)
    await db.commit()
    return RedirectResponse("/library", status_code=303)
