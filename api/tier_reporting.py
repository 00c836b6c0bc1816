"""The tiered-service report (T-6, REP-1): set-based queries for a month and a quarter, and the CSV / XLSX
files. The arithmetic and the definitions are in domain/tier_report.py."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from api.reporting import InvalidQuery
from domain.models import Step
from domain.records import period
from domain.surveys import DETRACTORS_UPTO, PROMOTERS_FROM, SATISFIED_FROM
from domain.tier_report import (
    CLOSED_BY_STAFF,
    MonthCounts,
    MonthlyTierReport,
    QuarterCounts,
    QuarterlyTierReport,
    Sheet,
    month_days,
    monthly,
    previous_quarter,
    quarter_days,
    quarterly,
)


def _bounds(first: Any, last: Any, tz: str) -> tuple[datetime, datetime]:
    lower, upper = period(first, last, tz)
    assert lower is not None and upper is not None
    return lower, upper


def month_bounds(month: str, tz: str) -> tuple[datetime, datetime]:
    try:
        return _bounds(*month_days(month), tz)
    except ValueError as err:
        raise InvalidQuery("month", str(err)) from None


def quarter_bounds(quarter: str, tz: str) -> tuple[datetime, datetime]:
    try:
        return _bounds(*quarter_days(quarter), tz)
    except ValueError as err:
        raise InvalidQuery("quarter", str(err)) from None


# -- monthly ----------------------------------------------------------------------------------------------------

# The month's customer cases by the tier they opened with; each case's first step (the earliest opened);
# the CSAT answers given in the month to those tiers' cases. One round trip.
_MONTHLY = """
WITH opened AS (
    SELECT number, tier_at_open AS tier, state, outcome FROM cases
    WHERE customer_id IS NOT NULL AND opened_at >= :lower AND opened_at < :upper
), first_step AS (
    SELECT DISTINCT ON (s.case_number) s.case_number, s.done_at, s.breached_at
    FROM case_steps s JOIN opened o ON o.number = s.case_number
    ORDER BY s.case_number, s.opened_at, s.id
), cases_by_tier AS (
    SELECT o.tier,
           count(*) AS opened,
           count(*) FILTER (WHERE f.done_at IS NOT NULL OR f.breached_at IS NOT NULL) AS measured,
           count(*) FILTER (WHERE f.done_at IS NOT NULL AND f.breached_at IS NULL) AS on_time,
           count(*) FILTER (WHERE o.state = 'closed' AND o.outcome IS DISTINCT FROM :by_staff) AS resolved
    FROM opened o LEFT JOIN first_step f ON f.case_number = o.number
    GROUP BY o.tier
), answers_by_tier AS (
    SELECT c.tier_at_open AS tier,
           count(*) AS answered,
           sum(s.score) AS score_sum,
           count(*) FILTER (WHERE s.score >= :satisfied) AS satisfied
    FROM surveys s JOIN cases c ON c.number = s.case_number
    WHERE s.kind = 'csat' AND s.score IS NOT NULL AND s.answered_at >= :lower AND s.answered_at < :upper
    GROUP BY c.tier_at_open
)
SELECT tier,
       coalesce(c.opened, 0) AS opened, coalesce(c.measured, 0) AS measured,
       coalesce(c.on_time, 0) AS on_time, coalesce(c.resolved, 0) AS resolved,
       coalesce(a.answered, 0) AS answered, coalesce(a.score_sum, 0) AS score_sum,
       coalesce(a.satisfied, 0) AS satisfied
FROM cases_by_tier c FULL JOIN answers_by_tier a USING (tier)
"""


async def monthly_report(db: AsyncSession, month: str, *, tz: str) -> MonthlyTierReport:
    lower, upper = month_bounds(month, tz)
    rows = await db.execute(
        text(_MONTHLY),
        {"lower": lower, "upper": upper, "by_staff": CLOSED_BY_STAFF, "satisfied": SATISFIED_FROM},
    )
    counts = {r.tier: MonthCounts(**{k: int(v) for k, v in r._mapping.items() if k != "tier"}) for r in rows}
    return monthly(month, tz, counts)


# -- quarterly ----------------------------------------------------------------------------------------------

# Customers who ordered in the quarter or the one before, by their approved tier.
_BUYERS = """
WITH q AS (
    SELECT customer_id, count(*) AS n, sum(amount) AS revenue FROM transactions
    WHERE occurred_at >= :lower AND occurred_at < :upper GROUP BY customer_id
), p AS (
    SELECT customer_id, count(*) AS n, sum(amount) AS revenue FROM transactions
    WHERE occurred_at >= :previous AND occurred_at < :lower GROUP BY customer_id
), referrers AS (
    SELECT DISTINCT referred_by AS customer_id FROM customers
    WHERE referred_by IS NOT NULL AND created_at >= :lower AND created_at < :upper
)
SELECT c.tier,
       count(p.customer_id) AS previous_buyers,
       count(*) FILTER (WHERE p.customer_id IS NOT NULL AND q.customer_id IS NOT NULL) AS retained,
       count(q.customer_id) AS buyers,
       count(*) FILTER (WHERE q.n >= 2) AS repeat_buyers,
       count(*) FILTER (WHERE q.customer_id IS NOT NULL AND r.customer_id IS NOT NULL) AS referrers,
       coalesce(sum(q.n), 0) AS orders, coalesce(sum(q.revenue), 0) AS revenue,
       coalesce(sum(p.n), 0) AS previous_orders, coalesce(sum(p.revenue), 0) AS previous_revenue
