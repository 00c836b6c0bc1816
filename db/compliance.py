"""Compliance sampling (T-7): each month's draw and the service records it picked for review."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Identity,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from db.models import Base


class ComplianceDraw(Base):
    """A month's draw: its primary key makes drawing a month happen once, whoever asks and however often."""

    __tablename__ = "compliance_draws"
    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # YYYY-MM, local
    drawn_at: Mapped[datetime]
    drawn_by: Mapped[str] = mapped_column(String(100))  # "schedule" or the staff member
    population: Mapped[int] = mapped_column(Integer)  # service records closed in the month
    size: Mapped[int] = mapped_column(Integer)  # drawn: 10% rounded up


class ComplianceSample(Base):
    """One drawn service record and the reviewer's verdict on it (ok, or issue with a finding)."""

    __tablename__ = "compliance_samples"
    __table_args__ = (
        UniqueConstraint("month", "case_number"),
        CheckConstraint(
            "verdict IS NULL OR verdict IN ('ok', 'issue')", name="ck_compliance_samples_verdict"
        ),
    )
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    month: Mapped[str] = mapped_column(ForeignKey("compliance_draws.month"), index=True)
    case_number: Mapped[str] = mapped_column(ForeignKey("cases.number"))
    drawn_at: Mapped[datetime]
    reviewer: Mapped[str | None] = mapped_column(String(100))
    reviewed_at: Mapped[datetime | None]
    verdict: Mapped[str | None] = mapped_column(String(10))
    finding: Mapped[str | None] = mapped_column(Text)
