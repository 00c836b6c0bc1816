"""tiering: transactions (C-7), tier models per industry, computed customer scores (T-1, T-2)

The default model row ('*') is seeded with 002 表2's weights; admins edit it or add rows per industry.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)
NOW = sa.text("now()")
# As they were when this migration was written (domain.tiering.DEFAULT_WEIGHTS may change later).
DEFAULT_WEIGHTS = {"recency": 20, "frequency": 15, "monetary": 35, "potential": 15, "loyalty": 15}


def upgrade() -> None:
    op.add_column("customers", sa.Column("potential", sa.String(length=10), nullable=True))
    op.add_column("customers", sa.Column("referred_by", sa.BigInteger(), nullable=True))
    op.create_foreign_key(
        "customers_referred_by_fkey", "customers", "customers", ["referred_by"], ["id"], ondelete="SET NULL"
    )
    op.create_index("ix_customers_referred_by", "customers", ["referred_by"])

    op.create_table(
        "transactions",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("customer_id", sa.BigInteger(), sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("amount", sa.Numeric(14, 2), nullable=False),
        sa.Column("occurred_at", TZ, nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=False, unique=True),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("created_at", TZ, server_default=NOW, nullable=False),
        sa.CheckConstraint("amount >= 0", name="ck_transactions_amount"),
    )
    op.create_index(
        "ix_transactions_customer_at",
        "transactions",
        ["customer_id", "occurred_at"],
        postgresql_include=["amount"],
    )

    tier_models = op.create_table(
        "tier_models",
        sa.Column("industry", sa.String(length=100), primary_key=True),
        sa.Column("model", sa.String(length=10), nullable=False),
        sa.Column("weights", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", TZ, server_default=NOW, nullable=False),
    )
    op.bulk_insert(
        tier_models, [{"industry": "*", "model": "rfm", "weights": DEFAULT_WEIGHTS, "updated_by": "system"}]
    )

    op.create_table(
        "customer_scores",
        sa.Column(
            "customer_id",
            sa.BigInteger(),
            sa.ForeignKey("customers.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("model", sa.String(length=10), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("tier", sa.String(length=10), nullable=False),
        sa.Column("recency_days", sa.Integer(), nullable=True),
        sa.Column("frequency", sa.Integer(), nullable=False),
        sa.Column("monetary", sa.Numeric(14, 2), nullable=False),
        sa.Column("repurchase_rate", sa.Double(), nullable=False),
        sa.Column("previous_orders", sa.Integer(), nullable=False),
        sa.Column("new_needs", sa.Integer(), nullable=False),
        sa.Column("referrals", sa.Integer(), nullable=False),
        sa.Column("complaints", sa.Integer(), nullable=False),
        sa.Column("potential", sa.String(length=10), nullable=True),
        sa.Column("as_of", TZ, nullable=False),
        sa.Column("computed_at", TZ, server_default=NOW, nullable=False),
    )
    op.create_index("ix_customer_scores_tier", "customer_scores", ["tier"])


def downgrade() -> None:
    op.drop_table("customer_scores")
    op.drop_table("tier_models")
    op.drop_table("transactions")
    op.drop_index("ix_customers_referred_by", table_name="customers")
    op.drop_constraint("customers_referred_by_fkey", "customers", type_="foreignkey")
    op.drop_column("customers", "referred_by")
    op.drop_column("customers", "potential")
