"""Persistence: SQLAlchemy 2 models, engine and unit of work, Alembic migrations."""
