"""The touch ledger and the shared frequency cap (R-6), and the responses that land on it (R-5).

Whoever touches a customer for marketing or relationship care — a value-added push, the monthly interaction
plan, a journey — first reserves the touch here. ``reserve`` returns False when the customer already has the
month's cap of touches (``touch_policy.max_per_month``, a Beijing-time calendar month, every kind together),
True otherwise; a reservation is idempotent by its key, so a retried activity neither writes nor counts twice.
Every writer takes the same transaction-scoped advisory lock, so two writers choosing the same customer at the
same moment cannot both take the last place. Service messages (case notices, order updates, the survey of a
closed case) never come here and are never capped.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity

from db.engine import transaction
from db.models import Customer
from db.touches import CustomerTouch, TouchPolicy
from domain.interaction_plans import (
    DEFAULT_CAP,
    RESPONSE_RANK,
    Response,
    TouchPolicyIn,
    TouchPolicyOut,
    month_bounds,
    month_of,
)

# pg_advisory_xact_lock key shared by every writer of the ledger (and the value-push send batches, which hold
# it while they choose their audience), so the cap holds under concurrency.
CAP_LOCK = 7_160_006


async def lock(db: AsyncSession) -> None:
    await db.execute(select(func.pg_advisory_xact_lock(CAP_LOCK)))


async def monthly_cap(db: AsyncSession) -> int:
    return await db.scalar(select(TouchPolicy.max_per_month).where(TouchPolicy.id == 1)) or DEFAULT_CAP


async def touches_in_month(db: AsyncSession, customer_id: int, at: datetime) -> int:
    start, end = month_bounds(month_of(at))
    found = await db.scalar(
        select(func.count()).where(
            CustomerTouch.customer_id == customer_id, CustomerTouch.at >= start, CustomerTouch.at < end
        )
    )
    return found or 0


async def reserve(
    db: AsyncSession,
    *,
    customer_id: int,
    kind: str,
    source: str,
    key: str,
    at: datetime,
    plan: str | None = None,
    topic: str | None = None,
    link: str | None = None,
    done: bool = False,
) -> bool:
    """Writes the touch unless the customer is at the cap of ``at``'s month; True if it is (or was) written.
    Runs in the caller's transaction, so a touch and what it stands for (a push delivery) commit together."""
    await lock(db)
    if await db.scalar(select(CustomerTouch.id).where(CustomerTouch.key == key)) is not None:
        return True
    if await touches_in_month(db, customer_id, at) >= await monthly_cap(db):
        return False
    tier = select(Customer.tier).where(Customer.id == customer_id).scalar_subquery()
    await db.execute(
        pg_insert(CustomerTouch)
        .values(
            key=key,
            customer_id=customer_id,
            kind=kind,
            source=source,
            plan=plan,
            topic=topic,
            tier=func.coalesce(tier, "normal"),
            at=at,
            link=link,
            done_at=at if done else None,
        )
        .on_conflict_do_nothing(index_elements=["key"])
    )
    return True


def push_key(number: str, customer_id: int) -> str:
    """The touch of one push delivery (campaign number, customer)."""
    return f"push:{number}:{customer_id}"


def survey_key(key: str) -> str:
    """The touch of a survey sent as a touch (the reactivation survey), from the survey's own key."""
    return f"survey:{key}"


async def stamp(db: AsyncSession, key: str, response: Response, at: datetime) -> bool:
    """Records a response on the touch of ``key``: the first response's time stays, a stronger response
    (a click after an open) replaces a weaker one. False if there is no such touch."""
    touch = await db.scalar(select(CustomerTouch).where(CustomerTouch.key == key).with_for_update())
    if touch is None:
        return False
    if touch.responded_at is None:
        touch.responded_at = at
    if RESPONSE_RANK[response] > RESPONSE_RANK.get(touch.response or "", 0):
        touch.response = response
    return True


async def stamp_token(db: AsyncSession, token: str, response: Response, at: datetime) -> str | None:
    """A tracked link of a plan message was opened or clicked: the link it leads to, None if unknown."""
    touch = await db.scalar(select(CustomerTouch).where(CustomerTouch.token == token))
    if touch is None:
        return None
    await stamp(db, touch.key, response, at)
    return touch.link or "/"


async def record_response(db: AsyncSession, touch_id: int, response: Response) -> CustomerTouch | None:
    """Staff record a response (a callback that led to a reply); None for an unknown touch. The caller
    commits (with its audit row)."""
    key = await db.scalar(select(CustomerTouch.key).where(CustomerTouch.id == touch_id))
    if key is None:
        return None
    await stamp(db, key, response, datetime.now(UTC))
    await db.flush()
    return await db.get(CustomerTouch, touch_id, populate_existing=True)


# -- the cap's policy (admins) --------------------------------------------------------------------------------


async def get_policy(db: AsyncSession) -> TouchPolicyOut:
    row = await db.get(TouchPolicy, 1, populate_existing=True)
    if row is None:
        return TouchPolicyOut(max_per_month=DEFAULT_CAP, updated_by="system", updated_at=datetime.now(UTC))
    return TouchPolicyOut(
        max_per_month=row.max_per_month, updated_by=row.updated_by, updated_at=row.updated_at
    )


async def set_policy(db: AsyncSession, body: TouchPolicyIn) -> None:
    """Changes the cap; the caller commits (with its audit row)."""
    await db.execute(
        pg_insert(TouchPolicy)
        .values(id=1, max_per_month=body.max_per_month, updated_by=body.actor)
        .on_conflict_do_update(
            index_elements=["id"],
            set_={"max_per_month": body.max_per_month, "updated_by": body.actor, "updated_at": func.now()},
        )
    )


class TouchActivities:
    def __init__(self, database_url: str) -> None:
        self.url = database_url

    @activity.defn
    async def reserve_touch(
        self, customer_id: int, kind: str, source: str, key: str | None = None, at: datetime | None = None
    ) -> bool:
        """R-6 for any workflow: False when the customer has this month's cap of touches already. ``key``
        (default ``<source>:<kind>:<customer>``) makes a retried call count once; ``at`` defaults to now."""
        async with transaction(self.url) as db:
            return await reserve(
                db,
                customer_id=customer_id,
                kind=kind,
                source=source,
                key=key or f"{source}:{kind}:{customer_id}",
                at=at or datetime.now(UTC),
                done=True,
            )


async def mark_done(db: AsyncSession, keys: list[str], at: datetime) -> None:
    await db.execute(
        update(CustomerTouch)
        .where(CustomerTouch.key.in_(keys), CustomerTouch.done_at.is_(None))
        .values(done_at=at)
    )