FROM customers c
LEFT JOIN q ON q.customer_id = c.id
LEFT JOIN p ON p.customer_id = c.id
LEFT JOIN referrers r ON r.customer_id = c.id
WHERE q.customer_id IS NOT NULL OR p.customer_id IS NOT NULL
GROUP BY c.tier
"""

# Customer cases closed by their process in the quarter; handled in one go: no step ran twice, no dispatch
# to tech support, no cross-department hand-off.
_FIRST_CONTACT = """
SELECT c.tier_at_open AS tier,
       count(*) AS resolved,
       count(*) FILTER (WHERE NOT EXISTS (
           SELECT 1 FROM case_steps s
           WHERE s.case_number = c.number AND (s.seq > 1 OR s.step = :dispatch)
       ) AND NOT EXISTS (
           SELECT 1 FROM case_events e WHERE e.case_number = c.number AND e.kind = 'handed_off'
       )) AS first_contact
FROM cases c
WHERE c.customer_id IS NOT NULL AND c.state = 'closed' AND c.outcome IS DISTINCT FROM :by_staff
  AND c.closed_at >= :lower AND c.closed_at < :upper
GROUP BY c.tier_at_open
"""

# Surveys issued in the quarter: an after-case survey by the case's tier, a periodic round's by the customer's.
_SURVEYS = """
SELECT coalesce(c.tier_at_open, cu.tier) AS tier, s.kind,
       count(*) AS issued,
       count(*) FILTER (WHERE s.answered_at IS NOT NULL) AS answered,
       coalesce(sum(s.score), 0) AS score_sum,
       count(*) FILTER (WHERE s.score >= :satisfied) AS satisfied,
       count(*) FILTER (WHERE s.score >= :promoters) AS promoters,
       count(*) FILTER (WHERE s.score <= :detractors) AS detractors
FROM surveys s
JOIN customers cu ON cu.id = s.customer_id
LEFT JOIN cases c ON c.number = s.case_number
WHERE s.issued_at >= :lower AND s.issued_at < :upper
GROUP BY 1, s.kind
"""


async def quarterly_report(db: AsyncSession, quarter: str, *, tz: str) -> QuarterlyTierReport:
    lower, upper = quarter_bounds(quarter, tz)
    previous, _ = quarter_bounds(previous_quarter(quarter), tz)
    window = {"lower": lower, "upper": upper}
    counts: dict[str, dict[str, Any]] = {}

    def add(tier: str, **values: Any) -> None:
        counts.setdefault(tier, {}).update(values)

    for r in await db.execute(text(_BUYERS), {**window, "previous": previous}):
        add(r.tier, **{k: v for k, v in r._mapping.items() if k != "tier"})
    for r in await db.execute(
        text(_FIRST_CONTACT), {**window, "dispatch": Step.DISPATCH.value, "by_staff": CLOSED_BY_STAFF}
    ):
        add(r.tier, resolved=r.resolved, first_contact=r.first_contact)
    for r in await db.execute(
        text(_SURVEYS),
        {
            **window,
            "satisfied": SATISFIED_FROM,
            "promoters": PROMOTERS_FROM,
            "detractors": DETRACTORS_UPTO,
        },
    ):
        if r.kind == "csat":
            add(
                r.tier,
                csat_issued=r.issued,
                csat_answered=r.answered,
                csat_sum=r.score_sum,
                csat_satisfied=r.satisfied,
            )
        else:
            add(
                r.tier,
                nps_issued=r.issued,
                nps_answered=r.answered,
                nps_sum=r.score_sum,
                nps_promoters=r.promoters,
                nps_detractors=r.detractors,
            )
    return quarterly(
        quarter,
        tz,
        {
            tier: QuarterCounts(**{k: v if isinstance(v, Decimal) else int(v) for k, v in values.items()})
            for tier, values in counts.items()
        },
    )


# -- files ----------------------------------------------------------------------------------------------------


def csv_bytes(sheet: Sheet) -> bytes:
    """UTF-8 with a byte-order mark (how Excel knows the Chinese is UTF-8); rates as percentages."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(sheet.headers)
    for row in sheet.rows:
        writer.writerow(
            ["" if v is None else f"{v * 100:.1f}%" if i in sheet.rates else v for i, v in enumerate(row)]
        )
    return ("\ufeff" + buffer.getvalue()).encode()


def xlsx_bytes(sheet: Sheet) -> bytes:
    """A bold header row; rates as Excel percentages; amounts with two decimals."""
    book = Workbook()
    ws = book.active
    ws.title = sheet.title[:31]
    ws.append(sheet.headers)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in sheet.rows:
        ws.append([float(v) if isinstance(v, Decimal) else v for v in row])
        for i, v in enumerate(row):
            cell = ws.cell(row=ws.max_row, column=i + 1)
            if i in sheet.rates:
                cell.number_format = "0.0%"
            elif isinstance(v, Decimal):
                cell.number_format = "#,##0.00"
    for i, header in enumerate(sheet.headers, start=1):
        ws.column_dimensions[get_column_letter(i)].width = max(12, 2 * len(header) + 2)
    ws.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
