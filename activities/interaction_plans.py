"""The monthly interaction plan's activities (R-1), with the reactivation survey of long non-responders (R-5),
under the shared cap (R-6).

``plan_batch`` works on one batch of customers (by id) in one set-based statement: it sorts each customer into
their plan category, matches the month's plan entries, adds a reactivation survey for a long non-responder,
and writes the touches the cap leaves room for (in ``PRIORITY`` order) into the ledger. Keys make a re-run or a
retried attempt write nothing twice. ``send_due`` then hands every reserved message touch whose time has come
to the notifier — tracked links for the content, the survey link for a reactivation survey; callbacks become
owner tasks in the workflow (``workflows/care.py`` ``open_care_task``).
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.changes import Notice
from activities.notify import NotifyActivities
from activities.surveys import survey_url
from activities.touches import lock, mark_done, monthly_cap
from config import Settings
from db.engine import transaction
from db.surveys import Survey
from db.touches import CustomerTouch
from domain.customers import TIER_BENEFITS
from domain.i18n import label
from domain.interaction_plans import (
    ENTRIES,
    MESSAGE_KINDS,
    MIN_TOUCHES,
    PRIORITY,
    QUIET_FOR,
    REACTIVATION,
    CallbackTouch,
    PlanBatch,
    PlanBatchResult,
    SendDue,
    SendResult,
    TouchKind,
    month_bounds,
    parse_month,
)
from domain.models import Tier
from domain.surveys import LINK_VALID_FOR, SurveyKind

# The plan category of each customer (domain/interaction_plans.py): the first rule that matches.
_CATEGORY = """
    CASE WHEN c.lifecycle = 'dormant' THEN 'cold'
         WHEN c.lifecycle <> 'active' THEN NULL
         WHEN c.tier = 'vip' THEN 'vip'
         WHEN c.tier = 'key' THEN 'key'
         WHEN c.potential = 'high' AND c.tier IN ('normal', 'watch') THEN 'potential'
         WHEN c.tier = 'normal' THEN 'normal' END
"""

# R-5, a long non-responder ``b``: at least :min_touches message touches (callbacks are conversations) in
# [:quiet_since, :at), no response to any touch since :quiet_since, and no reactivation survey since then.
SILENT = """
    (SELECT count(*) FROM customer_touches t
     WHERE t.customer_id = b.id AND t.kind <> 'callback'
       AND t.at >= CAST(:quiet_since AS timestamptz) AND t.at < CAST(:at AS timestamptz)) >= :min_touches
    AND NOT EXISTS (SELECT 1 FROM customer_touches t
                    WHERE t.customer_id = b.id AND t.responded_at >= CAST(:quiet_since AS timestamptz))
    AND NOT EXISTS (SELECT 1 FROM surveys s
                    WHERE s.customer_id = b.id AND s.key LIKE 'reactivation:%'
                      AND s.issued_at >= CAST(:quiet_since AS timestamptz))
