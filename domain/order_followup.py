"""Order follow-up (SPEC OF-1..OF-4, seed 003 §2.2, §3.2 售中订单跟进表): intake, order events, staff actions."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, Field, ValidationInfo, field_validator

from domain.actions import COMMON_ACTIONS, ActionInput, ActionSpec
from domain.models import CaseRef, Channel, Model, Step
from domain.surveys import satisfaction_action

# A date typed without an offset (the staff web form) is Beijing time, as every page shows it.
BEIJING = timezone(timedelta(hours=8), "CST")


def _aware(value: datetime | None) -> datetime | None:
    return value if value is None or value.tzinfo is not None else value.replace(tzinfo=BEIJING)


When = Annotated[datetime, AfterValidator(_aware)]
MaybeWhen = Annotated[datetime | None, AfterValidator(_aware)]


class Milestone(StrEnum):
    """The key nodes of fulfilment (003 §2.2.1 生产、发货、安装, and receipt)."""

    PRODUCTION = "production"
    SHIP = "ship"
    DELIVERY = "delivery"
    INSTALL = "install"


MILESTONE_ORDER = list(Milestone)


class PaymentStatus(StrEnum):
    PAID = "paid"
    PARTIAL = "partial"
    UNPAID = "unpaid"


class OrderStatus(StrEnum):
    """OF-2: 待生产、生产中、已发货(待签收)、已签收、已安装."""

    PENDING_PRODUCTION = "pending_production"
    IN_PRODUCTION = "in_production"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    INSTALLED = "installed"


class EventType(StrEnum):
    SCHEDULED = "scheduled"
    PRODUCTION_STARTED = "production_started"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    INSTALLED = "installed"
    DELAY_EXPECTED = "delay_expected"
    EXCEPTION = "exception"


# The status events: the milestone each one completes and the order status it leaves.
STATUS_EVENTS: dict[EventType, tuple[Milestone, OrderStatus]] = {
    EventType.PRODUCTION_STARTED: (Milestone.PRODUCTION, OrderStatus.IN_PRODUCTION),
    EventType.SHIPPED: (Milestone.SHIP, OrderStatus.SHIPPED),
    EventType.DELIVERED: (Milestone.DELIVERY, OrderStatus.DELIVERED),
    EventType.INSTALLED: (Milestone.INSTALL, OrderStatus.INSTALLED),
}


class ExceptionKind(StrEnum):
    """OF-3: 库存不足、地址错误、客户信息变更."""

    STOCK_OUT = "stock_out"
    WRONG_ADDRESS = "wrong_address"
    CHANGED_DETAILS = "changed_details"
    OTHER = "other"


class Resolution(StrEnum):
    """OF-3: 替换产品、调整地址、协商延期."""

    SUBSTITUTE = "substitute"
    NEW_ADDRESS = "new_address"
    NEW_DATE = "new_date"
    OTHER = "other"


class PlannedMilestone(Model):
    milestone: Milestone
    planned_at: When


_PLAN_ITEM = re.compile(r"^\s*(\w+)\s*[=:：]\s*(.+?)\s*$")


class OrderFollowupIntake(Model):
    """OF-1: the order as sales hand it over (003 §3.2 columns), with the fulfilment plan if known."""

    channel: Channel = Channel.WEB_FORM
    order_no: str = Field(
        min_length=1, max_length=60, pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-./]*$", description="订单编号"
    )
    amount: Decimal = Field(ge=0, max_digits=14, decimal_places=2, description="订单金额（元）")
    model: str = Field(min_length=1, max_length=200, description="产品型号")
    quantity: int = Field(ge=1, le=1_000_000)
    payment_status: PaymentStatus
    address: str = Field(min_length=1, max_length=1000, description="收货地址")
    contact: str = Field(min_length=1, max_length=200, description="收货人及联系方式")
    planned: list[PlannedMilestone] = Field(
        default_factory=list,
        description="计划节点，如 ship=2026-12-01 10:00; install=2026-12-03 14:00",
    )

    @field_validator("planned", mode="before")
    @classmethod
    def _plan_text(cls, value: Any) -> Any:
        """The web form sends the plan as text: ``milestone=date`` items separated by ; or new lines."""
        if not isinstance(value, str):
            return value
        items = []
        for part in filter(str.strip, re.split(r"[;；\n]", value)):
            m = _PLAN_ITEM.match(part)
            if m is None:
                raise ValueError(
                    f"write each milestone as milestone=date, e.g. ship=2026-12-01 10:00: {part!r}"
                )
            items.append({"milestone": m.group(1), "planned_at": m.group(2)})
        return items

    @field_validator("planned")
    @classmethod
    def _once_each(cls, value: list[PlannedMilestone]) -> list[PlannedMilestone]:
        names = [p.milestone for p in value]
        if len(names) != len(set(names)):
            raise ValueError("each milestone may be planned once")
        return value

    def case_key(self) -> str:
        """One case per order (api.services.start_case): a second start for this order is not a new case."""
        return f"order:{self.order_no}"

    def record(self) -> dict[str, Any]:
        """The order_records columns at intake."""
        return {
            "order_no": self.order_no,
            "amount": str(self.amount),
            "model": self.model,
            "quantity": self.quantity,
            "payment_status": self.payment_status.value,
            "address": self.address,
            "channel": self.channel.value,
            "contact": self.contact,
            "order_status": OrderStatus.PENDING_PRODUCTION.value,
            **milestone_columns({p.milestone: p.planned_at for p in self.planned}, {}),
        }


def milestone_columns(plan: dict[Milestone, datetime], done: dict[Milestone, datetime]) -> dict[str, Any]:
    """003 §3.2 关键节点 / 预计完成时间 / 实际完成时间: the next milestone still to come, else the last one
    reached; ``milestones`` keeps the whole plan."""
    pending = [m for m in MILESTONE_ORDER if m in plan and m not in done]
    reached = [m for m in MILESTONE_ORDER if m in done]
    current = pending[0] if pending else (reached[-1] if reached else None)

    def iso(at: datetime | None) -> str | None:
        return at.isoformat() if at else None

    return {
        "milestone": current.value if current else None,
        "due_date": iso(plan.get(current)) if current else None,
        "done_date": iso(done.get(current)) if current else None,
        "milestones": {
            m.value: {"planned_at": iso(plan.get(m)), "done_at": iso(done.get(m))}
            for m in MILESTONE_ORDER
            if m in plan or m in done
        },
    }


class OrderFollowupStart(Model):
    case: CaseRef
    intake: OrderFollowupIntake


# -- what other systems (or staff) tell us about an order (OF-2, OF-3) ----------------------------------------

# The fields each event type must carry.
REQUIRED: dict[EventType, frozenset[str]] = {
    EventType.SCHEDULED: frozenset({"milestone", "planned_at"}),
    EventType.DELAY_EXPECTED: frozenset({"milestone", "reason", "new_date"}),
    EventType.EXCEPTION: frozenset({"kind", "detail"}),
}


class OrderEventIn(Model):
    """One order event. ``scheduled``: milestone + planned_at; ``delay_expected``: milestone, reason, new_date;
    ``exception``: kind + detail; production_started / shipped / delivered / installed need nothing more."""

    type: EventType
    milestone: Milestone | None = Field(default=None, validate_default=True)
    planned_at: MaybeWhen = Field(default=None, validate_default=True)
    reason: str | None = Field(default=None, max_length=1000, validate_default=True)
    new_date: MaybeWhen = Field(default=None, validate_default=True)
    kind: ExceptionKind | None = Field(
        default=None, validate_default=True, description="异常类型（exception）"
    )
    detail: str | None = Field(default=None, max_length=2000, validate_default=True)
    occurred_at: MaybeWhen = Field(default=None, description="when it happened, if not when we heard of it")
    note: str = Field(default="", max_length=2000)

    @field_validator("milestone", "planned_at", "reason", "new_date", "kind", "detail")
    @classmethod
    def _needed(cls, value: Any, info: ValidationInfo) -> Any:
        kind = info.data.get("type")
        if kind is not None and info.field_name in REQUIRED.get(kind, ()) and value in (None, ""):
            raise ValueError(f"a {kind.value} event needs {info.field_name}")
        return value


class ReceivedEvent(OrderEventIn):
    """The ``order_event`` signal: the event as stored, with the sender's id (a resend is dropped)."""

    event_id: str = Field(min_length=1, max_length=200)
    source: str = "api"


