"""Transactions (C-7) and tiering (T-1, T-2): the orders that feed the scores, the scoring model per
industry, and each customer's latest computed score.

``customer_scores`` holds what the scoring pass suggests; the tier everyone works with stays in
``customers.tier`` until an account manager and a sales supervisor approve a change (T-3).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from db.models import Base


class Transaction(Base):
    """An order of a customer with its amount and date, from any source system; a resent order is one row."""

    __tablename__ = "transactions"
    __table_args__ = (
        # Covering: the scoring pass reads a customer's orders in date order from the index alone.
        Index("ix_transactions_customer_at", "customer_id", "occurred_at", postgresql_include=["amount"]),
        CheckConstraint("amount >= 0", name="ck_transactions_amount"),
    )
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    occurred_at: Mapped[datetime]
    # The order's id in its source system: the idempotency key of an import or sync.
    external_id: Mapped[str] = mapped_column(String(100), unique=True)
    source: Mapped[str] = mapped_column(String(40))  # erp | ecommerce | order_followup | import | manual
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class TierModel(Base):
    """The scoring model and weights (percent, summing to 100) of one industry; ``*`` is the default."""

    __tablename__ = "tier_models"
    industry: Mapped[str] = mapped_column(String(100), primary_key=True)
    model: Mapped[str] = mapped_column(String(10))  # rfm | vpl (domain.tiering.ScoringModel)
    weights: Mapped[dict[str, Any]]
    updated_by: Mapped[str] = mapped_column(String(100), default="system")
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class CustomerScore(Base):
    """The latest computed score of a customer, its suggested tier and the metrics it came from."""

    __tablename__ = "customer_scores"
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True)
    model: Mapped[str] = mapped_column(String(10))
    score: Mapped[float] = mapped_column(Double)
    tier: Mapped[str] = mapped_column(String(10), index=True)  # suggested; customers.tier is the approved one
    recency_days: Mapped[int | None] = mapped_column(Integer)  # None: no order yet
    frequency: Mapped[int] = mapped_column(Integer)
    monetary: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    repurchase_rate: Mapped[float] = mapped_column(Double)
    previous_orders: Mapped[int] = mapped_column(Integer)
    new_needs: Mapped[int] = mapped_column(Integer)
    referrals: Mapped[int] = mapped_column(Integer)
    complaints: Mapped[int] = mapped_column(Integer)
    potential: Mapped[str | None] = mapped_column(String(10))
    as_of: Mapped[datetime]
    computed_at: Mapped[datetime] = mapped_column(server_default=func.now())


class TierReview(Base):
    """A proposed tier change awaiting (or past) the sales supervisor's decision (T-3).

    Opened by a re-evaluation (T-4) when the computed tier differs from ``customers.tier``, or by an
    account manager. At most one pending review per customer. Only approval changes ``customers.tier``.
    """

    __tablename__ = "tier_reviews"
    __table_args__ = (
        Index(
            "uq_tier_reviews_pending", "customer_id", unique=True, postgresql_where=text("status = 'pending'")
        ),
        Index("ix_tier_reviews_status_created", "status", "created_at"),
        CheckConstraint("status IN ('pending', 'approved', 'rejected')", name="ck_tier_reviews_status"),
        CheckConstraint("cause IN ('scheduled', 'spend_drop', 'manual')", name="ck_tier_reviews_cause"),
    )
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    computed_score: Mapped[float | None] = mapped_column(Double)  # None: never scored (a manual proposal)
    computed_tier: Mapped[str | None] = mapped_column(String(10))
    current_tier: Mapped[str] = mapped_column(String(10))  # customers.tier when the review opened
    proposed_tier: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str | None] = mapped_column(Text)  # the account manager's; None for a computed proposal
    cause: Mapped[str] = mapped_column(String(12))  # scheduled | spend_drop | manual
    proposed_by: Mapped[str] = mapped_column(String(100))  # "system" or the account manager
    status: Mapped[str] = mapped_column(String(10), default="pending")
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[datetime | None]
    decision_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class TierChange(Base):
    """An approved change of ``customers.tier``, before and after (T-4: upgrades and downgrades recorded)."""

    __tablename__ = "tier_changes"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    before: Mapped[str] = mapped_column(String(10))
    after: Mapped[str] = mapped_column(String(10))
    review_id: Mapped[int] = mapped_column(ForeignKey("tier_reviews.id", ondelete="CASCADE"), unique=True)
    changed_by: Mapped[str] = mapped_column(String(100))
    changed_at: Mapped[datetime] = mapped_column(server_default=func.now())


class TierSpendDrop(Base):
    """A customer found with a two-month spend drop (T-4, ``domain.tiering.is_spend_drop``); one row per
    customer and month keeps the check idempotent and remembers whether the journey was told."""

    __tablename__ = "tier_spend_drops"
    __table_args__ = (Index("ix_tier_spend_drops_month", "month"),)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True)
    month: Mapped[date] = mapped_column(Date, primary_key=True)  # the later of the two dropped months
    baseline: Mapped[Decimal] = mapped_column(Numeric(14, 2))  # average monthly spend of the six before
    earlier: Mapped[Decimal] = mapped_column(Numeric(14, 2))  # spend in the month before ``month``
    later: Mapped[Decimal] = mapped_column(Numeric(14, 2))  # spend in ``month``
    found_at: Mapped[datetime] = mapped_column(server_default=func.now())
    signalled_at: Mapped[datetime | None]  # when the customer's journey got ``spend_dropped``