"""

_PLAN = f"""
WITH items AS (
    SELECT * FROM jsonb_to_recordset(CAST(:items AS jsonb)) AS i(
        entry text, kind text, category text, at timestamptz, key text, topic text, link text,
        prio int, gap_days int)
),
batch AS (
    SELECT c.id, c.tier, {_CATEGORY} AS category
    FROM customers c
    WHERE c.id > :after AND c.merged_into IS NULL
      AND (cardinality(CAST(:ids AS bigint[])) = 0 OR c.id = ANY(CAST(:ids AS bigint[])))
    ORDER BY c.id LIMIT :size
),
silent AS (SELECT b.id, b.tier FROM batch b WHERE {SILENT}),
candidates AS (
    SELECT b.id AS customer_id, b.tier, i.entry, i.kind, i.at, i.key || ':' || b.id AS key, i.topic, i.link,
           i.prio
    FROM batch b JOIN items i ON i.category = b.category
    -- A customer whose category changed since this month's plan ran (a cold customer's callback made them
    -- active) gets no second touch of the same kind this month.
    WHERE NOT EXISTS (
        SELECT 1 FROM customer_touches t
        WHERE t.customer_id = b.id AND t.source = :source AND t.kind = i.kind AND t.plan <> i.entry)
      AND (i.gap_days IS NULL OR NOT EXISTS (
        SELECT 1 FROM customer_touches t
        WHERE t.customer_id = b.id AND t.plan = i.entry
          AND t.at > i.at - make_interval(days => i.gap_days) AND t.at < CAST(:month_start AS timestamptz)))
    UNION ALL
    SELECT s.id, s.tier, :reactivation, 'survey', CAST(:at AS timestamptz),
           'survey:reactivation:' || :month || ':' || s.id, NULL, NULL, :survey_prio
    FROM silent s
),
fresh AS (
    SELECT * FROM candidates c WHERE NOT EXISTS (SELECT 1 FROM customer_touches t WHERE t.key = c.key)
),
ranked AS (
    SELECT f.*,
           row_number() OVER (PARTITION BY f.customer_id ORDER BY f.prio, f.at, f.key) AS n,
           (SELECT count(*) FROM customer_touches t
            WHERE t.customer_id = f.customer_id
              AND t.at >= CAST(:month_start AS timestamptz) AND t.at < CAST(:month_end AS timestamptz)) AS used
    FROM fresh f
),
written AS (
    INSERT INTO customer_touches (key, customer_id, kind, source, plan, topic, tier, at, link)
    SELECT key, customer_id, kind, :source, entry, topic, tier, at, link FROM ranked WHERE used + n <= :cap
    ON CONFLICT (key) DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM batch) AS customers, (SELECT max(id) FROM batch) AS last,
       (SELECT count(*) FROM fresh) AS fresh, (SELECT count(*) FROM written) AS written
