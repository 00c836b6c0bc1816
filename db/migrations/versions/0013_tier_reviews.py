"""tier reviews and changes: T-3 approval of a proposed tier, T-4 before/after history and spend drops

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)
NOW = sa.text("now()")


def _customer(**kw: object) -> sa.Column:
    return sa.Column(
        "customer_id",
        sa.BigInteger(),
        sa.ForeignKey("customers.id", ondelete="CASCADE"),
        nullable=False,
        **kw,
    )


def upgrade() -> None:
    op.create_table(
        "tier_reviews",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        _customer(),
        sa.Column("computed_score", sa.Double(), nullable=True),
        sa.Column("computed_tier", sa.String(length=10), nullable=True),
        sa.Column("current_tier", sa.String(length=10), nullable=False),
        sa.Column("proposed_tier", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("cause", sa.String(length=12), nullable=False),
        sa.Column("proposed_by", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("decided_at", TZ, nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("created_at", TZ, server_default=NOW, nullable=False),
        sa.CheckConstraint("status IN ('pending', 'approved', 'rejected')", name="ck_tier_reviews_status"),
        sa.CheckConstraint("cause IN ('scheduled', 'spend_drop', 'manual')", name="ck_tier_reviews_cause"),
    )
    op.create_index("ix_tier_reviews_customer_id", "tier_reviews", ["customer_id"])
    op.create_index("ix_tier_reviews_status_created", "tier_reviews", ["status", "created_at"])
    op.create_index(
        "uq_tier_reviews_pending",
        "tier_reviews",
        ["customer_id"],
        unique=True,
        postgresql_where=sa.text("status = 'pending'"),
    )

    op.create_table(
        "tier_changes",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        _customer(),
        sa.Column("before", sa.String(length=10), nullable=False),
        sa.Column("after", sa.String(length=10), nullable=False),
        sa.Column(
            "review_id",
            sa.BigInteger(),
            sa.ForeignKey("tier_reviews.id", ondelete="CASCADE"),
            nullable=False,
            unique=True,
        ),
        sa.Column("changed_by", sa.String(length=100), nullable=False),
        sa.Column("changed_at", TZ, server_default=NOW, nullable=False),
    )
    op.create_index("ix_tier_changes_customer_id", "tier_changes", ["customer_id"])

    op.create_table(
        "tier_spend_drops",
        _customer(primary_key=True),
        sa.Column("month", sa.Date(), primary_key=True),
        sa.Column("baseline", sa.Numeric(14, 2), nullable=False),
        sa.Column("earlier", sa.Numeric(14, 2), nullable=False),
        sa.Column("later", sa.Numeric(14, 2), nullable=False),
        sa.Column("found_at", TZ, server_default=NOW, nullable=False),
        sa.Column("signalled_at", TZ, nullable=True),
    )
    op.create_index("ix_tier_spend_drops_month", "tier_spend_drops", ["month"])


def downgrade() -> None:
    op.drop_table("tier_spend_drops")
    op.drop_table("tier_changes")
    op.drop_table("tier_reviews")
