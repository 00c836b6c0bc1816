"""Staff pages (zh-CN, and English) for bulk import (C-2), duplicates and merge, and the review queue (C-3).

Registered before the customer pages, whose ``/customers/{id}`` would otherwise take ``import``,
``duplicates`` and ``review`` for an id.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile

from api import customer_quality as quality
from api.audit import audit
from api.auth import CurrentUser, require
from api.deps import SessionDep, SettingsDep
from api.errors import Invalid
from api.i18n import N_, gettext
from api.routes.customer_quality import audit_merge, get_job, read_upload, start_import
from api.web.customer_panels import PANELS
from api.web.pages import _render, use_locale
from db.customers import CustomerImport
from db.models import Customer
from domain.customer_import import COLUMNS
from domain.permissions import Permission

router = APIRouter(include_in_schema=False)
Importer = Annotated[CurrentUser, Depends(require(Permission.CUSTOMERS_IMPORT))]  # C-2
Reviewer = Annotated[CurrentUser, Depends(require(Permission.CUSTOMERS_REVIEW))]  # C-3 verify and merge
REVIEW_PAGE_SIZE = 50
RECENT_IMPORTS = 10


def _next(form: dict[str, Any], default: str) -> str:
    """Where a form goes back to: a path on this site only."""
    target = str(form.get("next") or "")
    return target if target.startswith("/") and not target.startswith("//") else default




# -- import ----------------------------------------------------------------------------------------------


async def _import_page(request: Request, db: AsyncSession, status: int = 200, **context: Any) -> HTMLResponse:
    recent = (
        await db.scalars(select(CustomerImport).order_by(CustomerImport.id.desc()).limit(RECENT_IMPORTS))
    ).all()
    context.setdefault("errors", {})
    return _render(request, "customer_import.html", status, recent=recent, columns=COLUMNS, **context)


@router.get("/customers/import", response_class=HTMLResponse)
async def import_form(request: Request, db: SessionDep) -> HTMLResponse:
    return await _import_page(request, db)


@router.get("/customers/import/template.csv", response_class=Response)
async def import_template() -> Response:
    """An empty sheet with the usual headers, UTF-8 with BOM so Excel opens it correctly."""
    headers = [names[0] for names in COLUMNS.values()]
    sample = [
        "张伟",
        "个人",
        "13812345678",
        "zhang.wei@example.com",
        "制造业",
        "上海",
        "",
        "官网",
        "",
        "",
        "li.na",
    ]
    body = ",".join(headers) + "\n" + ",".join(sample + [""] * (len(headers) - len(sample))) + "\n"
    return Response(
        body.encode("utf-8-sig"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="customer-import-template.csv"'},
    )


@router.post("/customers/import", response_class=HTMLResponse)
async def upload(request: Request, db: SessionDep, settings: SettingsDep, user: Importer) -> Response:
    form = await request.form()
    use_locale(request)  # the error message
    errors: dict[str, str] = {}
    upload_file = form.get("file")
    parsed = None
    if not isinstance(upload_file, UploadFile) or not upload_file.filename:
        errors["file"] = gettext("请选择要导入的 CSV 或 XLSX 文件")
    else:
        try:
            filename, parsed = await read_upload(upload_file)
        except Invalid as err:
            errors["file"] = err.message
    if errors or parsed is None:
        return await _import_page(request, db, 422, errors=errors)
    job = await start_import(
        db, settings, request, filename=filename, parsed=parsed, created_by=user.display_name, wait=False
    )
    return RedirectResponse(f"/customers/import/{job.id}", status_code=303)


@router.get("/customers/import/{import_id}", response_class=HTMLResponse)
async def import_job(request: Request, import_id: int, db: SessionDep) -> HTMLResponse:
    return _render(request, "customer_import_job.html", job=await get_job(db, import_id))


# -- duplicates and merge --------------------------------------------------------------------------------


@router.get("/customers/duplicates", response_class=HTMLResponse)
async def duplicates_page(request: Request, db: SessionDep, merged: int = 0) -> HTMLResponse:
    groups = await quality.duplicate_groups(db)
    return _render(request, "customer_duplicates.html", groups=groups, merged=merged)


@router.post("/customers/{customer_id}/merge", response_class=HTMLResponse)
async def merge_form(request: Request, customer_id: int, db: SessionDep, user: Reviewer) -> Response:
    form = dict(await request.form())
    raw = str(form.get("duplicate_id") or "").strip()
    if not raw.isdigit():
        raise Invalid("duplicate_id", N_("请选择要并入的重复记录"))
    result = await quality.merge(db, customer_id, int(raw), actor=user.display_name)
    await audit_merge(db, request, user.display_name, result.merge)
    await db.commit()
    return RedirectResponse(_next(form, f"/customers/{customer_id}"), status_code=303)


# -- review ----------------------------------------------------------------------------------------------


def _pair(waiting: Customer, other: Customer) -> tuple[Customer, Customer]:
    """(keep, merge in) as the review queue offers it: a verified record, else the older one, is kept."""
    other_first = other.verified_at is not None or (other.created_at, other.id) < (
        waiting.created_at,
        waiting.id,
    )
    return (other, waiting) if other_first else (waiting, other)


@router.get("/customers/review", response_class=HTMLResponse)
async def review_page(request: Request, db: SessionDep, page: int = 1) -> HTMLResponse:
    page = max(page, 1)
    customers, total = await quality.review_queue(
        db, limit=REVIEW_PAGE_SIZE, offset=(page - 1) * REVIEW_PAGE_SIZE
    )
    found = await quality.duplicates_of(db, customers)
    return _render(
        request,
        "customer_review.html",
        items=[(c, found[c.id], [_pair(c, m.customer) for m in found[c.id]]) for c in customers],
        total=total,
        page=page,
        page_size=REVIEW_PAGE_SIZE,
    )


@router.post("/customers/{customer_id}/verify", response_class=HTMLResponse)
async def verify_form(request: Request, customer_id: int, db: SessionDep, user: Reviewer) -> Response:
    form = dict(await request.form())
    await quality.verify(db, customer_id, actor=user.display_name)
    await audit(db, request, user.display_name, "customer.verify", f"customer:{customer_id}")
    await db.commit()
    return RedirectResponse(_next(form, "/customers/review"), status_code=303)


# -- the panel on the customer page ----------------------------------------------------------------------


async def load_review_panel(db: AsyncSession, customer_id: int) -> dict[str, Any]:
    """``review_panel`` for ``_customer_review_panel.html``: verified or not, possible duplicates, merges."""
    customer = await db.get(Customer, customer_id)
    if customer is None:
        return {}
    duplicates = [] if customer.merged_into else (await quality.duplicates_of(db, [customer]))[customer_id]
    return {
        "review_panel": {
            "customer_id": customer.id,
            "verified_at": customer.verified_at,
            "verified_by": customer.verified_by,
            "merged_into": customer.merged_into,
            "duplicates": duplicates,
            "merges": await quality.merges_into(db, customer_id),
        }
    }


PANELS.append(load_review_panel)
