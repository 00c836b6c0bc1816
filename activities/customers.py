"""C-5 lifecycle: a customer's last interaction and the active / dormant / churned status derived from it.

``touch`` runs inside the transaction that records an interaction (a case opening, an order): the status is
re-derived on the spot. ``refresh_lifecycles`` is the quarterly pass over every customer in one statement:
time alone turns an active customer dormant, and interactions recorded without a touch (a survey answer, a
click on a push) still count because the pass takes the latest of them from their own tables.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity

from db.engine import transaction
from db.models import Customer
from domain.customers import CHURNED_AFTER, DORMANT_AFTER, Lifecycle, lifecycle
from domain.models import Model


class LifecycleCounts(Model):
    """What a refresh pass left: customers per status, and how many changed status."""

    active: int = 0
    dormant: int = 0
    churned: int = 0
    changed: int = 0


async def touch(db: AsyncSession, customer_id: int, at: datetime) -> Lifecycle | None:
    """Records an interaction at ``at`` (an older one never moves the last interaction back) and re-derives
    the lifecycle; None for an unknown customer. Does not commit: the caller's transaction decides."""
    row = (
        await db.execute(
            select(Customer.last_interaction_at, Customer.created_at)
            .where(Customer.id == customer_id)
            .with_for_update()
        )
    ).one_or_none()
    if row is None:
        return None
    last = max(at, row.last_interaction_at) if row.last_interaction_at else at
    status = lifecycle(last, row.created_at, datetime.now(UTC))
    await db.execute(
        update(Customer)
        .where(Customer.id == customer_id)
        .values(last_interaction_at=last, lifecycle=status.value)
    )
    return status


# domain.customers.lifecycle in SQL: the same spans, the same strict comparisons.
_STATUS = """
    CASE WHEN CAST(:now AS timestamptz) - coalesce(d.last_at, d.created_at) > CAST(:churned AS interval)
         THEN 'churned'
         WHEN CAST(:now AS timestamptz) - coalesce(d.last_at, d.created_at) > CAST(:dormant AS interval)
         THEN 'dormant'
         ELSE 'active' END
"""

_TOUCH_MANY = f"""
    WITH given(id, at) AS (SELECT * FROM unnest(CAST(:ids AS bigint[]), CAST(:ats AS timestamptz[]))),
    d AS (
        SELECT c.id, c.created_at, greatest(c.last_interaction_at, max(g.at)) AS last_at
        FROM customers c JOIN given g ON g.id = c.id
        GROUP BY c.id
    )
    UPDATE customers c SET last_interaction_at = d.last_at, lifecycle = {_STATUS}
    FROM d WHERE c.id = d.id
"""


async def touch_many(db: AsyncSession, interactions: Iterable[tuple[int, datetime]]) -> None:
    """``touch`` for many interactions (an import of orders) in one statement."""
    pairs = list(interactions)
    if not pairs:
        return
    params = {
        "ids": [customer_id for customer_id, _ in pairs],
        "ats": [at for _, at in pairs],
        "now": datetime.now(UTC),
        "dormant": DORMANT_AFTER,
        "churned": CHURNED_AFTER,
    }
    await db.execute(text(_TOUCH_MANY), params)


# The latest interaction of each customer in the tables that record one, as of :now.
_LATEST = """
    SELECT customer_id, max(at) AS at FROM (
        SELECT customer_id, opened_at AS at FROM cases WHERE customer_id IS NOT NULL
        UNION ALL SELECT customer_id, occurred_at FROM transactions
        UNION ALL SELECT customer_id, answered_at FROM surveys WHERE answered_at IS NOT NULL
        UNION ALL SELECT customer_id, greatest(clicked_at, inquired_at, converted_at) FROM push_deliveries
    ) i
    WHERE at <= CAST(:now AS timestamptz)
    GROUP BY customer_id
"""

_REFRESH = f"""
    WITH latest AS ({_LATEST}),
    derived AS (
        SELECT c.id, c.created_at, c.lifecycle AS was, greatest(c.last_interaction_at, l.at) AS last_at
        FROM customers c LEFT JOIN latest l ON l.customer_id = c.id
        WHERE c.merged_into IS NULL
    ),
    changed AS (
        UPDATE customers c SET last_interaction_at = d.last_at, lifecycle = {_STATUS}
        FROM derived d
        WHERE c.id = d.id
          AND (c.lifecycle IS DISTINCT FROM {_STATUS} OR c.last_interaction_at IS DISTINCT FROM d.last_at)
        RETURNING c.lifecycle <> d.was AS moved
    )
    SELECT count(*) FILTER (WHERE moved) FROM changed
"""


async def refresh_all(db: AsyncSession, now: datetime) -> LifecycleCounts:
    """Re-derives every customer's last interaction and lifecycle as of ``now``, in one statement."""
    params = {"now": now, "dormant": DORMANT_AFTER, "churned": CHURNED_AFTER}
    changed = await db.scalar(text(_REFRESH), params)
    counts = dict(
        (
            await db.execute(
                text("SELECT lifecycle, count(*) FROM customers WHERE merged_into IS NULL GROUP BY lifecycle")
            )
        ).all()
    )
    known = {s.value for s in Lifecycle}
    return LifecycleCounts(**{k: v for k, v in counts.items() if k in known}, changed=changed or 0)


class CustomerActivities:
    def __init__(self, database_url: str) -> None:
        self.url = database_url

    @activity.defn
    async def touch_customer(self, customer_id: int, at: datetime) -> Lifecycle | None:
        """An interaction of ``customer_id`` at ``at``: its last interaction and lifecycle, now."""
        async with transaction(self.url) as db:
            return await touch(db, customer_id, at)

    @activity.defn
    async def refresh_lifecycles(self, now: datetime) -> LifecycleCounts:
        """The quarterly C-5 pass over every customer."""
        async with transaction(self.url) as db:
            return await refresh_all(db, now)
