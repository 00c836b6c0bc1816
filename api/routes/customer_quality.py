"""REST: /api/v1/customers — bulk import (C-2), duplicates, merge and review (C-3).

Registered before the customer CRUD router, whose ``/customers/{id}`` would otherwise take ``imports``,
``duplicates`` and ``review`` for an id. See docs/customer-import.md.
"""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from starlette.datastructures import UploadFile as StarletteUpload

from api import customer_quality as quality
from api.audit import audit
from api.auth import ActorDep, require
from api.customer_import import create_job, run_import
from api.deps import SessionDep, SettingsDep
from api.errors import Invalid, NotFound
from config import Settings
from db.customers import CustomerImport, CustomerMerge
from db.models import Customer
from domain.customer_import import MAX_BYTES, ImportFileError, ParsedFile, parse_file
from domain.customers import mask_email, mask_phone
from domain.permissions import Permission

router = APIRouter(prefix="/api/v1", tags=["customer data quality"])

IMPORT = [Depends(require(Permission.CUSTOMERS_IMPORT))]  # C-2 bulk import
REVIEW = [Depends(require(Permission.CUSTOMERS_REVIEW))]  # C-3 verify and merge; reading is open to staff
ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "the role (or the token's scopes) does not allow it"},
    404: {"description": "unknown customer or import"},
    409: {"description": "already verified, already merged, or a record merged into itself"},
    422: {"description": "invalid input; `detail[].loc` names the field"},
}
# The running imports of this process: a task nobody references may be garbage-collected mid-run.
_RUNNING: set[asyncio.Task[Any]] = set()


class RowErrorOut(BaseModel):
    row: int = Field(description="the row number in the sheet (the header is row 1)")
    field: str = Field(description="the profile field, e.g. phone; `__all__` when the row could not be saved")
    column: str = Field(description="the column header as written in the file")
    message: str


class DuplicateMatchOut(BaseModel):
    id: int
    name: str
    reasons: list[str] = Field(description="phone | email | company")


class ImportedDuplicateOut(BaseModel):
    row: int
    customer_id: int = Field(description="the record this row created (unverified)")
    name: str
    matches: list[DuplicateMatchOut]


class ImportOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    filename: str
    status: str = Field(description="running | done | failed")
    total: int
    processed: int
    created: int
    updated: int
    skipped: int
    errors: list[RowErrorOut]
    duplicates: list[ImportedDuplicateOut]
    ignored_columns: list[str]
    message: str | None = Field(description="why the job failed")
    created_by: str
    created_at: datetime
    finished_at: datetime | None


class ImportPage(BaseModel):
    items: list[ImportOut]
    total: int


class CustomerBrief(BaseModel):
    """A record as the review and duplicate lists show it (phone and email masked, SEC-1)."""

    id: int
    name: str
    type: str
    phone: str | None
    email: str | None
    region: str | None
    source: str | None
    created_at: datetime
    verified_at: datetime | None
    verified_by: str | None
    merged_into: int | None


def brief(customer: Customer) -> CustomerBrief:
    return CustomerBrief(
        id=customer.id,
        name=customer.name,
        type=customer.type,
        phone=mask_phone(customer.phone),
        email=mask_email(customer.email),
        region=customer.region,
        source=customer.source,
        created_at=customer.created_at,
        verified_at=customer.verified_at,
        verified_by=customer.verified_by,
        merged_into=customer.merged_into,
    )


class ReasonOut(BaseModel):
    kind: str = Field(description="phone | email | company")
    key: str = Field(description="the shared value (phone and email masked), or the normalised company name")


def reason(kind: str, key: str) -> ReasonOut:
    shown = mask_phone(key) if kind == "phone" else mask_email(key) if kind == "email" else key
    return ReasonOut(kind=kind, key=shown or "")


class DuplicateGroupOut(BaseModel):
    reasons: list[ReasonOut]
    customers: list[CustomerBrief] = Field(description="oldest first")


class MergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    duplicate_id: int = Field(description="the record merged away into the one in the path")


class MergeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    survivor_id: int
    duplicate_id: int
    duplicate_name: str
    merged_by: str
    merged_at: datetime
    moved: dict[str, int] = Field(description='rows re-pointed per "table.column"')
    kept: list[dict[str, Any]] = Field(description="rows a unique rule kept on the duplicate")
    filled: list[str] = Field(description="survivor columns filled or extended from the duplicate")


class ReviewItem(BaseModel):
    customer: CustomerBrief
    duplicates: list[DuplicateMatchOut]


class ReviewPage(BaseModel):
    items: list[ReviewItem]
    total: int
    page: int
    page_size: int


# -- import ----------------------------------------------------------------------------------------------


async def read_upload(upload: StarletteUpload) -> tuple[str, ParsedFile]:
    """The upload's name and parsed rows; 422 naming ``file`` for a file that can't be read at all."""
    data = await upload.read(MAX_BYTES + 1)
    filename = upload.filename or "upload"
    if not data:
        raise Invalid("file", "文件是空的")
    try:
        parsed = await asyncio.to_thread(parse_file, filename, data)  # XLSX parsing is CPU work
    except ImportFileError as err:
        raise Invalid("file", str(err)) from None
    return filename, parsed


async def start_import(
    db: SessionDep,
    settings: Settings,
    request: Request,
    *,
    filename: str,
    parsed: ParsedFile,
    created_by: str,
    wait: bool,
) -> CustomerImport:
    """Creates the job (audited, SEC-2) and writes its rows: in the background, or before answering when
    ``wait``."""
    job = await create_job(db, filename=filename, created_by=created_by, parsed=parsed)
    await audit(
        db,
        request,
        created_by,
        "customer.import",
        f"import:{job.id}",
        {"filename": filename, "rows": parsed.total},
    )
    await db.commit()
    key = settings.signing_key().encode()
    work = run_import(settings.sqlalchemy_url(), job.id, parsed, key)
    if wait:
        return await work
    task = asyncio.create_task(work, name=f"customer-import-{job.id}")
    _RUNNING.add(task)
    task.add_done_callback(_RUNNING.discard)
    return job


@router.post(
    "/customers/imports",
    status_code=202,
    responses=ERRORS,
    summary="Import customers from CSV/XLSX",
    dependencies=IMPORT,
)
async def import_customers(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    actor: ActorDep,
    file: Annotated[UploadFile, File(description="CSV (UTF-8, UTF-8 with BOM or GBK) or XLSX")],
    wait: Annotated[bool, Query(description="answer when the import has finished")] = False,
) -> ImportOut:
    """Starts an import job (202) and answers at once with its id; poll `GET .../imports/{id}` for progress
    and the per-row report. A file that can't be read at all is refused with 422 naming `file`."""
    filename, parsed = await read_upload(file)
    job = await start_import(
        db,
        settings,
        request,
        filename=filename,
        parsed=parsed,
        created_by=actor,
        wait=wait,
    )
    return ImportOut.model_validate(job)


@router.get("/customers/imports")
async def list_imports(
    db: SessionDep,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> ImportPage:
    """Import jobs, newest first."""
    total = await db.scalar(select(func.count()).select_from(CustomerImport)) or 0
    jobs = await db.scalars(
        select(CustomerImport)
        .order_by(CustomerImport.id.desc())
        .limit(page_size)
        .offset((page - 1) * page_size)
    )
    return ImportPage(items=[ImportOut.model_validate(j) for j in jobs], total=total)


async def get_job(db: SessionDep, import_id: int) -> CustomerImport:
    job = await db.get(CustomerImport, import_id)
    if job is None:
        raise NotFound(f"customer import {import_id} does not exist")
    return job


@router.get("/customers/imports/{import_id}", responses=ERRORS)
async def get_import(import_id: int, db: SessionDep) -> ImportOut:
    """Progress while the job runs; once done, the per-row errors and the rows that look like duplicates."""
    return ImportOut.model_validate(await get_job(db, import_id))


def errors_csv(job: CustomerImport) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["行号", "列", "字段", "错误"])
    for error in job.errors:
        writer.writerow([error["row"], error.get("column", ""), error["field"], error["message"]])
    return out.getvalue().encode("utf-8-sig")  # the BOM makes Excel read it as UTF-8