class StaffOrderEvent(OrderEventIn, ActionInput):
    """Staff enter what they heard by phone (the customer says it arrived, the warehouse reports a stock-out)."""


# -- staff actions ------------------------------------------------------------------------------------------

FACTS = ("customer_ok", "model_ok", "quantity_ok", "payment_ok", "address_ok")


class OrderConfirmation(ActionInput):
    """OF-1 (003 §2.2.2 步骤1): customer, model, quantity, payment and address checked; a doubt goes to sales."""

    customer_ok: bool = False
    model_ok: bool = False
    quantity_ok: bool = False
    payment_ok: bool = False
    address_ok: bool = False
    doubt: str | None = Field(
        default=None, max_length=2000, validate_default=True, description="有疑问时填写：交销售顾问确认"
    )

    @field_validator("doubt")
    @classmethod
    def _checked(cls, doubt: str | None, info: ValidationInfo) -> str | None:
        doubt = (doubt or "").strip() or None
        unchecked = [f for f in FACTS if not info.data.get(f)]
        if unchecked and doubt is None:
            raise ValueError(f"check every fact or describe the doubt (unchecked: {', '.join(unchecked)})")
        return doubt


class DoubtCleared(ActionInput):
    """The sales consultant's answer, and the facts it corrects."""

    sales_answer: str = Field(min_length=1, max_length=2000)
    amount: Decimal | None = Field(default=None, ge=0, max_digits=14, decimal_places=2)
    model: str | None = Field(default=None, min_length=1, max_length=200)
    quantity: int | None = Field(default=None, ge=1, le=1_000_000)
    payment_status: PaymentStatus | None = None
    address: str | None = Field(default=None, min_length=1, max_length=1000)

    def corrections(self) -> dict[str, Any]:
        """The order_records columns the answer corrects."""
        fields = {"amount", "model", "quantity", "payment_status", "address"}
        return self.model_dump(mode="json", include=fields, exclude_none=True)


