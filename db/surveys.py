"""Satisfaction surveys (SAT-1, SAT-2) and the improvement tasks a low score opens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Identity, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from db.models import Base

# The scales of domain.surveys.SCALE, also kept by the database (migration 0008).
SCORE_IN_SCALE = (
    "score IS NULL OR (kind = 'csat' AND score BETWEEN 1 AND 5) OR (kind = 'nps' AND score BETWEEN 0 AND 10)"
)


class Survey(Base):
    """One survey sent to one customer: after a case (csat, 1–5) or a periodic NPS (0–10) / CSAT round.

    The customer answers on a signed link without logging in; the link expires and works once. Staff may
    record the answer from a phone callback instead (``answered_via = "callback"``).
    """

    __tablename__ = "surveys"
    __table_args__ = (CheckConstraint(SCORE_IN_SCALE, name="ck_surveys_score_in_scale"),)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # Attempt-independent key: a retried activity issues the survey once.
    key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(10))  # csat | nps
    case_number: Mapped[str | None] = mapped_column(ForeignKey("cases.number"), index=True)
    process: Mapped[str | None] = mapped_column(String(20), index=True)
    step: Mapped[str | None] = mapped_column(String(40))
    round: Mapped[str | None] = mapped_column(String(40), index=True)  # periodic surveys: e.g. "nps-2026Q4"
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    issued_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    score: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    answered_via: Mapped[str | None] = mapped_column(String(20))  # link | callback
    answered_by: Mapped[str | None] = mapped_column(String(100))  # the staff member for a callback


class ImprovementTask(Base):
    """SAT-1 (003 §4.4): a case answered below 4 of 5 opens a task for the supervisor to act on."""

    __tablename__ = "improvement_tasks"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id"), unique=True)
    case_number: Mapped[str | None] = mapped_column(ForeignKey("cases.number"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    owner_role: Mapped[str] = mapped_column(String(40), default="supervisor")
    owner: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)  # open | done
    due_at: Mapped[datetime]
    resolution: Mapped[str | None] = mapped_column(Text)
    done_at: Mapped[datetime | None]
    done_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
