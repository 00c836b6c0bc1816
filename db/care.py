"""Care tasks and customer journeys (R-1..R-4, R-7): each task's record, and where each journey stands."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from db.models import Base


class CareRecord(Base):
    """关怀任务记录: the record of one care task (a ``care`` case), kept like the seed's chapter-3 tables."""

    __tablename__ = "care_records"
    case_number: Mapped[str] = mapped_column(ForeignKey("cases.number"), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))  # domain.care.CareKind (the step)
    occasion: Mapped[str] = mapped_column(String(40))  # domain.care.Occasion
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    due_at: Mapped[datetime | None]  # a deadline the raiser set (else the policy's target applies)
    owner: Mapped[str | None] = mapped_column(String(100))
    attempts: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    result: Mapped[str | None] = mapped_column(String(20))  # domain.care.CareResult
    result_note: Mapped[str | None] = mapped_column(Text)
    done_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class CustomerJourney(Base):
    """Where a customer's journey (workflow ``journey-{customer_id}``) stands, for the customer page."""

    __tablename__ = "customer_journeys"
    customer_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    first_purchase_at: Mapped[datetime | None]
    last_purchase_at: Mapped[datetime | None]
    welcomed_at: Mapped[datetime | None]
    purchases: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    interactions: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_interaction_at: Mapped[datetime | None]
    next_occasion: Mapped[str | None] = mapped_column(String(40))
    next_at: Mapped[datetime | None]
    runs: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())