"""

# The reactivation surveys of the batch's reserved survey touches (a CSAT survey, round reactivation-<month>).
_SURVEYS = """
INSERT INTO surveys (key, kind, customer_id, round, issued_at, expires_at)
SELECT substr(t.key, length('survey:') + 1), :kind, t.customer_id, :round, t.at, t.at + CAST(:valid AS interval)
FROM customer_touches t
WHERE t.source = :source AND t.plan = :reactivation AND t.customer_id > :after AND t.customer_id <= :last
ON CONFLICT (key) DO NOTHING
RETURNING id
"""


def _items(batch: PlanBatch) -> str:
    rows: list[dict[str, Any]] = []
    for item in batch.items:
        gap = ENTRIES[item.entry].gap
        rows.append(
            {
                "entry": item.entry,
                "kind": item.kind,
                "category": item.category,
                "at": item.at.isoformat(),
                "key": item.key,
                "topic": item.occasion,
                "link": item.link,
                "prio": PRIORITY[item.kind],
                "gap_days": gap.days if gap else None,
            }
        )
    return json.dumps(rows)


class PlanActivities:
    def __init__(self, database_url: str, settings: Settings) -> None:
        self.url = database_url
        self.settings = settings
        self.notifier = NotifyActivities(database_url, settings)

    @activity.defn
    async def plan_batch(self, b: PlanBatch) -> PlanBatchResult:
        """Reserves one batch's planned touches under the cap; the callbacks whose task is still to open."""
        first = parse_month(b.month)
        start, end = month_bounds(first)
        source = f"plan:{b.month}"
        async with transaction(self.url) as db:
            await lock(db)
            found = (
                await db.execute(
                    text(_PLAN),
                    {
                        "items": _items(b),
                        "after": b.after,
                        "size": b.size,
                        "ids": b.customer_ids,
                        "at": b.at,
                        "month": b.month,
                        "month_start": start,
                        "month_end": end,
                        "quiet_since": b.at - QUIET_FOR,
                        "min_touches": MIN_TOUCHES,
                        "reactivation": REACTIVATION,
                        "survey_prio": PRIORITY[TouchKind.SURVEY],
                        "source": source,
                        "cap": await monthly_cap(db),
                    },
                )
            ).one()
            surveys = 0
            callbacks: list[CallbackTouch] = []
            if found.last is not None:
                surveys = len(
                    (
                        await db.execute(
                            text(_SURVEYS),
                            {
                                "kind": SurveyKind.CSAT,
                                "round": f"{REACTIVATION}-{b.month}",
                                "valid": LINK_VALID_FOR,
                                "source": source,
                                "reactivation": REACTIVATION,
                                "after": b.after,
                                "last": found.last,
                            },
                        )
                    ).all()
                )
                callbacks = await _open_callbacks(db, source, b, found.last)
        return PlanBatchResult(
            customers=found.customers,
            reserved=found.written,
            capped=found.fresh - found.written,
            reactivation=surveys,
            callbacks=callbacks,
            last=found.last,
        )

    @activity.defn
    async def touches_done(self, keys: list[str]) -> None:
        """The callbacks' owner tasks are open."""
        async with transaction(self.url) as db:
            await mark_done(db, keys, datetime.now(UTC))

    @activity.defn
    async def send_due(self, req: SendDue) -> SendResult:
        """Hands the plan's message touches due by ``req.until`` to the notifier, one batch by touch id.

        A touch is marked done once the notifier has its row, also when the channel refused it (the outbox
        shows the failed row and the notifier's retry rules apply), so a re-run sends nothing twice.
        """
        async with transaction(self.url) as db:
            due = list(
                await db.scalars(
                    select(CustomerTouch)
                    .where(
                        CustomerTouch.source == req.source,
                        CustomerTouch.kind.in_([k.value for k in MESSAGE_KINDS]),
                        CustomerTouch.at <= req.until,
                        CustomerTouch.done_at.is_(None),
                        CustomerTouch.id > req.after,
                    )
                    .order_by(CustomerTouch.id)
                    .limit(req.size)
                )
            )
            for touch in due:
                if touch.kind != TouchKind.SURVEY and touch.token is None:
                    touch.token = secrets.token_urlsafe(24)
            notices = [await self._notice(db, touch) for touch in due]
        failed = 0
        for touch, notice in zip(due, notices, strict=True):
            activity.heartbeat(touch.id)
            try:
                await self.notifier.notify(notice)
            except ApplicationError as err:
                if err.type != "DeliveryFailed":
                    raise
                failed += 1
            async with transaction(self.url) as db:
                await db.execute(
                    update(CustomerTouch).where(CustomerTouch.id == touch.id).values(done_at=func.now())
                )
        return SendResult(sent=len(due) - failed, failed=failed, last=due[-1].id if due else None)

    async def _notice(self, db: AsyncSession, touch: CustomerTouch) -> Notice:
        base = self.settings.public_url.rstrip("/")
        context: dict[str, Any] = {"customer_id": touch.customer_id, "kind": touch.kind}
        if touch.kind == TouchKind.SURVEY:
            survey = await db.scalar(select(Survey).where(Survey.key == touch.key.removeprefix("survey:")))
            assert survey is not None, touch.key
            purpose = "reactivation"
            context |= {"survey_url": survey_url(self.settings, survey), "expires_at": survey.expires_at}
        else:
            purpose = "care" if touch.kind == TouchKind.GREETING else "plan_message"
            context |= {
                "kind_label": label(f"touch_{touch.kind}"),
                "title": label(touch.plan),
                "occasion": touch.topic or "",
                "link_url": f"{base}/t/c/{touch.token}",
                "pixel_url": f"{base}/t/o/{touch.token}.gif",
            }
            if touch.kind == TouchKind.BENEFIT:
                context["benefits"] = TIER_BENEFITS.get(Tier(touch.tier), "")
        return Notice(key=f"touch:{touch.key}", purpose=purpose, audience="customer", context=context)


async def _open_callbacks(db: AsyncSession, source: str, b: PlanBatch, last: int) -> list[CallbackTouch]:
    query = select(CustomerTouch).where(
        CustomerTouch.source == source,
        CustomerTouch.kind == TouchKind.CALLBACK,
        CustomerTouch.done_at.is_(None),
        CustomerTouch.customer_id > b.after,
        CustomerTouch.customer_id <= last,
    )
    if b.customer_ids:
        query = query.where(CustomerTouch.customer_id.in_(b.customer_ids))
    found = []
    for touch in await db.scalars(query.order_by(CustomerTouch.customer_id, CustomerTouch.id)):
        entry = ENTRIES[touch.plan or ""]
        assert entry.due_within is not None
        found.append(
            CallbackTouch(
                customer_id=touch.customer_id, key=touch.key, entry=entry.id, due=touch.at + entry.due_within
            )
        )
    return found