@router.get("/customers/imports/{import_id}/errors.csv", responses=ERRORS, response_class=Response)
async def import_errors_csv(import_id: int, db: SessionDep) -> Response:
    """The per-row errors as CSV (UTF-8 with BOM, opens in Excel): row, column, field, message."""
    job = await get_job(db, import_id)
    return Response(
        errors_csv(job),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="import-{job.id}-errors.csv"'},
    )


# -- duplicates, merge, review ---------------------------------------------------------------------------


@router.get("/customers/duplicates")
async def list_duplicates(db: SessionDep) -> list[DuplicateGroupOut]:
    """Groups of records (not merged away) sharing a phone, an email or — enterprises — a company name."""
    return [
        DuplicateGroupOut(
            reasons=[reason(k, v) for k, v in g.reasons], customers=[brief(c) for c in g.customers]
        )
        for g in await quality.duplicate_groups(db)
    ]


@router.get("/customers/review")
async def review_queue(
    db: SessionDep,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 50,
) -> ReviewPage:
    """Records waiting for review (not verified, not merged away), oldest first, with possible duplicates."""
    customers, total = await quality.review_queue(db, limit=page_size, offset=(page - 1) * page_size)
    found = await quality.duplicates_of(db, customers)
    items = [
        ReviewItem(
            customer=brief(c),
            duplicates=[
                DuplicateMatchOut(id=m.customer.id, name=m.customer.name, reasons=m.reasons)
                for m in found[c.id]
            ],
        )
        for c in customers
    ]
    return ReviewPage(items=items, total=total, page=page, page_size=page_size)


async def audit_merge(db: SessionDep, request: Request, actor: str, merge: CustomerMerge) -> None:
    detail = {"duplicate_id": merge.duplicate_id, "moved": merge.moved, "filled": merge.filled}
    await audit(db, request, actor, "customer.merge", f"customer:{merge.survivor_id}", detail)


@router.post("/customers/{customer_id}/verify", responses=ERRORS, dependencies=REVIEW)
async def verify_customer(
    request: Request, customer_id: int, db: SessionDep, actor: ActorDep
) -> CustomerBrief:
    """The review step: the record counts as verified (409 if it already is, or was merged away)."""
    customer = await quality.verify(db, customer_id, actor=actor)
    await audit(db, request, actor, "customer.verify", f"customer:{customer_id}")
    await db.commit()
    return brief(customer)


@router.post("/customers/{customer_id}/merge", responses=ERRORS, dependencies=REVIEW)
async def merge_customer(
    request: Request, customer_id: int, body: MergeIn, db: SessionDep, actor: ActorDep
) -> MergeOut:
    """Merges `duplicate_id` into this record keeping every history: every row referencing the duplicate
    (cases, orders, transactions, surveys, push deliveries, …) moves here, tags and contacts are joined, empty
    fields are filled, and the duplicate is kept, marked `merged_into` this record."""
    result = await quality.merge(db, customer_id, body.duplicate_id, actor=actor)
    await audit_merge(db, request, actor, result.merge)
    await db.commit()
    return MergeOut.model_validate(result.merge)


@router.get("/customers/{customer_id}/merges", responses=ERRORS)
async def customer_merges(customer_id: int, db: SessionDep) -> list[MergeOut]:
    """The merges this record took in, oldest first (for its timeline)."""
    if await db.get(Customer, customer_id) is None:
        raise NotFound(f"customer {customer_id} does not exist")
    merges: list[CustomerMerge] = await quality.merges_into(db, customer_id)
    return [MergeOut.model_validate(m) for m in merges]
