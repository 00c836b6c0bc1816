"""Tier re-evaluation (T-4) and what follows an approval (T-3), set-based over Postgres.

- ``evaluate``: one scoring pass (``activities.tiering.score_all``) and one ``INSERT … SELECT`` that opens
  a pending review for every customer of the evaluated tiers whose computed tier differs from the approved
  ``customers.tier``. The partial unique index ``uq_tier_reviews_pending`` keeps it to one pending review
  per customer (``ON CONFLICT DO NOTHING``), so a re-run opens nothing twice.
- ``detect_spend_drops``: one ``INSERT … SELECT`` over ``transactions`` that records the customers whose
  spend dropped (``domain.tiering.is_spend_drop``) in ``tier_spend_drops``, keyed by customer and month.
- ``TierActivities``: the activities of ``workflows/tiering.py`` — the re-evaluation, the spend-drop check
  and its journey signals, and the message that tells a customer their new tier and its benefits.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from pydantic import Field
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activities.changes import Notice
from activities.tiering import score_all
from db.engine import transaction
from db.models import Customer
from db.tiering import TierChange, TierReview, TierSpendDrop
from domain.customers import TIER_BENEFITS
from domain.i18n import label
from domain.models import Model, Tier
from domain.tiering import (
    SPEND_BASELINE_MONTHS,
    SPEND_DROP_MONTHS,
    SPEND_DROP_SHARE,
    ReviewCause,
    ReviewStatus,
    TierEvaluationStart,
)
from workflows.schedules import TIME_ZONE

SYSTEM = "system"
# Two scoring passes at once (a schedule and a person's "evaluate now") would upsert the same rows in
# different orders; the second waits for the first instead.
SCORING_LOCK = 0x7469_6572  # "tier"
TIER_CHANGED = "tier_changed"  # the notice purpose and the journey signal
SPEND_DROPPED = "spend_dropped"

OPEN_REVIEWS = """
INSERT INTO tier_reviews (customer_id, computed_score, computed_tier, current_tier, proposed_tier, cause,
                          proposed_by, status)
SELECT s.customer_id, s.score, s.tier, c.tier, s.tier, :cause, :actor, 'pending'
FROM customer_scores s JOIN customers c ON c.id = s.customer_id
WHERE s.tier <> c.tier AND c.merged_into IS NULL AND {which}
ON CONFLICT (customer_id) WHERE status = 'pending' DO NOTHING
"""
BY_TIER = "c.tier = ANY(:tiers)"
BY_SPEND_DROP = "EXISTS (SELECT 1 FROM tier_spend_drops d WHERE d.customer_id = c.id AND d.month = :month)"

assert SPEND_DROP_MONTHS == 2, "DETECT_SPEND_DROPS compares two months (earlier, later)"
_LOCAL = f"AT TIME ZONE '{TIME_ZONE}'"
_MONTHS_BACK = SPEND_BASELINE_MONTHS + SPEND_DROP_MONTHS
# ``cur``: the first day of as_of's month, local time; the dropped months are the two before it and the
# baseline the six before those. ``m × 6 ≤ share × total`` is ``m ≤ share × average``, exactly.
DETECT_SPEND_DROPS = f"""
WITH bounds AS (
    SELECT date_trunc('month', CAST(:as_of AS timestamptz) {_LOCAL}) AS cur
), spend AS (
    SELECT t.customer_id,
           sum(t.amount) FILTER (WHERE t.occurred_at < (b.cur - interval '2 months') {_LOCAL}) AS total,
           coalesce(sum(t.amount) FILTER (WHERE t.occurred_at >= (b.cur - interval '2 months') {_LOCAL}
                                          AND t.occurred_at < (b.cur - interval '1 month') {_LOCAL}), 0) AS earlier,
           coalesce(sum(t.amount) FILTER (WHERE t.occurred_at >= (b.cur - interval '1 month') {_LOCAL}), 0) AS later
    FROM transactions t CROSS JOIN bounds b
    WHERE t.occurred_at >= (b.cur - interval '{_MONTHS_BACK} months') {_LOCAL} AND t.occurred_at < b.cur {_LOCAL}
    GROUP BY t.customer_id
)
INSERT INTO tier_spend_drops (customer_id, month, baseline, earlier, later)
SELECT s.customer_id, (b.cur - interval '1 month')::date, round(s.total / {SPEND_BASELINE_MONTHS}, 2),
       s.earlier, s.later
FROM spend s CROSS JOIN bounds b
WHERE s.total > 0
  AND s.earlier * {SPEND_BASELINE_MONTHS} <= s.total * {SPEND_DROP_SHARE}
  AND s.later * {SPEND_BASELINE_MONTHS} <= s.total * {SPEND_DROP_SHARE}
  -- flagged last month: its two months overlap these, the same drop
  AND NOT EXISTS (SELECT 1 FROM tier_spend_drops p
                  WHERE p.customer_id = s.customer_id AND p.month = (b.cur - interval '2 months')::date)
  AND EXISTS (SELECT 1 FROM customers c WHERE c.id = s.customer_id AND c.merged_into IS NULL)
