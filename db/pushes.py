"""Value-added push (SPEC VP-1..VP-3, §7 增值服务推送记录表): a campaign's record and each customer's delivery."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Identity, Integer, Numeric, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from db.models import Base


class PushRecord(Base):
    """003 §3.5: tag, service pushed, channel, time, count, open rate, click rate, inquiries, conversions,
    owner, improvement note."""

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
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class PushDelivery(Base):
    """One customer's copy of a push, with its tracked open, click, inquiry and conversion."""

    __tablename__ = "push_deliveries"
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
