"""C-2 bulk import jobs: write a parsed sheet (``domain.customer_import``) into ``customers``, with progress.

The web upload runs ``run_import`` as an asyncio task in the API process; ``careflow customers import`` runs
it in the foreground. Each block of ``PROGRESS_EVERY`` rows is one transaction that also moves the job's
counters, so the progress shown is always what is really in the database.

A valid row with an ``external_id`` updates the record imported earlier with that id (source ``import``; if
that record was merged since, the record it was merged into), else it inserts a new record — unverified,
like every new record, so it waits in the review queue (C-3). A new record sharing a phone, an email or a
company name with a record on file (or with an earlier row of the same file) is still imported and listed
under ``duplicates`` for review and merge. A row with errors writes nothing and is listed under ``errors``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import literal, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db.customers import CustomerImport
from db.engine import transaction
from db.models import Customer
from domain.customer_import import ParsedFile, ParsedRow, RowError
from domain.customer_quality import DuplicateIndex, keys
from domain.customers import column_values

PROGRESS_EVERY = 100
SOURCE = "import"
log = logging.getLogger(__name__)


async def create_job(
    db: AsyncSession, *, filename: str, created_by: str, parsed: ParsedFile
) -> CustomerImport:
    """The job row, status running, before any row is written. Does not commit."""
    job = CustomerImport(
        filename=filename[:300],
        status="running",
        total=parsed.total,
        processed=0,
        created=0,
        updated=0,
        skipped=0,
        errors=[],
        duplicates=[],
        ignored_columns=parsed.ignored,
        created_by=created_by,
    )
    db.add(job)
    await db.flush()
    return job


class _Index:
    """The duplicate index of the records on file, with their names for the report."""

    def __init__(self) -> None:
        self.keys = DuplicateIndex()
        self.names: dict[int, str] = {}

    @classmethod
    async def load(cls, db: AsyncSession) -> _Index:
        index = cls()
        rows = await db.execute(
            select(Customer.id, Customer.type, Customer.name, Customer.phone, Customer.email).where(
                Customer.merged_into.is_(None)
            )
        )
        for row in rows:
            index.add(row.id, row.name, keys(type=row.type, name=row.name, phone=row.phone, email=row.email))
        return index

    def add(self, customer_id: int, name: str, record_keys: set[tuple[str, str]]) -> None:
        self.keys.add(customer_id, record_keys)
        self.names[customer_id] = name


async def _survivor(db: AsyncSession, customer: Customer) -> Customer:
    seen = {customer.id}
    while customer.merged_into is not None and customer.merged_into not in seen:
        seen.add(customer.merged_into)
        found = await db.get(Customer, customer.merged_into)
        if found is None:
            break
        customer = found
    return customer


async def _write(db: AsyncSession, parsed: ParsedRow, key: bytes) -> tuple[str, Customer]:
    """Inserts or updates one row's record: ("created" | "updated", the record)."""
    values = column_values(parsed.profile, key)
    if parsed.external_id is not None:
        existing = await db.scalar(
            select(Customer).where(Customer.source == SOURCE, Customer.external_id == parsed.external_id)
        )
        if existing is None:
            new_id = await db.scalar(
                pg_insert(Customer)
                .values(**values, source=SOURCE, external_id=parsed.external_id)
                .on_conflict_do_nothing(constraint="customers_source_external_id_key")
                .returning(Customer.id)
            )
            if new_id is not None:
                return "created", await db.get_one(Customer, new_id)
            existing = await db.scalar(  # another import inserted it a moment ago
                select(Customer).where(Customer.source == SOURCE, Customer.external_id == parsed.external_id)
            )
        target = await _survivor(db, existing)
        await db.execute(update(Customer).where(Customer.id == target.id).values(**values))
        await db.refresh(target)
        return "updated", target
    new_id = await db.scalar(pg_insert(Customer).values(**values, source=SOURCE).returning(Customer.id))
    return "created", await db.get_one(Customer, new_id)


async def _block(
    db: AsyncSession,
    job_id: int,
    items: list[tuple[int, ParsedRow | list[RowError]]],
    index: _Index,
    key: bytes,
) -> None:
    counts = {"created": 0, "updated": 0, "skipped": 0}
    errors: list[dict[str, Any]] = []
    duplicates: list[dict[str, Any]] = []
    for row, item in items:
        if isinstance(item, list):
            counts["skipped"] += 1
            errors += [e.as_dict() for e in item]
            continue
        try:
            async with db.begin_nested():
                outcome, customer = await _write(db, item, key)
        except (IntegrityError, DataError) as err:
            counts["skipped"] += 1
            reason = str(err.orig).splitlines()[0] if err.orig else str(err)
            errors.append({"row": row, "field": "__all__", "column": "", "message": f"保存失败: {reason}"})
            continue
        counts[outcome] += 1
        record_keys = keys(type=customer.type, name=customer.name, phone=customer.phone, email=customer.email)
        if outcome == "created":
            matches = index.keys.matches(record_keys, exclude=customer.id)
            if matches:
                duplicates.append(
                    {
                        "row": row,
                        "customer_id": customer.id,
                        "name": customer.name,
                        "matches": [
                            {"id": other, "name": index.names.get(other, ""), "reasons": reasons}
                            for other, reasons in matches.items()
                        ],
                    }
                )
        index.add(customer.id, customer.name, record_keys)
    await db.execute(
        update(CustomerImport)
        .where(CustomerImport.id == job_id)
        .values(
            processed=CustomerImport.processed + len(items),
            created=CustomerImport.created + counts["created"],
            updated=CustomerImport.updated + counts["updated"],
            skipped=CustomerImport.skipped + counts["skipped"],
            errors=CustomerImport.errors.op("||")(_jsonb(errors)),
            duplicates=CustomerImport.duplicates.op("||")(_jsonb(duplicates)),
        )
    )


def _jsonb(value: list[dict[str, Any]]) -> Any:
    return literal(value, JSONB)


async def run_import(
    url: str,
    job_id: int,
    parsed: ParsedFile,
    key: bytes,
    on_progress: Callable[[CustomerImport], None] | None = None,
) -> CustomerImport:
    """Writes every row of ``parsed`` for job ``job_id``; the finished job (done, or failed with a message)."""
    try:
        async with transaction(url) as db:
            index = await _Index.load(db)
        items = list(parsed.rows_in_order())
        for start in range(0, len(items), PROGRESS_EVERY):
            async with transaction(url) as db:
                await _block(db, job_id, items[start : start + PROGRESS_EVERY], index, key)
                job = await db.get_one(CustomerImport, job_id)
            if on_progress is not None:
                on_progress(job)
        status, message = "done", None
    except Exception as err:  # the job must not stay "running" forever: it fails, saying why
        log.exception("customer import %s failed", job_id)
        status, message = "failed", f"{type(err).__name__}: {err}"
    async with transaction(url) as db:
        await db.execute(
            update(CustomerImport)
            .where(CustomerImport.id == job_id)
            .values(status=status, message=message, finished_at=datetime.now(UTC))
        )
        return await db.get_one(CustomerImport, job_id)
