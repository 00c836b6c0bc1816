"""Order follow-up (SPEC OF-1..OF-4, §7 售中订单跟进表): the order record and the events other systems send."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Identity, Integer, Numeric, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from db.models import Base


class OrderRecord(Base):
    """003 §3.2: order no., customer, amount, model, payment status, order status, milestone, due date,
    done date, owner, exception; plus the intake's quantity, address, channel and contact."""

    __tablename__ = "order_records"
    case_number: Mapped[str] = mapped_column(ForeignKey("cases.number"), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    order_no: Mapped[str] = mapped_column(String(60), unique=True)
    amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    model: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    payment_status: Mapped[str] = mapped_column(String(20))
    address: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str | None] = mapped_column(String(20))
    contact: Mapped[str | None] = mapped_column(String(200))
    order_status: Mapped[str] = mapped_column(String(30), default="pending_production")
    milestone: Mapped[str | None] = mapped_column(String(30))
    due_date: Mapped[datetime | None]
    done_date: Mapped[datetime | None]
    # The whole plan: {milestone: {planned_at, done_at}}; milestone/due_date/done_date show the current one.
    milestones: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    confirmed_at: Mapped[datetime | None]  # OF-1: when the customer was sent the order number and key facts
    owner: Mapped[str | None] = mapped_column(String(100))
    exception: Mapped[str | None] = mapped_column(Text)
    satisfaction: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class OrderEvent(Base):
    """What another system told us about an order (POST /api/v1/orders/{order_no}/events), kept as received."""

    __tablename__ = "order_events"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(200), unique=True)  # the sender's id: a resend is a no-op
    order_no: Mapped[str] = mapped_column(String(60), index=True)
    case_number: Mapped[str] = mapped_column(ForeignKey("cases.number"), index=True)
    type: Mapped[str] = mapped_column(String(30))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    source: Mapped[str] = mapped_column(String(100), default="api")
    received_at: Mapped[datetime] = mapped_column(server_default=func.now())
