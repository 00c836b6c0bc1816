"""order follow-up: channel, contact, the milestone plan and the confirmation time on order records

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("order_records", sa.Column("channel", sa.String(length=20), nullable=True))
    op.add_column("order_records", sa.Column("contact", sa.String(length=200), nullable=True))
    op.add_column(
        "order_records",
        sa.Column(
            "milestones",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
    )
    op.add_column("order_records", sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("order_records", "confirmed_at")
    op.drop_column("order_records", "milestones")
    op.drop_column("order_records", "contact")
    op.drop_column("order_records", "channel")
