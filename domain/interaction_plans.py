"""Interaction plans (R-1), the shared frequency cap (R-6) and effect tracking (R-5).

Seeds: 001 §四 (定期跟进: 月度/季度内容, 高价值客户季度拜访或视频会议; 避免过度营销), 004 §三.3 (重点客户 /
潜力客户 / 一般客户 / 冷淡客户 各自的维护频次与内容), 002 §二(二) (tier benefits).

Every customer falls in at most one plan category, the first that matches (the planner's SQL,
``activities/interaction_plans.py``):

1. ``cold`` — lifecycle ``dormant`` (C-5: no interaction for 90 days): a needs-finding callback task;
2. ``vip`` / ``key`` — by tier: a monthly callback task (phone or video) and a quarterly benefit notice;
3. ``potential`` — industry potential ``high`` (T-1 input) in the normal or watch tier: a monthly case study
   or offer message;
4. ``normal`` — the normal tier: quarterly news and a greeting on each public holiday.

Watch-tier customers without high potential and churned customers have no plan (R-7's churn warning and the
promotions of the value-added push reach them). ``PLAN`` below is the one place the plan is kept; message
texts are the editable templates ``plan_message`` / ``care`` / ``reactivation`` (COM-2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from enum import StrEnum

import chinese_calendar
from pydantic import Field, field_validator

from domain.models import Model


class TouchKind(StrEnum):
    PUSH = "push"  # a value-added push (VP-2)
    GREETING = "greeting"  # holiday greeting
    NEWS = "news"  # quarterly news / industry brief
    CASE_STUDY = "case_study"  # customer success story or a tailored offer
    BENEFIT = "benefit"  # the tier's benefits (T-5)
    CALLBACK = "callback"  # a phone or video call by the account manager (a care task)
    SURVEY = "survey"  # the reactivation survey


class Response(StrEnum):
    OPENED = "opened"
    CLICKED = "clicked"
    REPLIED = "replied"
    CONVERTED = "converted"


# A later, stronger response replaces a weaker one (a click after an open); never the other way round.
RESPONSE_RANK: dict[str, int] = {r.value: n for n, r in enumerate(Response, start=1)}


class Category(StrEnum):
    COLD = "cold"
    VIP = "vip"
    KEY = "key"
    POTENTIAL = "potential"
    NORMAL = "normal"


# -- the cap -------------------------------------------------------------------------------------------

# Touches per customer per calendar month (Beijing time), every kind together; admins edit it
# (``touch_policy``). A calendar month like the monthly push's own cap (VP-2 每月集中推送1次): the plans and
# the pushes run on the 1st, and 1 February to 1 March is 28 days.
DEFAULT_CAP = 4
MAX_CAP = 31
_CST = timezone(timedelta(hours=8), "CST")


def month_of(at: datetime) -> date:
    """The first day of the Beijing-time month ``at`` falls in."""
    return at.astimezone(_CST).date().replace(day=1)


def next_month(first: date) -> date:
    return (first + timedelta(days=32)).replace(day=1)


def month_bounds(first: date) -> tuple[datetime, datetime]:
    """[start, end) of a Beijing-time month as instants."""
    return (
        datetime.combine(first, time(), _CST),
        datetime.combine(next_month(first), time(), _CST),
    )


def month_label(first: date) -> str:
    return f"{first:%Y-%m}"


_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def parse_month(value: str) -> date:
    """``YYYY-MM`` → its first day; ValueError otherwise."""
    found = _MONTH.match(value.strip())
    if not found:
        raise ValueError("a month is written YYYY-MM, e.g. 2026-12")
    return date(int(found[1]), int(found[2]), 1)


class TouchPolicyIn(Model):
    max_per_month: int = Field(ge=1, le=MAX_CAP, description="每位客户每自然月最多接触次数（推送与维护合计）")
    actor: str = Field(default="admin", min_length=1, max_length=100)


class TouchPolicyOut(Model):
    max_per_month: int
    updated_by: str
    updated_at: datetime


# -- the plan ----------------------------------------------------------------------------------------------

QUARTER_STARTS = frozenset({1, 4, 7, 10})


@dataclass(frozen=True)
class PlanEntry:
    id: str  # the ledger's ``plan`` column and the label of the touch (domain/i18n.py)
    category: Category
    kind: TouchKind
    months: frozenset[int] | None = None  # the months it happens in; None: every month
    holidays: bool = False  # one touch per public holiday of the month (greetings)
    due_within: timedelta | None = None  # callbacks: the task is due this long after the plan runs
    gap: timedelta | None = None  # not again for a customer who had this entry within this long
    link: str | None = None  # messages: the landing page behind the tracked link (placeholders to edit)


PLAN: tuple[PlanEntry, ...] = (
    # 004 §三.3 冷淡客户：通过电话或邮件进行回访，了解其需求变化或合作意向 — once a quarter while dormant.
    PlanEntry(
        "cold_callback",
        Category.COLD,
        TouchKind.CALLBACK,
        due_within=timedelta(days=14),
        gap=timedelta(days=90),
    ),
    # R-1 · 001 §四 对高价值客户安排季度拜访或视频会议; 002 T-5 VIP 季度拜访, 重要客户月度服务回顾.
    PlanEntry("vip_callback", Category.VIP, TouchKind.CALLBACK, due_within=timedelta(days=10)),
    PlanEntry(
        "vip_benefit",
        Category.VIP,
        TouchKind.BENEFIT,
        months=QUARTER_STARTS,
        link="https://careflow.example.com/benefits/vip",
    ),
    PlanEntry("key_callback", Category.KEY, TouchKind.CALLBACK, due_within=timedelta(days=10)),
    PlanEntry(
        "key_benefit",
        Category.KEY,
        TouchKind.BENEFIT,
        months=QUARTER_STARTS,
        link="https://careflow.example.com/benefits/key",
    ),
    # 004 §三.3 潜力客户：每月保持联系…提供专项方案; 001 §四 月度：客户成功案例分享.
    PlanEntry(
        "potential_case_study",
        Category.POTENTIAL,
        TouchKind.CASE_STUDY,
        link="https://careflow.example.com/cases/success-stories",
    ),
    # 004 §三.3 一般客户：定期发送关怀信息、节日祝福、行业资讯.
    PlanEntry(
        "normal_news",
        Category.NORMAL,
        TouchKind.NEWS,
        months=QUARTER_STARTS,
        link="https://careflow.example.com/insights/quarterly",
    ),
    PlanEntry("normal_greeting", Category.NORMAL, TouchKind.GREETING, holidays=True),
)
ENTRIES: dict[str, PlanEntry] = {e.id: e for e in PLAN}
# When the cap cannot take every planned touch of a customer, the lower number goes first: the
# reactivation survey, the owner's call, the benefits, the content, the greeting.
PRIORITY: dict[TouchKind, int] = {
    TouchKind.SURVEY: 0,
    TouchKind.CALLBACK: 1,
    TouchKind.BENEFIT: 2,
    TouchKind.CASE_STUDY: 3,
    TouchKind.NEWS: 3,
    TouchKind.GREETING: 4,
}
MESSAGE_KINDS = frozenset(
    {TouchKind.GREETING, TouchKind.NEWS, TouchKind.CASE_STUDY, TouchKind.BENEFIT, TouchKind.SURVEY}
)
# When the day's messages go out (a greeting on its holiday), Beijing time.
SEND_AT = time(9, 0)
# The planner's schedule: 08:00 on the 1st, before the monthly push (09:00), so the plan's touches are
# reserved under the cap first.
PLAN_CRON = "0 8 1 * *"

# Holiday greetings: the first day of each public holiday period. 清明 (Tomb-sweeping Day) is a day of
# remembrance and gets no greeting.
GREETED: dict[str, str] = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "Mid-autumn Festival": "中秋节",
    "National Day": "国庆节",
}
# For a year the holiday package does not know yet, only the fixed-date holidays are certain.
FIXED_HOLIDAYS: tuple[tuple[int, int, str], ...] = ((1, 1, "元旦"), (5, 1, "劳动节"), (10, 1, "国庆节"))
_KNOWN_YEARS = frozenset(d.year for d in chinese_calendar.holidays)


def holidays_in(first: date) -> tuple[list[tuple[date, str]], bool]:
    """The greeted holidays starting in the month of ``first`` (day, name), and whether the holiday package
    knows the year (if not, only 元旦, 劳动节 and 国庆节 are there)."""
    if first.year not in _KNOWN_YEARS:
        days = [(date(first.year, m, d), name) for m, d, name in FIXED_HOLIDAYS if m == first.month]
        return days, False
    found = []
    for day, name in sorted(chinese_calendar.holidays.items()):
        if (day.year, day.month) != (first.year, first.month) or name not in GREETED:
            continue
        if chinese_calendar.holidays.get(day - timedelta(days=1)) == name:
            continue  # not the first day of the period
        found.append((day, GREETED[name]))
    return found, True


class PlanItem(Model):
    """One entry of this month's plan (for every customer of its category)."""

    entry: str
    kind: TouchKind
    category: Category
    at: datetime  # when the touch happens
    key: str  # the ledger key without the customer: plan:2026-10:normal_greeting:2026-10-01
    occasion: str | None = None  # a greeting's holiday
    link: str | None = None


