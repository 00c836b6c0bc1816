"""complaint: scope, related case, suggested grade and its reason, departments, result on complaint records

Revision ID: 0006
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None

_COLUMNS = [
    sa.Column("scope", sa.String(length=20), nullable=True),
    sa.Column("related_case", sa.String(length=40), nullable=True),
    sa.Column("suggested_grade", sa.String(length=20), nullable=True),
    sa.Column("grade_reason", sa.Text(), nullable=True),
    sa.Column("departments", postgresql.JSONB(), server_default="[]", nullable=False),
    sa.Column("result", sa.Text(), nullable=True),
]


def upgrade() -> None:
    for column in _COLUMNS:
        op.add_column("complaint_records", column)


def downgrade() -> None:
    for column in reversed(_COLUMNS):
        op.drop_column("complaint_records", column.name)
