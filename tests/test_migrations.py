"""The migrations build exactly the schema the models describe: a model change without its migration fails."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from config import to_psycopg_url
from db.records import Base


def test_migrated_schema_matches_the_models(database_url: str) -> None:
    engine = create_engine(to_psycopg_url(database_url))
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()