def month_plan(at: datetime) -> tuple[list[PlanItem], bool]:
    """The plan of the month ``at`` falls in, as of ``at`` (a holiday already past gets no greeting), and
    whether the holiday dates are complete."""
    first = month_of(at)
    holidays, complete = holidays_in(first)
    today = at.astimezone(_CST).date()
    prefix = f"plan:{month_label(first)}"
    items = []
    for e in PLAN:
        if e.months is not None and first.month not in e.months:
            continue
        if e.holidays:
            for day, name in holidays:
                if day >= today:
                    when = max(at, datetime.combine(day, SEND_AT, _CST))
                    items.append(
                        PlanItem(
                            entry=e.id,
                            kind=e.kind,
                            category=e.category,
                            at=when,
                            key=f"{prefix}:{e.id}:{day.isoformat()}",
                            occasion=name,
                            link=e.link,
                        )
                    )
            continue
        items.append(
            PlanItem(
                entry=e.id,
                kind=e.kind,
                category=e.category,
                at=at,
                key=f"{prefix}:{e.id}",
                link=e.link,
            )
        )
    return items, complete


# -- effect tracking ---------------------------------------------------------------------------------------

# A repurchase (a transaction) or a referral (a customer created with referred_by = this one) within this long
# after a touch converts it.
CONVERSION_WINDOW = timedelta(days=30)
# Long non-responders get a reactivation survey: at least MIN_TOUCHES message touches (callbacks are
# conversations, not counted) in the last QUIET_FOR, none of their touches answered in that time, and no
# reactivation survey within QUIET_FOR.
QUIET_FOR = timedelta(days=183)
MIN_TOUCHES = 3
REACTIVATION = "reactivation"  # the plan entry of the survey touch; surveys keyed reactivation:<month>:<id>


