"""case library: edit time and editor, an index on the category

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "case_library",
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )
    op.add_column("case_library", sa.Column("updated_by", sa.String(length=100), nullable=True))
    op.create_index("ix_case_library_category", "case_library", ["category"])


def downgrade() -> None:
    op.drop_index("ix_case_library_category", table_name="case_library")
    op.drop_column("case_library", "updated_by")
    op.drop_column("case_library", "updated_at")
