"""Transactions (C-7) and tiering (T-1, T-2): the orders that feed the scores, the scoring model per
industry, and each customer's latest computed score.

``customer_scores`` holds what the scoring pass suggests; the tier everyone works with stays in
``customers.tier`` until an account manager and a sales supervisor approve a change (T-3).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    String,
    func,
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
