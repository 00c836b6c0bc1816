"""The tiered-service report (T-6, seed 002 §二(二)–(三)): the arithmetic, from the counts the queries in
api/tier_reporting.py return. Pure: no I/O, no clock.

Monthly, per tier the case opened with (``cases.tier_at_open``) — 002's 《客户服务分级执行报告》:

- on-time response: of the month's cases whose first step has been measured (done, or breached while
  open), the share done without a breach (the step's SLA clock, pauses and business calendar included);
  a first step still open within its target is *pending* and counts in neither part;
- satisfaction: after-case CSAT answers (1–5) given in the month, their average and the share of 4–5;
- resolution: of the cases opened in the month, the share closed by their process (any outcome but
  ``closed_by_staff``, a case staff closed at whatever step it stood).

Quarterly (002 §二(三) 定期效果评估), customer figures per the customer's approved tier (``customers.tier``),
service figures per ``tier_at_open``:

- retention: customers with an order in the previous quarter who also ordered in this one;
- repurchase: of the customers who ordered in the quarter, those with two orders or more in it;
- order-value growth: the average order value of the quarter against the previous quarter's;
- referral: of the customers who ordered in the quarter, those who referred a customer who joined in it
  (``customers.referred_by``);
- first-contact resolution: of the cases closed in the quarter by their process, those handled in one go —
  no step ran twice (a reopened issue, a reactivated lead), no dispatch to tech support, no
  cross-department hand-off;
- CSAT and NPS: the surveys issued in the quarter, with the figures of domain/surveys.py (percentages).

Cost per customer and ROI (002 资源维度) need service cost data Careflow does not hold: the report names
them as not measured rather than showing a number.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from pydantic import Field

from domain.i18n import label
from domain.models import Model, Tier
from domain.surveys import Figures, SurveyKind, figures

TIERS: tuple[Tier, ...] = (Tier.VIP, Tier.KEY, Tier.NORMAL, Tier.WATCH)
ALL = "all"  # the row that sums every tier
CLOSED_BY_STAFF = "closed_by_staff"  # the one closing outcome that is not a resolution
# 002 资源维度: 单客户服务成本、投入产出比(ROI) — Careflow records no cost, so these are not computed.
NOT_MEASURED = ("cost_per_customer", "roi")

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_QUARTER = re.compile(r"^(\d{4})Q([1-4])$")


# -- periods -------------------------------------------------------------------------------------------------


def month_days(month: str) -> tuple[date, date]:
    """``"2026-10"`` → its first and last day; ValueError for anything else."""
    found = _MONTH.match(month)
    if not found:
        raise ValueError("a month is written YYYY-MM, e.g. 2026-10")
    first = date(int(found[1]), int(found[2]), 1)
    return first, _next_month(first) - timedelta(days=1)


def _next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def previous_month(day: date) -> str:
    """The month before the one ``day`` lies in."""
    return month_of(day.replace(day=1) - timedelta(days=1))


def quarter_days(quarter: str) -> tuple[date, date]:
    """``"2026Q4"`` → its first and last day; ValueError for anything else."""
    found = _QUARTER.match(quarter)
    if not found:
        raise ValueError("a quarter is written YYYYQn, e.g. 2026Q4")
    first = date(int(found[1]), 3 * int(found[2]) - 2, 1)
    return first, _next_month(_next_month(_next_month(first))) - timedelta(days=1)


def quarter_of(day: date) -> str:
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


def previous_quarter(quarter: str) -> str:
    first, _ = quarter_days(quarter)
    return quarter_of(first - timedelta(days=1))


# -- shares ----------------------------------------------------------------------------------------------------


class Share(Model):
    numerator: int
    denominator: int
    rate: float | None = Field(
        description="numerator / denominator (0–1); null when there is nothing to measure"
    )

    @classmethod
    def of(cls, numerator: int, denominator: int) -> Share:
        rate = round(numerator / denominator, 4) if denominator else None
        return cls(numerator=numerator, denominator=denominator, rate=rate)


def growth(now: Decimal | None, before: Decimal | None) -> float | None:
    """now / before − 1, rounded to 0.0001; None without a base to compare with."""
    if now is None or not before:
        return None
    return round(float(now / before) - 1.0, 4)


def average(total: Decimal, count: int) -> Decimal | None:
    return (total / count).quantize(Decimal("0.01")) if count else None


# -- monthly ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MonthCounts:
    """One tier's counts for a month, as the query returns them."""

    opened: int = 0
    measured: int = 0  # first steps done or breached
    on_time: int = 0  # first steps done with no breach
    resolved: int = 0
    answered: int = 0  # CSAT answers given in the month
    score_sum: int = 0
    satisfied: int = 0  # answers of 4 or 5

    def __add__(self, other: MonthCounts) -> MonthCounts:
        return MonthCounts(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


class Satisfaction(Model):
    answered: int
    average: float | None = Field(description="average score 1–5; null without answers")
    satisfied: Share = Field(description="answers scoring 4 or 5")


class TierMonth(Model):
    tier: str = Field(description="vip | key | normal | watch, or all")
    opened: int = Field(description="cases opened in the month")
    on_time_response: Share = Field(description="first steps done without a breach, of those measured")
    pending_response: int = Field(description="cases whose first step is still open within its target")
    satisfaction: Satisfaction
    resolution: Share = Field(description="cases closed by their process, of those opened in the month")


class MonthlyTierReport(Model):
    month: str
    timezone: str
    tiers: list[TierMonth]
    total: TierMonth


def tier_month(tier: str, c: MonthCounts) -> TierMonth:
    return TierMonth(
        tier=tier,
        opened=c.opened,
        on_time_response=Share.of(c.on_time, c.measured),
        pending_response=c.opened - c.measured,
        satisfaction=Satisfaction(
            answered=c.answered,
            average=round(c.score_sum / c.answered, 2) if c.answered else None,
            satisfied=Share.of(c.satisfied, c.answered),
        ),
        resolution=Share.of(c.resolved, c.opened),
    )


def monthly(month: str, tz: str, counts: Mapping[str, MonthCounts]) -> MonthlyTierReport:
    """Each of the four tiers (in order, zeros where nothing happened) and their total."""
    rows = [counts.get(t, MonthCounts()) for t in TIERS]
    return MonthlyTierReport(
        month=month,
        timezone=tz,
        tiers=[tier_month(t, c) for t, c in zip(TIERS, rows, strict=True)],
        total=tier_month(ALL, sum(rows, MonthCounts())),
    )


# -- quarterly -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuarterCounts:
    """One tier's counts for a quarter, as the queries return them."""

    previous_buyers: int = 0  # customers with an order in the previous quarter
    retained: int = 0  # ... who also ordered in this one
    buyers: int = 0  # customers with an order in the quarter
    repeat_buyers: int = 0  # ... with two or more
    referrers: int = 0  # ... who referred a customer who joined in the quarter
    orders: int = 0
    revenue: Decimal = Decimal(0)
    previous_orders: int = 0
    previous_revenue: Decimal = Decimal(0)
    resolved: int = 0  # cases closed by their process in the quarter
    first_contact: int = 0  # ... handled in one go
    csat_issued: int = 0
    csat_answered: int = 0
    csat_sum: int = 0
    csat_satisfied: int = 0
    nps_issued: int = 0
    nps_answered: int = 0
    nps_sum: int = 0
    nps_promoters: int = 0
    nps_detractors: int = 0

    def __add__(self, other: QuarterCounts) -> QuarterCounts:
        return QuarterCounts(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


class TierQuarter(Model):
    tier: str = Field(description="vip | key | normal | watch, or all")
    retention: Share = Field(description="previous quarter's buyers who bought again in this one")
    repurchase: Share = Field(description="the quarter's buyers with two or more orders in it")
    average_order_value: Decimal | None
    previous_average_order_value: Decimal | None
    order_value_growth: float | None = Field(description="average order value vs the previous quarter, −1…")
    referral: Share = Field(description="the quarter's buyers who referred a customer who joined in it")
    first_contact_resolution: Share = Field(
        description="cases closed by their process handled in one go (no repeated step, dispatch, hand-off)"
    )
    csat: Figures = Field(description="CSAT surveys issued in the quarter (percentages, as SAT-2)")
    nps: Figures = Field(description="NPS surveys issued in the quarter (percentages, as SAT-2)")


class QuarterlyTierReport(Model):
    quarter: str
    previous_quarter: str
    timezone: str
    tiers: list[TierQuarter]
    total: TierQuarter
    not_measured: list[str] = Field(description="figures of 002 the report cannot compute: no cost data")


def _survey_figures(kind: SurveyKind, c: QuarterCounts) -> Figures:
    if kind is SurveyKind.CSAT:
        got: dict[str, Any] = figures(
            kind,
            issued=c.csat_issued,
            answered=c.csat_answered,
            score_sum=c.csat_sum,
            satisfied=c.csat_satisfied,
            promoters=0,
            detractors=0,
        )
    else:
        got = figures(
            kind,
            issued=c.nps_issued,
            answered=c.nps_answered,
            score_sum=c.nps_sum,
            satisfied=0,
            promoters=c.nps_promoters,
            detractors=c.nps_detractors,
        )
    return Figures(**got)


def tier_quarter(tier: str, c: QuarterCounts) -> TierQuarter:
    now, before = average(c.revenue, c.orders), average(c.previous_revenue, c.previous_orders)
    return TierQuarter(
        tier=tier,
        retention=Share.of(c.retained, c.previous_buyers),
        repurchase=Share.of(c.repeat_buyers, c.buyers),
        average_order_value=now,
        previous_average_order_value=before,
        order_value_growth=growth(now, before),
        referral=Share.of(c.referrers, c.buyers),
        first_contact_resolution=Share.of(c.first_contact, c.resolved),
        csat=_survey_figures(SurveyKind.CSAT, c),
        nps=_survey_figures(SurveyKind.NPS, c),
    )


def quarterly(quarter: str, tz: str, counts: Mapping[str, QuarterCounts]) -> QuarterlyTierReport:
    rows = [counts.get(t, QuarterCounts()) for t in TIERS]
    return QuarterlyTierReport(
        quarter=quarter,
        previous_quarter=previous_quarter(quarter),
        timezone=tz,
        tiers=[tier_quarter(t, c) for t, c in zip(TIERS, rows, strict=True)],
        total=tier_quarter(ALL, sum(rows, QuarterCounts())),
        not_measured=list(NOT_MEASURED),
    )


# -- the export (CSV / XLSX): one row per tier, then the total --------------------------------------------------


@dataclass(frozen=True)
class Sheet:
    title: str
    headers: list[str]
    rows: list[list[Any]]  # numbers stay numbers; CSAT and NPS are percentages, as on the page
    rates: frozenset[int]  # the columns holding a 0–1 share, shown as a percentage


def _tier_name(tier: str) -> str:
    return "合计" if tier == ALL else label(tier)


def monthly_sheet(report: MonthlyTierReport) -> Sheet:
    headers = [
        "客户等级",
        "新建案件数",
        "响应及时数",
        "已计量首次响应数",
        "响应及时率",
        "未到期首次响应数",
        "满意度回收份数",
        "满意度平均分",
        "4–5 分占比",
        "已解决案件数",
        "问题解决率",
    ]
    rows = [
        [
            _tier_name(t.tier),
            t.opened,
            t.on_time_response.numerator,
            t.on_time_response.denominator,
            t.on_time_response.rate,
            t.pending_response,
            t.satisfaction.answered,
            t.satisfaction.average,
            t.satisfaction.satisfied.rate,
            t.resolution.numerator,
            t.resolution.rate,
        ]
        for t in (*report.tiers, report.total)
    ]
    return Sheet(f"客户服务分级执行报告 {report.month}", headers, rows, frozenset({4, 8, 10}))


def quarterly_sheet(report: QuarterlyTierReport) -> Sheet:
    headers = [
        "客户等级",
        "上季度下单客户数",
        "留存率",
        "本季度下单客户数",
        "复购率",
        "本季度客单价",
        "上季度客单价",
        "客单价增长率",
        "推荐率",
        "问题一次性解决率",
        "CSAT 回收份数",
        "CSAT（%）",
        "NPS 回收份数",
        "NPS",
    ]
    rows = [
        [
            _tier_name(t.tier),
            t.retention.denominator,
            t.retention.rate,
            t.repurchase.denominator,
            t.repurchase.rate,
            t.average_order_value,
            t.previous_average_order_value,
            t.order_value_growth,
            t.referral.rate,
            t.first_contact_resolution.rate,
            t.csat.answered,
            t.csat.csat,
            t.nps.answered,
            t.nps.nps,
        ]
        for t in (*report.tiers, report.total)
    ]
    return Sheet(f"分级服务季度评估 {report.quarter}", headers, rows, frozenset({2, 4, 7, 8, 9}))
