"""R-5 effect tracking: a month's touches from the ledger with their response and conversion rates, per tier and
kind, and how many customers qualify for a reactivation survey now.

A touch has responded once anything was stamped on it (an opened or clicked tracked link, an inquiry or a
conversion reported for a push, an answered survey, a reply staff recorded). It converted when the customer
bought (a transaction) or referred a new customer (``referred_by``) within 30 days after it, or a conversion
was reported for it. Touches planned for later in the month (a greeting on a coming holiday) count once their
time has come.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from activities.interaction_plans import SILENT
from activities.touches import monthly_cap
from domain.interaction_plans import (
    CONVERSION_WINDOW,
    MIN_TOUCHES,
    QUIET_FOR,
    EffectReport,
    EffectRow,
    month_bounds,
    month_label,
    rate,
)
from domain.models import Tier

_EFFECT = """
WITH t AS (
    SELECT t.tier, t.kind, t.response, t.responded_at,
           EXISTS (SELECT 1 FROM transactions x
                   WHERE x.customer_id = t.customer_id
                     AND x.occurred_at > t.at AND x.occurred_at <= t.at + CAST(:window AS interval)) AS repurchase,
           EXISTS (SELECT 1 FROM customers r
                   WHERE r.referred_by = t.customer_id
                     AND r.created_at > t.at AND r.created_at <= t.at + CAST(:window AS interval)) AS referral
    FROM customer_touches t
    WHERE t.at >= CAST(:start AS timestamptz) AND t.at < CAST(:end AS timestamptz)
      AND t.at <= CAST(:now AS timestamptz)
)
SELECT GROUPING(tier) AS all_tiers, GROUPING(kind) AS all_kinds, tier, kind,
       count(*) AS touches,
       count(*) FILTER (WHERE responded_at IS NOT NULL) AS responded,
       count(*) FILTER (WHERE response IS NOT NULL) AS opened,
       count(*) FILTER (WHERE response IN ('replied', 'converted')) AS replied,
       count(*) FILTER (WHERE repurchase) AS repurchases,
       count(*) FILTER (WHERE referral) AS referrals,
       count(*) FILTER (WHERE repurchase OR referral OR response = 'converted') AS converted
FROM t
GROUP BY GROUPING SETS ((tier, kind), (tier), ())
"""

_SILENT_NOW = f"SELECT count(*) FROM customers b WHERE b.merged_into IS NULL AND {SILENT}"

_TIER_ORDER = {t.value: n for n, t in enumerate(Tier)}


def _row(r: Any) -> EffectRow:
    return EffectRow(
        tier=None if r.all_tiers else r.tier,
        kind=None if r.all_kinds else r.kind,
        touches=r.touches,
        responded=r.responded,
        opened=r.opened,
        replied=r.replied,
        repurchases=r.repurchases,
        referrals=r.referrals,
        converted=r.converted,
        response_rate=rate(r.responded, r.touches),
        conversion_rate=rate(r.converted, r.touches),
    )


def _order(row: EffectRow) -> tuple[int, str]:
    return _TIER_ORDER.get(row.tier or "", len(_TIER_ORDER)), row.kind or ""


async def effect(db: AsyncSession, first: date, now: datetime) -> EffectReport:
    start, end = month_bounds(first)
    found = [
        _row(r)
        for r in await db.execute(
            text(_EFFECT), {"start": start, "end": end, "now": now, "window": CONVERSION_WINDOW}
        )
    ]
    # The empty grouping set () is there even for a month without touches.
    total = next(r for r in found if r.tier is None and r.kind is None)
    silent = await db.scalar(
        text(_SILENT_NOW), {"quiet_since": now - QUIET_FOR, "at": now, "min_touches": MIN_TOUCHES}
    )
    return EffectReport(
        month=month_label(first),
        cap=await monthly_cap(db),
        rows=sorted((r for r in found if r.tier is not None and r.kind is not None), key=_order),
        tiers=sorted((r for r in found if r.tier is not None and r.kind is None), key=_order),
        total=total,
        non_responders=silent or 0,
    )
