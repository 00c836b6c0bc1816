"""Value-added push (SPEC VP-1..VP-3, R-6, seed 003 §2.5): a campaign's intake, its rules and its metrics.

A campaign is one case: one service pushed to every customer carrying one tag (VP-1/VP-2), or to the
customers of an occasion (birthday, renewal). Each customer's copy is a delivery with its own tracked links;
three days later the campaign's opens, clicks, inquiries and conversions become its push record (VP-3).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import Field, field_validator

from domain.actions import COMMON_ACTIONS, ActionInput, ActionSpec
from domain.models import CaseRef, Model, Step, Tier


class PushType(StrEnum):
    MONTHLY = "monthly"  # VP-2 每月集中推送1次
    BIRTHDAY = "birthday"  # VP-2 重要节点(客户生日)额外推送, R-4
    RENEWAL = "renewal"  # VP-2 续费期额外推送, R-3


class PushChannel(StrEnum):
    """VP-2: 短信/邮件/APP推送/公众号消息."""

    EMAIL = "email"
    SMS = "sms"
    APP = "app"
    WECHAT = "wechat"


class Decision(StrEnum):
    """VP-3: what the monthly analysis decides for the service (低响应率服务类型进行优化或替换)."""

    KEEP = "keep"
    REVISE = "revise"
    REPLACE = "replace"


# VP-3 · 003 §2.5.1: 客户对增值服务响应率≥30%. A respondent clicked, asked or bought within the window.
RESPONSE_TARGET = 0.30
# An inquiry is a pre-sales or after-sales case, a conversion an order, opened after the push (VP-3).
INQUIRY_PROCESSES = ("presales", "aftersales")
CONVERSION_PROCESSES = ("order_followup",)
# Customers one send activity handles; a batch is one transaction plus its messages.
SEND_BATCH = 100
OUTCOME_NO_AUDIENCE = "no_audience"


def _listed(value: Any) -> Any:
    """A web form sends a list as "vip, key" or one value per line."""
    if isinstance(value, str):
        parts = value.replace("，", ",").replace("\n", ",").split(",")
        return [part.strip() for part in parts if part.strip()]
    return value


class PushContent(Model):
    """What is pushed to whom: a tag → service row (VP-2) and the campaign started from it share these."""

    push_type: PushType = PushType.MONTHLY
    tag: str = Field(
        min_length=1, max_length=60, description="customer tag (VP-1), e.g. high_activity, upgrade_need"
    )
    service: str = Field(min_length=1, max_length=200, description="the value-added service pushed")
    link: str = Field(min_length=1, max_length=500, description="the service's landing page (http/https)")
    tiers: list[Tier] = Field(default_factory=list, description="only these tiers; empty: every tier")
    channel: PushChannel | None = Field(
        default=None, description="one channel for everyone; empty: each customer's preferred channel"
    )
    owner: str | None = Field(default=None, max_length=100, description="customer-ops specialist in charge")

    @field_validator("tag", "service", "link", "owner", mode="before")
    @classmethod
    def _strip(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    @field_validator("link")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")) or any(c.isspace() for c in value):
            raise ValueError("the link must be an http:// or https:// address without spaces")
        return value

    @field_validator("tiers", mode="before")
    @classmethod
    def _tiers(cls, value: Any) -> Any:
        return _listed(value)


class ValuePushIntake(PushContent):
    customer_ids: list[int] = Field(
        default_factory=list,
        max_length=5000,
        description="occasions: exactly these customers instead of everyone with the tag",
    )

    @field_validator("customer_ids", mode="before")
    @classmethod
    def _ids(cls, value: Any) -> Any:
        return _listed(value)

    def record(self) -> dict[str, Any]:
        """The push record's intake columns (003 §3.5)."""
        return {
            "push_type": self.push_type,
            "tag": self.tag,
            "service": self.service,
            "link": self.link,
            "tiers": [t.value for t in self.tiers],
            "channel": self.channel,
            "owner": self.owner,
        }


class ValuePushStart(Model):
    case: CaseRef
    intake: ValuePushIntake


class TagService(PushContent):
    """A row of the tag → service table (VP-2) the schedules start campaigns from."""

    active: bool = True


class TagServiceRow(TagService):
    id: int

    def intake(self, customer_ids: list[int] | None = None) -> ValuePushIntake:
        fields = self.model_dump(exclude={"id", "active"})
        return ValuePushIntake(**fields, customer_ids=customer_ids or [])


# -- the per-customer frequency cap ---------------------------------------------------------------------


def cap_key(push_type: PushType, day: date, contract_end: date | None) -> str:
    """What a customer may get once (unique per customer in ``push_deliveries``): one monthly push per
    calendar month (每月集中推送1次), one birthday push a year, one renewal push per contract end. A month,
    not a 30-day window: the planner runs on the 1st, and 1 February to 1 March is 28 days."""
    if push_type is PushType.BIRTHDAY:
        return f"birthday:{day.year}"
    if push_type is PushType.RENEWAL:
        return f"renewal:{(contract_end or day).isoformat()}"
    return f"monthly:{day:%Y-%m}"