class PlanRequest(Model):
    """Input of InteractionPlanWorkflow; a schedule passes nothing."""

    at: datetime | None = None  # the instant whose month is planned; None: when the schedule fired
    customer_ids: list[int] = Field(default_factory=list, max_length=5000)  # only these; empty: everyone
    batch: int = Field(default=500, ge=1, le=5000)  # customers per planning activity
    # Kept across continue-as-new:
    after: int = 0
    offset: timedelta | None = None  # ``at`` minus the workflow's clock when the run began
    done: PlanResult | None = None


class PlanBatch(Model):
    month: str
    at: datetime
    items: list[PlanItem]
    after: int
    size: int
    customer_ids: list[int] = Field(default_factory=list)


class CallbackTouch(Model):
    customer_id: int
    key: str
    entry: str
    due: datetime


class PlanBatchResult(Model):
    customers: int
    reserved: int  # new touches in the ledger
    capped: int  # planned touches the cap left out
    reactivation: int  # reactivation surveys issued
    callbacks: list[CallbackTouch]  # callback touches whose task is still to open
    last: int | None


class SendDue(Model):
    source: str
    until: datetime
    after: int = 0
    size: int = 200


class SendResult(Model):
    sent: int
    failed: int
    last: int | None


class PlanResult(Model):
    month: str
    customers: int = 0
    reserved: int = 0
    capped: int = 0
    reactivation: int = 0
    tasks: int = 0  # callback tasks opened
    messages: int = 0  # messages handed to the notifier
    failed: int = 0
    holidays_complete: bool = True

    def add(self, b: PlanBatchResult) -> PlanResult:
        return self.model_copy(
            update={
                "customers": self.customers + b.customers,
                "reserved": self.reserved + b.reserved,
                "capped": self.capped + b.capped,
                "reactivation": self.reactivation + b.reactivation,
            }
        )


PlanRequest.model_rebuild()


class TouchResponseIn(Model):
    """Staff record how the customer responded to a touch (e.g. a callback that led to a reply)."""

    response: Response
    actor: str = Field(default="api", min_length=1, max_length=100)


class EffectRow(Model):
    tier: str | None  # None: every tier
    kind: str | None  # None: every kind
    touches: int
    responded: int
    opened: int  # opened or more
    replied: int  # replied or converted
    repurchases: int
    referrals: int
    converted: int  # a repurchase, a referral or a reported conversion
    response_rate: float | None
    conversion_rate: float | None


class EffectReport(Model):
    month: str
    cap: int
    rows: list[EffectRow]  # per tier and kind
    tiers: list[EffectRow]  # per tier
    total: EffectRow
    non_responders: int  # customers who qualify for a reactivation survey now

    @field_validator("month")
    @classmethod
    def _month(cls, v: str) -> str:
        parse_month(v)
        return v


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
