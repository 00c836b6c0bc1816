"""C-3 data quality in Postgres: possible duplicates, merging one record into another, and the review step.
Shared by the REST routes (api/routes/customer_quality.py) and the staff pages (api/web/customer_quality.py).

Merge re-points every row that references the duplicate — every foreign key to ``customers.id`` in the
model metadata (``db.records`` imports every model), so a table added later is covered without a change
here — then folds the duplicate's profile into the survivor (``domain.customer_quality.merged_values``),
marks the duplicate ``merged_into`` the survivor and writes a ``customer_merges`` row. The duplicate row
itself stays, so nothing it held is lost and an old link to it still resolves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, Table, and_, func, inspect, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import Conflict, NotFound
from db.customers import CustomerMerge
from db.models import Customer
from db.records import Base
from domain.customer_quality import DuplicateIndex, keys, merged_values
from domain.customers import lifecycle

# The SQL twin of domain.customer_quality.phone_key / email_key, to find candidates with one query.
_PHONE_KEY = func.right(func.regexp_replace(Customer.phone, "[^0-9]", "", "g"), 11)
_EMAIL_KEY = func.lower(func.btrim(Customer.email))


def record_keys(customer: Customer) -> set[tuple[str, str]]:
    return keys(type=customer.type, name=customer.name, phone=customer.phone, email=customer.email)


_INDEX_COLUMNS = (Customer.id, Customer.type, Customer.name, Customer.phone, Customer.email)


async def duplicate_index(db: AsyncSession) -> DuplicateIndex:
    """Every record not merged away, by key (one pass over five columns of ``customers``)."""
    index = DuplicateIndex()
    rows = await db.execute(select(*_INDEX_COLUMNS).where(Customer.merged_into.is_(None)))
    for row in rows:
        index.add(row.id, keys(type=row.type, name=row.name, phone=row.phone, email=row.email))
    return index


@dataclass
class Group:
    reasons: list[tuple[str, str]]
    customers: list[Customer]


async def duplicate_groups(db: AsyncSession) -> list[Group]:
    """Every set of records sharing a phone, an email or (enterprises) a company name, oldest record first."""
    groups = (await duplicate_index(db)).groups()
    ids = {i for g in groups for i in g.members}
    found = {c.id: c for c in (await db.scalars(select(Customer).where(Customer.id.in_(ids)))).all()}
    out = []
    for group in groups:
        members = sorted((found[i] for i in group.members if i in found), key=lambda c: (c.created_at, c.id))
        out.append(Group(reasons=group.reasons, customers=members))
    return out


@dataclass
class Match:
    customer: Customer
    reasons: list[str]


async def duplicates_of(db: AsyncSession, customers: list[Customer]) -> dict[int, list[Match]]:
    """The possible duplicates of each given record among the records not merged away."""
    wanted = {c.id: record_keys(c) for c in customers}
    phones = [k for ks in wanted.values() for kind, k in ks if kind == "phone"]
    emails = [k for ks in wanted.values() for kind, k in ks if kind == "email"]
    companies = any(kind == "company" for ks in wanted.values() for kind, _ in ks)
    conditions = [_PHONE_KEY.in_(phones), _EMAIL_KEY.in_(emails)]
    if companies:
        conditions.append(Customer.type == "enterprise")
    candidates = (
        await db.scalars(select(Customer).where(Customer.merged_into.is_(None), or_(*conditions)))
    ).all()
    index = DuplicateIndex()
    by_id = {c.id: c for c in candidates}
    for candidate in candidates:
        index.add(candidate.id, record_keys(candidate))
    return {
        customer_id: [
            Match(by_id[other], reasons)
            for other, reasons in index.matches(record_keys, exclude=customer_id).items()
        ]
        for customer_id, record_keys in wanted.items()
    }


# -- review ----------------------------------------------------------------------------------------------


async def review_queue(db: AsyncSession, *, limit: int, offset: int) -> tuple[list[Customer], int]:
    """Records not verified yet (and not merged away), oldest first."""
    waiting = and_(Customer.verified_at.is_(None), Customer.merged_into.is_(None))
    total = await db.scalar(select(func.count()).select_from(Customer).where(waiting)) or 0
    page = await db.scalars(
        select(Customer).where(waiting).order_by(Customer.created_at, Customer.id).limit(limit).offset(offset)
    )
    return list(page.all()), total


async def _customer(db: AsyncSession, customer_id: int, *, lock: bool = False) -> Customer:
    query = select(Customer).where(Customer.id == customer_id)
    customer = await db.scalar(query.with_for_update() if lock else query)
    if customer is None:
        raise NotFound(f"customer {customer_id} does not exist")
    return customer


async def verify(db: AsyncSession, customer_id: int, *, actor: str) -> Customer:
    """The review step (C-3): the record counts as verified from now on. Does not commit."""
    customer = await _customer(db, customer_id, lock=True)
    if customer.merged_into is not None:
        raise Conflict(f"customer {customer_id} was merged into {customer.merged_into}; review that record")
    if customer.verified_at is not None:
        raise Conflict(f"customer {customer_id} was already verified by {customer.verified_by}")
    customer.verified_at = datetime.now(UTC)
    customer.verified_by = actor
    await db.flush()
    return customer


# -- merge -----------------------------------------------------------------------------------------------


def customer_references() -> list[tuple[Table, Column[Any]]]:
    """Every (table, column) with a foreign key to customers.id, in the model metadata."""
    found = []
    for table in Base.metadata.sorted_tables:
        for fk in table.foreign_keys:
            if fk.column.table.name == Customer.__tablename__ and fk.column.name == "id":
                found.append((table, fk.parent))
    return sorted(found, key=lambda tc: (tc[0].name, tc[1].name))


@dataclass
class MergeResult:
    survivor: Customer
    merge: CustomerMerge
    moved: dict[str, int] = field(default_factory=dict)


async def _repoint(
    db: AsyncSession, table: Table, column: Column[Any], survivor_id: int, duplicate_id: int
) -> tuple[int, list[dict[str, Any]]]:
    """Moves the rows of ``table`` that point at the duplicate to the survivor: how many moved, and the keys
    of the rows a unique rule keeps where they are (the survivor already has such a row, e.g. a score or
    this month's push)."""
    where = column == duplicate_id
    if table.name == Customer.__tablename__:
        where = and_(where, table.c.id != survivor_id)  # the survivor referred by its own duplicate stays so
    try:
        async with db.begin_nested():
            moved = (await db.execute(update(table).where(where).values({column.name: survivor_id}))).rowcount
        return moved, []
    except IntegrityError:
        pass
    primary = list(table.primary_key.columns)
    moved, kept = 0, []
    for row in (await db.execute(select(*primary).where(where))).all():
        key = dict(zip([c.name for c in primary], row, strict=True))
        try:
            async with db.begin_nested():
                match = and_(*(c == v for c, v in zip(primary, row, strict=True)))
                await db.execute(update(table).where(match).values({column.name: survivor_id}))
            moved += 1
        except IntegrityError:
            kept.append(
                {"table": table.name, "column": column.name, "key": {k: str(v) for k, v in key.items()}}
            )
    return moved, kept


def _columns(customer: Customer) -> dict[str, Any]:
    return {attr.key: getattr(customer, attr.key) for attr in inspect(Customer).column_attrs}


async def merge(db: AsyncSession, survivor_id: int, duplicate_id: int, *, actor: str) -> MergeResult:
    """Merges ``duplicate_id`` into ``survivor_id`` keeping every history (C-3). Does not commit.

    404 for an unknown record; 409 for a record merged into itself, or either one already merged away."""
    if survivor_id == duplicate_id:
        raise Conflict("a record cannot be merged into itself")
    # Both rows locked in id order, so two merges of the same pair cannot deadlock or interleave.
    first, second = sorted((survivor_id, duplicate_id))
    locked = {first: await _customer(db, first, lock=True), second: await _customer(db, second, lock=True)}
    survivor, duplicate = locked[survivor_id], locked[duplicate_id]
    for record in (survivor, duplicate):
        if record.merged_into is not None:
            raise Conflict(f"customer {record.id} was already merged into customer {record.merged_into}")

    moved: dict[str, int] = {}
    kept: list[dict[str, Any]] = []
    # Every reference moves, customers.referred_by and customers.merged_into (records merged into the
    # duplicate earlier) included.
    for table, column in customer_references():
        count, stuck = await _repoint(db, table, column, survivor_id, duplicate_id)
        if count:
            moved[f"{table.name}.{column.name}"] = count
        kept += stuck

    await db.refresh(survivor)
    await db.refresh(duplicate)
    changes, filled = merged_values(_columns(survivor), _columns(duplicate))
    # The duplicate's unique identifiers stay with it (they still find it, and through it the survivor).
    duplicate.merged_into = survivor_id
    await db.flush()
    if "last_interaction_at" in changes:
        status = lifecycle(changes["last_interaction_at"], survivor.created_at, datetime.now(UTC))
        changes["lifecycle"] = status.value
    for column, value in changes.items():
        setattr(survivor, column, value)
    entry = CustomerMerge(
        survivor_id=survivor_id,
        duplicate_id=duplicate_id,
        duplicate_name=duplicate.name,
        merged_by=actor,
        moved=moved,
        kept=kept,
        filled=filled,
    )
    db.add(entry)
    await db.flush()
    return MergeResult(survivor=survivor, merge=entry, moved=moved)


async def merges_into(db: AsyncSession, survivor_id: int) -> list[CustomerMerge]:
    """The merges a record took in (its lineage: merges its duplicates had taken in move with them)."""
    rows = await db.scalars(
        select(CustomerMerge)
        .where(CustomerMerge.survivor_id == survivor_id)
        .order_by(CustomerMerge.merged_at)
    )
    return list(rows.all())