ON CONFLICT (customer_id, month) DO NOTHING
"""


def spend_drop_month(as_of: datetime) -> date:
    """The later of the two dropped months a check at ``as_of`` looks at (the month before as_of's)."""
    local = as_of.astimezone(ZoneInfo(TIME_ZONE))
    year, month = (local.year, local.month - 1) if local.month > 1 else (local.year - 1, 12)
    return date(year, month, 1)


async def open_reviews(
    db: AsyncSession,
    *,
    cause: ReviewCause,
    actor: str = SYSTEM,
    tiers: list[Tier] | None = None,
    month: date | None = None,
) -> int:
    """Opens a pending review for each customer whose latest computed tier differs from the approved one:
    those of ``tiers``, or (``month``) those with a spend drop recorded for that month. How many opened."""
    if month is not None:
        which, params = BY_SPEND_DROP, {"month": month}
    else:
        which, params = BY_TIER, {"tiers": [Tier(t).value for t in tiers or list(Tier)]}
    done = await db.execute(
        text(OPEN_REVIEWS.format(which=which)), {"cause": cause.value, "actor": actor, **params}
    )
    return int(done.rowcount or 0)  # type: ignore[attr-defined]


async def evaluate(
    db: AsyncSession,
    *,
    as_of: datetime,
    cause: ReviewCause,
    actor: str = SYSTEM,
    tiers: list[Tier] | None = None,
    month: date | None = None,
) -> tuple[int, int]:
    """Scores every customer at ``as_of`` and opens the reviews (``open_reviews``): (scored, opened)."""
    await db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCORING_LOCK})
    scored = await score_all(db, as_of=as_of)
    opened = await open_reviews(db, cause=cause, actor=actor, tiers=tiers, month=month)
    return scored, opened


async def detect_spend_drops(db: AsyncSession, *, as_of: datetime) -> tuple[date, int]:
    """Records the customers whose spend dropped in the two months before ``as_of``'s month; a customer
    recorded already for that month (or the month before) is not recorded again. (month, how many new)."""
    done = await db.execute(text(DETECT_SPEND_DROPS), {"as_of": as_of})
    return spend_drop_month(as_of), int(done.rowcount or 0)  # type: ignore[attr-defined]


async def signal_journey(client: Client, customer_id: int, signal: str, *args: object) -> bool:
    """Signals the customer's journey (``journey-{id}``, workflows/journey.py); False if it does not run."""
    try:
        await client.get_workflow_handle(f"journey-{customer_id}").signal(signal, args=list(args))
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


class EvaluationRun(Model):
    start: TierEvaluationStart
    as_of: datetime
    month: date | None = None  # spend_drop runs: the month of the drops to review


class EvaluationDone(Model):
    scored: int
    reviews: int


class SpendDrops(Model):
    month: date
    found: int


class SignalBatch(Model):
    month: date
    size: int


class TierChangeNotice(Model):
    review_id: int


class JourneySignal(Model):
    customer_id: int
    signal: str
    args: list[str] = Field(default_factory=list)


class TierActivities:
    def __init__(self, database_url: str) -> None:
        self.url = database_url

    @activity.defn
    async def evaluate_tiers(self, run: EvaluationRun) -> EvaluationDone:
        async with transaction(self.url) as db:
            scored, opened = await evaluate(
                db,
                as_of=run.as_of,
                cause=run.start.cause,
                actor=run.start.actor,
                tiers=run.start.tiers,
                month=run.month,
            )
        return EvaluationDone(scored=scored, reviews=opened)

    @activity.defn
    async def detect_spend_drops(self, as_of: datetime) -> SpendDrops:
        async with transaction(self.url) as db:
            month, found = await detect_spend_drops(db, as_of=as_of)
        return SpendDrops(month=month, found=found)

    @activity.defn
    async def signal_spend_drops(self, batch: SignalBatch) -> int:
        """Tells up to ``size`` journeys of the month's spend drops ``spend_dropped``, once each; how many
        rows it handled (fewer than ``size``: none left)."""
        client = activity.client()
        async with transaction(self.url) as db:
            ids = (
                await db.scalars(
                    select(TierSpendDrop.customer_id)
                    .where(TierSpendDrop.month == batch.month, TierSpendDrop.signalled_at.is_(None))
                    .order_by(TierSpendDrop.customer_id)
                    .limit(batch.size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for customer_id in ids:
                await signal_journey(client, customer_id, SPEND_DROPPED)
                activity.heartbeat(customer_id)
            await db.execute(
                update(TierSpendDrop)
                .where(TierSpendDrop.month == batch.month, TierSpendDrop.customer_id.in_(ids))
                .values(signalled_at=text("now()"))
            )
        return len(ids)

    @activity.defn
    async def tier_change_notice(self, req: TierChangeNotice) -> Notice | None:
        """The message telling the customer their new tier and its benefits (T-3), or None if the review
        was not approved with a change. The approval starts this workflow before it commits: FOR SHARE
        waits for that commit (or rollback) and then reads the outcome."""
        async with transaction(self.url) as db:
            review = await db.scalar(
                select(TierReview).where(TierReview.id == req.review_id).with_for_update(read=True)
            )
            if review is None or review.status != ReviewStatus.APPROVED:
                return None
            change = await db.scalar(select(TierChange).where(TierChange.review_id == review.id))
            customer = await db.get(Customer, review.customer_id)
            if change is None or customer is None:
                return None
            after = Tier(change.after)
            return Notice(
                key=f"tier-change:{review.id}",
                purpose=TIER_CHANGED,
                audience="customer",
                context={
                    "customer_id": customer.id,
                    "before": change.before,
                    "before_label": label(change.before),
                    "after": after.value,
                    "after_label": label(after.value),
                    "benefits": TIER_BENEFITS[after],
                    "upgrade": _rank(after) < _rank(Tier(change.before)),
                },
            )

    @activity.defn
    async def signal_journey(self, req: JourneySignal) -> bool:
        return await signal_journey(activity.client(), req.customer_id, req.signal, *req.args)


def _rank(tier: Tier) -> int:
    """0 for VIP, 3 for watch: a lower rank is a higher tier."""
    return list(Tier).index(tier)
