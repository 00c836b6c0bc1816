"""After-sales issue (SPEC AS-1..AS-5, §7 售后问题处理表)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from db.models import Base


class AftersalesRecord(Base):
    """003 §3.3: issue no., customer, contact, description, type, urgency, owner, remedy, solved at,
    customer confirmation, satisfaction (1–5)."""

    __tablename__ = "aftersales_records"
    case_number: Mapped[str] = mapped_column(ForeignKey("cases.number"), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    contact: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(Text)
    occurred_at: Mapped[datetime | None]
    environment: Mapped[str | None] = mapped_column(Text)
    issue_type: Mapped[str] = mapped_column(String(20))  # fault | how_to | improvement
    category: Mapped[str] = mapped_column(
        String(20)
    )  # 000 §(三): consultation | fault | complaint | suggestion
    urgency: Mapped[str] = mapped_column(String(20))  # urgent | routine
    owner: Mapped[str | None] = mapped_column(String(100))
    remedy: Mapped[str | None] = mapped_column(Text)
    solved_at: Mapped[datetime | None]
    customer_confirmed: Mapped[bool | None] = mapped_column(Boolean)
    satisfaction: Mapped[int | None] = mapped_column(Integer)
    handlings: Mapped[int] = mapped_column(Integer, default=1)  # 2+: reopened for second handling (AS-4)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())
