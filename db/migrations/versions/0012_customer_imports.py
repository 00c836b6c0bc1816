"""customer import jobs (C-2) and merges (C-3)

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "customer_imports",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("filename", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("processed", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("errors", postgresql.JSONB(), server_default="[]", nullable=False),
        sa.Column("duplicates", postgresql.JSONB(), server_default="[]", nullable=False),
        sa.Column("ignored_columns", postgresql.JSONB(), server_default="[]", nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.Column("finished_at", TZ, nullable=True),
    )
    op.create_index("ix_customer_imports_status", "customer_imports", ["status"])
    op.create_table(
        "customer_merges",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("survivor_id", sa.BigInteger(), sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("duplicate_id", sa.BigInteger(), sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("duplicate_name", sa.String(length=200), nullable=False),
        sa.Column("merged_by", sa.String(length=100), nullable=False),
        sa.Column("merged_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.Column("moved", postgresql.JSONB(), nullable=False),
        sa.Column("kept", postgresql.JSONB(), nullable=False),
        sa.Column("filled", postgresql.JSONB(), nullable=False),
        sa.UniqueConstraint("duplicate_id"),
    )
    op.create_index("ix_customer_merges_survivor_id", "customer_merges", ["survivor_id"])


def downgrade() -> None:
    op.drop_index("ix_customer_merges_survivor_id", table_name="customer_merges")
    op.drop_table("customer_merges")
    op.drop_index("ix_customer_imports_status", table_name="customer_imports")
    op.drop_table("customer_imports")
