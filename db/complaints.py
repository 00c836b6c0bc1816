"""Complaint (SPEC CP-1..CP-4, §7 客户投诉处理跟踪表)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from db.models import Base


class ComplaintRecord(Base):
    """003 §3.4: complaint no., customer, channel, content, grade, owner, findings, remedy, executed at,
    satisfaction, callback notes; with the intake's scope and related case, and the suggested grade."""

    __tablename__ = "complaint_records"
    case_number: Mapped[str] = mapped_column(ForeignKey("cases.number"), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    contact: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(20))
    content: Mapped[str] = mapped_column(Text)
    demand: Mapped[str | None] = mapped_column(Text)
    emotion: Mapped[str | None] = mapped_column(String(20))  # calm | upset | angry, as last heard
    scope: Mapped[str | None] = mapped_column(String(20))  # single | several | wide
    related_case: Mapped[str | None] = mapped_column(String(40))
    suggested_grade: Mapped[str | None] = mapped_column(String(20))  # the scope x tier matrix (CP-2)
    grade: Mapped[str | None] = mapped_column(String(20))  # general | serious | major
    grade_reason: Mapped[str | None] = mapped_column(Text)  # why the grader overrode the suggestion
    owner: Mapped[str | None] = mapped_column(String(100))
    findings: Mapped[str | None] = mapped_column(Text)
    responsible_party: Mapped[str | None] = mapped_column(String(200))
    departments: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    remedy: Mapped[str | None] = mapped_column(Text)  # the latest plan; the accepted one once accepted
    executed_at: Mapped[datetime | None]
    result: Mapped[str | None] = mapped_column(Text)  # what the customer was told (CP-4)
    satisfaction: Mapped[int | None] = mapped_column(Integer)
    callback_notes: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())