class DelayWarning(ActionInput):
    """OF-2: warn the customer ahead of a likely delay, with the reason and the new date."""

    reason: str = Field(min_length=1, max_length=1000)
    new_date: When
    message: str = Field(min_length=1, max_length=2000, description="告知客户的内容")


class ExceptionAck(ActionInput):
    """OF-3: the exception is taken up (who coordinates with sales and the customer)."""

    note: str = Field(min_length=1, max_length=2000)


class ExceptionResolution(ActionInput):
    """OF-3: the agreed resolution, told to the customer."""

    resolution: Resolution
    detail: str = Field(min_length=1, max_length=2000, description="处理方案说明")
    milestone: Milestone | None = Field(default=None, description="改期的节点（默认下一个未完成节点）")
    new_date: MaybeWhen = Field(default=None, validate_default=True)
    new_address: str | None = Field(default=None, max_length=1000, validate_default=True)

    @field_validator("new_date", "new_address")
    @classmethod
    def _needed(cls, value: Any, info: ValidationInfo) -> Any:
        # The resolutions new_date and new_address are named after the field they need.
        if info.data.get("resolution") == info.field_name and value in (None, ""):
            raise ValueError(f"a {info.field_name} resolution needs the {info.field_name}")
        return value


ACTIONS: list[ActionSpec] = [
    ActionSpec("confirm_order", OrderConfirmation, frozenset({Step.ORDER_CONFIRMATION})),
    ActionSpec("clear_doubt", DoubtCleared, frozenset({Step.ORDER_DOUBT})),
    ActionSpec("warn_delay", DelayWarning, frozenset({Step.DELAY_WARNING})),
    ActionSpec("acknowledge_exception", ExceptionAck, frozenset({Step.EXCEPTION_RESPONSE})),
    ActionSpec("resolve_exception", ExceptionResolution, frozenset({Step.EXCEPTION_RESOLUTION})),
    satisfaction_action(Step.DELIVERY_SATISFACTION),
    ActionSpec("record_order_event", StaffOrderEvent, None),
    *COMMON_ACTIONS,
]

# Outcomes an order follow-up case ends with.
OUTCOME_FULFILLED = "fulfilled"
