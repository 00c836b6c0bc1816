"""sla engine: policies as data, calendars, message templates, staff, delivery status

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 18:50:15.890082
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calendars",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=60), nullable=False),
        sa.Column("week", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("makeup_hours", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("public_holidays", sa.String(length=10), nullable=True),
        sa.Column("confirmed_years", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "message_templates",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("tier", sa.String(length=10), nullable=False),
        sa.Column("locale", sa.String(length=10), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("purpose", "channel", "tier", "locale"),
    )
    op.create_table(
        "sla_policy_versions",
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("published_by", sa.String(length=100), nullable=False),
        sa.Column(
            "published_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("digest", sa.String(length=20), nullable=False),
        sa.Column("rule_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("version"),
    )
    op.create_table(
        "staff",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=40), nullable=False),
        sa.Column("department", sa.String(length=40), nullable=True),
        sa.Column("email", sa.String(length=200), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("locale", sa.String(length=10), server_default="zh-CN", nullable=False),
        sa.Column("active", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    op.create_index(op.f("ix_staff_role"), "staff", ["role"], unique=False)
    op.create_table(
        "calendar_days",
        sa.Column("calendar", sa.String(length=40), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["calendar"], ["calendars.name"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("calendar", "day"),
    )
    op.create_table(
        "sla_rules",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("process", sa.String(length=20), nullable=False),
        sa.Column("step", sa.String(length=40), nullable=False),
        sa.Column("severity", sa.String(length=20), nullable=False),
        sa.Column("tier", sa.String(length=10), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("variant", sa.String(length=40), nullable=False),
        sa.Column("metric", sa.String(length=20), nullable=False),
        sa.Column("owner_role", sa.String(length=40), nullable=False),
        sa.Column("target_seconds", sa.Integer(), nullable=True),
        sa.Column("off_hours_target_seconds", sa.Integer(), nullable=True),
        sa.Column("warn_at", sa.Double(), nullable=False),
        sa.Column("calendar", sa.String(length=40), nullable=True),
        sa.Column("chain", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version"],
            ["sla_policy_versions.version"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "version", "kind", "process", "step", "metric", "severity", "tier", "channel", "variant"
        ),
    )
    op.create_index(op.f("ix_sla_rules_version"), "sla_rules", ["version"], unique=False)
    op.add_column(
        "case_events",
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("clock_timestamp()"),
            nullable=False,
        ),
    )
    op.add_column(
        "notifications", sa.Column("status", sa.String(length=20), server_default="sent", nullable=False)
    )
    op.add_column("notifications", sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("notifications", sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
    op.add_column("notifications", sa.Column("error", sa.Text(), nullable=True))
    op.add_column(
        "notifications", sa.Column("locale", sa.String(length=10), server_default="zh-CN", nullable=False)
    )
    op.create_index(op.f("ix_notifications_status"), "notifications", ["status"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_notifications_status"), table_name="notifications")
    op.drop_column("notifications", "locale")
    op.drop_column("notifications", "error")
    op.drop_column("notifications", "attempts")
    op.drop_column("notifications", "sent_at")
    op.drop_column("notifications", "status")
    op.drop_column("case_events", "recorded_at")
    op.drop_index(op.f("ix_sla_rules_version"), table_name="sla_rules")
    op.drop_table("sla_rules")
    op.drop_table("calendar_days")
    op.drop_index(op.f("ix_staff_role"), table_name="staff")
    op.drop_table("staff")
    op.drop_table("sla_policy_versions")
    op.drop_table("message_templates")
    op.drop_table("calendars")
