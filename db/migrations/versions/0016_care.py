"""care tasks and customer journeys: care_records, customer_journeys

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "care_records",
        sa.Column("case_number", sa.String(length=40), sa.ForeignKey("cases.number"), primary_key=True),
        sa.Column("customer_id", sa.BigInteger(), sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("occasion", sa.String(length=40), nullable=False),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.Column("due_at", TZ, nullable=True),
        sa.Column("owner", sa.String(length=100), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="1", nullable=False),
        sa.Column("result", sa.String(length=20), nullable=True),
        sa.Column("result_note", sa.Text(), nullable=True),
        sa.Column("done_at", TZ, nullable=True),
        sa.Column("updated_at", TZ, server_default=sa.text("now()"), nullable=False),
    )
    op.create_index("ix_care_records_customer_id", "care_records", ["customer_id"])
    op.create_table(
        "customer_journeys",
        sa.Column(
            "customer_id",
            sa.BigInteger(),
            sa.ForeignKey("customers.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("first_purchase_at", TZ, nullable=True),
        sa.Column("last_purchase_at", TZ, nullable=True),
        sa.Column("welcomed_at", TZ, nullable=True),
        sa.Column("purchases", sa.Integer(), server_default="0", nullable=False),
        sa.Column("interactions", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_interaction_at", TZ, nullable=True),
        sa.Column("next_occasion", sa.String(length=40), nullable=True),
        sa.Column("next_at", TZ, nullable=True),
        sa.Column("runs", sa.Integer(), server_default="1", nullable=False),
        sa.Column("updated_at", TZ, server_default=sa.text("now()"), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("customer_journeys")
    op.drop_index("ix_care_records_customer_id", table_name="care_records")
    op.drop_table("care_records")
