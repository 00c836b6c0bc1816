"""customer profile: the rest of C-1, external ids (C-2), review and merge (C-3), lifecycle (C-5), SEC-3 hashes

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    add = lambda column: op.add_column("customers", column)
    add(sa.Column("scale", sa.String(length=40), nullable=True))
    add(sa.Column("needs", postgresql.JSONB(), server_default="{}", nullable=False))
    add(sa.Column("first_contact", sa.String(length=20), nullable=True))
    add(sa.Column("expected_response_hours", sa.Integer(), nullable=True))
    add(sa.Column("anniversary", sa.Date(), nullable=True))
    add(sa.Column("owner", sa.String(length=100), nullable=True))
    add(sa.Column("notes", sa.Text(), server_default="", nullable=False))
    add(sa.Column("source", sa.String(length=40), nullable=True))
    add(sa.Column("external_id", sa.String(length=100), nullable=True))
    add(sa.Column("verified_at", TZ, nullable=True))
    add(sa.Column("verified_by", sa.String(length=100), nullable=True))
    add(sa.Column("merged_into", sa.BigInteger(), nullable=True))
    add(sa.Column("lifecycle", sa.String(length=10), server_default="active", nullable=False))
    add(sa.Column("last_interaction_at", TZ, nullable=True))
    add(sa.Column("id_card_hash", sa.String(length=64), nullable=True))
    add(sa.Column("id_card_last4", sa.String(length=4), nullable=True))
    add(sa.Column("bank_card_hash", sa.String(length=64), nullable=True))
    add(sa.Column("bank_card_last4", sa.String(length=4), nullable=True))
    op.create_foreign_key(
        "customers_merged_into_fkey", "customers", "customers", ["merged_into"], ["id"], ondelete="SET NULL"
    )
    op.create_unique_constraint("customers_source_external_id_key", "customers", ["source", "external_id"])
    op.create_index("ix_customers_owner", "customers", ["owner"])
    op.create_index("ix_customers_merged_into", "customers", ["merged_into"])
    op.create_index("ix_customers_id_card_hash", "customers", ["id_card_hash"])
    # Records on file before review existed were entered by staff or by a case's intake: count them verified.
    op.execute("UPDATE customers SET verified_at = created_at, verified_by = 'migration 0011'")


def downgrade() -> None:
    op.drop_index("ix_customers_id_card_hash", table_name="customers")
    op.drop_index("ix_customers_merged_into", table_name="customers")
    op.drop_index("ix_customers_owner", table_name="customers")
    op.drop_constraint("customers_source_external_id_key", "customers", type_="unique")
    op.drop_constraint("customers_merged_into_fkey", "customers", type_="foreignkey")
    for name in (
        "bank_card_last4",
        "bank_card_hash",
        "id_card_last4",
        "id_card_hash",
        "last_interaction_at",
        "lifecycle",
        "merged_into",
        "verified_by",
        "verified_at",
        "external_id",
        "source",
        "notes",
        "owner",
        "anniversary",
        "expected_response_hours",
        "first_contact",
        "needs",
        "scale",
    ):
        op.drop_column("customers", name)
