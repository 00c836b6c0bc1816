"""The per-customer touch ledger (R-6, R-5): every marketing or relationship touch a customer gets — a value-added
push, a planned message or callback (R-1), a journey touch, a reactivation survey — with the response it drew,
and the admin-editable cap on how many a customer gets a month.

Service messages (case notices, order updates, the survey of a closed case) are not touches: they never enter
the ledger and are never capped.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Identity, Index, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from db.models import Base


class CustomerTouch(Base):
    __tablename__ = "customer_touches"
    __table_args__ = (
        # The cap counts a customer's touches of one month; the effect report reads a month's touches.
        Index("ix_customer_touches_customer_at", "customer_id", "at"),
        Index("ix_customer_touches_at", "at"),
    )
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # Idempotency: a retried reservation finds its row (push:VP-…:42, plan:2026-12:vip_callback:42, …).
    key: Mapped[str] = mapped_column(String(200), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    # push | greeting | news | case_study | benefit | callback | survey | (journey kinds)
    kind: Mapped[str] = mapped_column(String(20))
    # What made it: the campaign (VP-…), the month's plan (plan:2026-12), a journey (journey), …
    source: Mapped[str] = mapped_column(String(60), index=True)
    plan: Mapped[str | None] = mapped_column(String(40))  # the interaction-plan entry, if any
    topic: Mapped[str | None] = mapped_column(String(200))  # a greeting's holiday, a push's service
    tier: Mapped[str] = mapped_column(String(10))  # the customer's tier when touched (R-5 per tier)
    at: Mapped[datetime]  # when the touch happens (a greeting: its holiday); counts in that month
    done_at: Mapped[datetime | None]  # message handed to the notifier / callback task opened
    token: Mapped[str | None] = mapped_column(String(100), unique=True)  # tracked links of a plan message
    link: Mapped[str | None] = mapped_column(String(500))  # where the tracked click goes
    responded_at: Mapped[datetime | None]  # the first response
    response: Mapped[str | None] = mapped_column(String(20))  # opened | clicked | replied | converted
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class TouchPolicy(Base):
    """R-6: the frequency cap, edited by admins (one row)."""

    __tablename__ = "touch_policy"
    __table_args__ = (
        CheckConstraint("id = 1", name="ck_touch_policy_single_row"),
        CheckConstraint("max_per_month >= 1", name="ck_touch_policy_cap"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, default=1)
    max_per_month: Mapped[int] = mapped_column(Integer)
    updated_by: Mapped[str] = mapped_column(String(100), default="system", server_default="system")
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())
