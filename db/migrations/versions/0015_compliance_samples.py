"""compliance samples (T-7): each month's draw of 10% of the service records, and the review verdicts

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "compliance_draws",
        sa.Column("month", sa.String(length=7), primary_key=True),
        sa.Column("drawn_at", TZ, nullable=False),
        sa.Column("drawn_by", sa.String(length=100), nullable=False),
        sa.Column("population", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
    )
    op.create_table(
        "compliance_samples",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("month", sa.String(length=7), sa.ForeignKey("compliance_draws.month"), nullable=False),
        sa.Column("case_number", sa.String(length=40), sa.ForeignKey("cases.number"), nullable=False),
        sa.Column("drawn_at", TZ, nullable=False),
        sa.Column("reviewer", sa.String(length=100), nullable=True),
        sa.Column("reviewed_at", TZ, nullable=True),
        sa.Column("verdict", sa.String(length=10), nullable=True),
        sa.Column("finding", sa.Text(), nullable=True),
        sa.UniqueConstraint("month", "case_number"),
        sa.CheckConstraint(
            "verdict IS NULL OR verdict IN ('ok', 'issue')", name="ck_compliance_samples_verdict"
        ),
    )
    op.create_index("ix_compliance_samples_month", "compliance_samples", ["month"])


def downgrade() -> None:
    op.drop_table("compliance_samples")
    op.drop_table("compliance_draws")
