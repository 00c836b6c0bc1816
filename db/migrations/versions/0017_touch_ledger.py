"""touch ledger: every marketing / relationship touch per customer and its response (R-5, R-6), and the
admin-editable monthly cap (seeded with 4 touches a calendar month)

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)
NOW = sa.text("now()")
# As it was when this migration was written (domain.interaction_plans.DEFAULT_CAP may change later).
DEFAULT_CAP = 4


def upgrade() -> None:
    op.create_table(
        "customer_touches",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("key", sa.String(length=200), nullable=False, unique=True),
        sa.Column("customer_id", sa.BigInteger(), sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=60), nullable=False),
        sa.Column("plan", sa.String(length=40), nullable=True),
        sa.Column("topic", sa.String(length=200), nullable=True),
        sa.Column("tier", sa.String(length=10), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("done_at", TZ, nullable=True),
        sa.Column("token", sa.String(length=100), nullable=True, unique=True),
        sa.Column("link", sa.String(length=500), nullable=True),
        sa.Column("responded_at", TZ, nullable=True),
        sa.Column("response", sa.String(length=20), nullable=True),
        sa.Column("created_at", TZ, server_default=NOW, nullable=False),
    )
    op.create_index("ix_customer_touches_customer_at", "customer_touches", ["customer_id", "at"])
    op.create_index("ix_customer_touches_at", "customer_touches", ["at"])
    op.create_index("ix_customer_touches_source", "customer_touches", ["source"])

    policy = op.create_table(
        "touch_policy",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("max_per_month", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.String(length=100), server_default="system", nullable=False),
        sa.Column("updated_at", TZ, server_default=NOW, nullable=False),
        sa.CheckConstraint("id = 1", name="ck_touch_policy_single_row"),
        sa.CheckConstraint("max_per_month >= 1", name="ck_touch_policy_cap"),
    )
    op.bulk_insert(policy, [{"id": 1, "max_per_month": DEFAULT_CAP, "updated_by": "system"}])


def downgrade() -> None:
    op.drop_table("touch_policy")
    op.drop_table("customer_touches")
