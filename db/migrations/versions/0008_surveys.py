"""surveys: a score on its kind's scale

The database keeps each score on its kind's scale (csat 1–5, nps 0–10), whoever writes it.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


SCORE_IN_SCALE = (
    "score IS NULL OR (kind = 'csat' AND score BETWEEN 1 AND 5) OR (kind = 'nps' AND score BETWEEN 0 AND 10)"
)


def upgrade() -> None:
    op.create_check_constraint("ck_surveys_score_in_scale", "surveys", SCORE_IN_SCALE)


def downgrade() -> None:
    op.drop_constraint("ck_surveys_score_in_scale", "surveys", type_="check")
