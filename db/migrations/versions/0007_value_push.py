"""value_push: the tag → service table (seeded with VP-2's three), the campaign and delivery columns of VP-3
and R-6

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)
JSON_LIST = postgresql.JSONB(astext_type=sa.Text())

# VP-2 · 003 §2.5.2 步骤2, plus one service for each extra occasion. Admins edit them on /pushes/services.
SEED = [
    ("monthly", "high_activity", "新功能教程", "https://careflow.example.com/services/feature-tutorials"),
    ("monthly", "upgrade_need", "套餐优惠", "https://careflow.example.com/services/bundle-offers"),
    ("monthly", "after_sales_care", "免费检测服务", "https://careflow.example.com/services/free-checkup"),
    ("birthday", "birthday", "生日专属礼遇", "https://careflow.example.com/services/birthday"),
    ("renewal", "renewal", "续约专属优惠", "https://careflow.example.com/services/renewal"),
]


def upgrade() -> None:
    services = op.create_table(
        "push_services",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("push_type", sa.String(length=20), nullable=False),
        sa.Column("tag", sa.String(length=60), nullable=False),
        sa.Column("service", sa.String(length=200), nullable=False),
        sa.Column("link", sa.String(length=500), nullable=False),
        sa.Column("tiers", JSON_LIST, server_default="[]", nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=True),
        sa.Column("owner", sa.String(length=100), nullable=True),
        sa.Column("active", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("updated_by", sa.String(length=100), server_default="system", nullable=False),
        sa.Column("updated_at", TZ, server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("push_type", "tag"),
    )
    op.bulk_insert(
        services,
        [{"push_type": k, "tag": t, "service": s, "link": link} for k, t, s, link in SEED],
    )
    op.add_column(
        "push_records", sa.Column("push_type", sa.String(length=20), server_default="monthly", nullable=False)
    )
    op.add_column("push_records", sa.Column("link", sa.String(length=500), nullable=True))
    op.add_column("push_records", sa.Column("tiers", JSON_LIST, server_default="[]", nullable=False))
    op.add_column("push_records", sa.Column("capped", sa.Integer(), server_default="0", nullable=False))
    op.add_column("push_records", sa.Column("window_ends_at", TZ, nullable=True))
    op.add_column("push_records", sa.Column("respondents", sa.Integer(), server_default="0", nullable=False))
    op.add_column("push_records", sa.Column("response_rate", sa.Numeric(precision=5, scale=4), nullable=True))
    op.add_column("push_records", sa.Column("metrics_at", TZ, nullable=True))
    op.add_column("push_records", sa.Column("decision", sa.String(length=20), nullable=True))
    op.add_column(
        "push_deliveries",
        sa.Column("push_type", sa.String(length=20), server_default="monthly", nullable=False),
    )
    op.add_column("push_deliveries", sa.Column("cap_key", sa.String(length=60), nullable=True))
    op.create_unique_constraint(
        "push_deliveries_case_number_customer_id_key", "push_deliveries", ["case_number", "customer_id"]
    )
    op.create_index("ix_push_deliveries_cap", "push_deliveries", ["customer_id", "cap_key"], unique=True)
    op.create_index("ix_push_deliveries_recent", "push_deliveries", ["customer_id", "push_type", "sent_at"])


def downgrade() -> None:
    op.drop_index("ix_push_deliveries_recent", table_name="push_deliveries")
    op.drop_index("ix_push_deliveries_cap", table_name="push_deliveries")
    op.drop_constraint("push_deliveries_case_number_customer_id_key", "push_deliveries", type_="unique")
    op.drop_column("push_deliveries", "cap_key")
    op.drop_column("push_deliveries", "push_type")
    for column in (
        "decision",
        "metrics_at",
        "response_rate",
        "respondents",
        "window_ends_at",
        "capped",
        "tiers",
        "link",
        "push_type",
    ):
        op.drop_column("push_records", column)
    op.drop_table("push_services")