def channel_for(
    override: PushChannel | None, preferred: str | None, email: str | None, phone: str | None
) -> str | None:
    """The channel a customer is pushed on (VP-2): the campaign's, else the customer's preferred one, else
    email, else SMS; None when the customer has no address for it."""
    addresses = {"email": email, "sms": phone, "wechat": phone, "app": phone}
    if override is not None:
        return override.value if addresses[override.value] else None
    if preferred and addresses.get(preferred):
        return preferred
    return "email" if email else ("sms" if phone else None)


class SendBatch(Model):
    number: str
    intake: ValuePushIntake
    at: datetime
    after: int = 0  # customer id the previous batch ended with
    size: int = SEND_BATCH


class BatchSent(Model):
    delivered: int = 0
    capped: int = 0  # pushed recently, skipped
    unreachable: int = 0  # no address on the channel
    failed: int = 0  # the channel refused; the outbox shows the message
    channels: dict[str, int] = Field(default_factory=dict)
    last: int | None = None
    customers: int = 0

    def add(self, other: BatchSent) -> BatchSent:
        channels = dict(self.channels)
        for name, n in other.channels.items():
            channels[name] = channels.get(name, 0) + n
        return BatchSent(
            delivered=self.delivered + other.delivered,
            capped=self.capped + other.capped,
            unreachable=self.unreachable + other.unreachable,
            failed=self.failed + other.failed,
            channels=channels,
            last=other.last,
            customers=self.customers + other.customers,
        )


# -- VP-3: the effect ----------------------------------------------------------------------------------------


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


class PushMetrics(Model):
    """The push record's figures (SPEC §7): count, open rate, click rate, inquiries, conversions, and the
    response rate VP-3 sets its 30% target on."""

    delivered: int = 0
    opened: int = 0
    clicked: int = 0
    inquiries: int = 0
    conversions: int = 0
    respondents: int = 0
    open_rate: float | None = None
    click_rate: float | None = None
    response_rate: float | None = None
    meets_target: bool | None = None

    @classmethod
    def of(
        cls, *, delivered: int, opened: int, clicked: int, inquiries: int, conversions: int, respondents: int
    ) -> PushMetrics:
        response = _rate(respondents, delivered)
        return cls(
            delivered=delivered,
            opened=opened,
            clicked=clicked,
            inquiries=inquiries,
            conversions=conversions,
            respondents=respondents,
            open_rate=_rate(opened, delivered),
            click_rate=_rate(clicked, delivered),
            response_rate=response,
            meets_target=None if response is None else response >= RESPONSE_TARGET,
        )

    def record(self) -> dict[str, Any]:
        return {
            "count": self.delivered,
            "open_rate": self.open_rate,
            "click_rate": self.click_rate,
            "inquiries": self.inquiries,
            "conversions": self.conversions,
            "respondents": self.respondents,
            "response_rate": self.response_rate,
        }


class EffectAnalysis(ActionInput):
    """VP-3 · 003 §2.5.2 步骤3: the monthly analysis — keep the service, revise it or replace it."""

    decision: Decision
    improvement_note: str = Field(min_length=1, max_length=4000, description="优化建议 (003 §3.5)")


ACTIONS: list[ActionSpec] = [
    ActionSpec("record_analysis", EffectAnalysis, frozenset({Step.EFFECT_ANALYSIS})),
    *COMMON_ACTIONS,
]


# -- the schedules: the monthly planner and the daily occasions ----------------------------------------------


class PlanRequest(Model):
    at: datetime | None = None  # the instant whose month is planned; None: when the schedule fired


class OccasionRequest(Model):
    at: datetime | None = None  # the instant whose day is looked at; None: when the schedule fired
    renewal_ahead: timedelta = timedelta(days=30)  # R-3 · 001 §四 合同到期前30天续约提醒


class OccasionQuery(Model):
    day: date  # birthdays on this day (a 29 February birthday counts on 28 February of other years)
    contract_end: date  # renewals: contracts ending that day


class Occasions(Model):
    birthday: list[int] = Field(default_factory=list)
    renewal: list[int] = Field(default_factory=list)


class Planned(Model):
    started: list[str] = Field(default_factory=list)
    existing: list[str] = Field(default_factory=list)  # started by an earlier run of the same period


def monthly_number(month: date, service_id: int) -> str:
    """One campaign per tag → service row and month: a re-run of the month finds it instead of resending."""
    return f"VP-{month:%Y%m}-M{service_id}"


def occasion_number(day: date, kind: PushType) -> str:
    return f"VP-{day:%Y%m%d}-{'B' if kind is PushType.BIRTHDAY else 'R'}"
