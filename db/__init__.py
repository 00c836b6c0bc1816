"""The system of record: SQLAlchemy 2 models, engine and Alembic migrations."""
