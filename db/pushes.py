"""Value-added push (SPEC VP-1..VP-3, R-6, §7 增值服务推送记录表): the tag → service table, a campaign's record
and each customer's delivery."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from db.models import Base


class PushService(Base):
    """VP-2: which service each tag gets (高活跃度 → 新功能教程 ...); the schedules push the active rows."""

    __tablename__ = "push_services"
    __table_args__ = (UniqueConstraint("push_type", "tag"),)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    push_type: Mapped[str] = mapped_column(String(20))  # monthly | birthday | renewal
    tag: Mapped[str] = mapped_column(String(60))
    service: Mapped[str] = mapped_column(String(200))
    link: Mapped[str] = mapped_column(String(500))
    tiers: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    channel: Mapped[str | None] = mapped_column(String(20))
    owner: Mapped[str | None] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    updated_by: Mapped[str] = mapped_column(String(100), default="system", server_default="system")
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class PushRecord(Base):
    """003 §3.5: tag, service pushed, channel, time, count, open rate, click rate, inquiries, conversions,
    owner, improvement note; then what the campaign needs beside them."""

    __tablename__ = "push_records"
    case_number: Mapped[str] = mapped_column(ForeignKey("cases.number"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(60))
    service: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str | None] = mapped_column(String(20))  # None: each customer's preferred channel
    pushed_at: Mapped[datetime | None]
    count: Mapped[int] = mapped_column(Integer, default=0)
    open_rate: Mapped[float | None] = mapped_column(Numeric(5, 4))
    click_rate: Mapped[float | None] = mapped_column(Numeric(5, 4))
    inquiries: Mapped[int] = mapped_column(Integer, default=0)
    conversions: Mapped[int] = mapped_column(Integer, default=0)
    owner: Mapped[str | None] = mapped_column(String(100))
    improvement_note: Mapped[str | None] = mapped_column(Text)
    push_type: Mapped[str] = mapped_column(String(20), default="monthly", server_default="monthly")
    link: Mapped[str | None] = mapped_column(String(500))
    tiers: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    capped: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # skipped customers
    window_ends_at: Mapped[datetime | None]  # VP-3: the 3-day effect window closes
    respondents: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    response_rate: Mapped[float | None] = mapped_column(Numeric(5, 4))
    metrics_at: Mapped[datetime | None]  # set: the figures above are final
    decision: Mapped[str | None] = mapped_column(String(20))  # keep | revise | replace
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class PushDelivery(Base):
    """One customer's copy of a push, with its tracked open, click, inquiry and conversion."""

    __tablename__ = "push_deliveries"
    __table_args__ = (
        UniqueConstraint("case_number", "customer_id"),
        # a customer gets one monthly push a month, one birthday push a year, one renewal push per
        # contract end.
        Index("ix_push_deliveries_cap", "customer_id", "cap_key", unique=True),
        Index("ix_push_deliveries_recent", "customer_id", "push_type", "sent_at"),
    )
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    case_number: Mapped[str] = mapped_column(ForeignKey("cases.number"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    token: Mapped[str] = mapped_column(String(100), unique=True)
    sent_at: Mapped[datetime]
    opened_at: Mapped[datetime | None]
    clicked_at: Mapped[datetime | None]
    inquired_at: Mapped[datetime | None]
    converted_at: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(Text)
    push_type: Mapped[str] = mapped_column(String(20), default="monthly", server_default="monthly")
    # monthly:2026-11 | birthday:2026 | renewal:2026-12-05
    cap_key: Mapped[str | None] = mapped_column(String(60))
