"""The migrations build exactly the schema the models declare, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text

from portico.db import migrate
from portico.db.models import Base


def test_upgrade_from_empty_matches_models_and_downgrades(database_url: str) -> None:
    migrate.upgrade(database_url)
    engine = create_engine(database_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    migrate.downgrade(database_url, "base")
    migrate.upgrade(database_url)
    engine.dispose()


def test_postgresql_leaves_room_for_in_place_updates_on_heartbeat_written_tables(
    postgres_url: str,
) -> None:
    migrate.upgrade(postgres_url)
    engine = create_engine(postgres_url)
    with engine.connect() as conn:
        options = dict(
            conn.execute(
                text("SELECT relname, reloptions FROM pg_class WHERE relname = ANY(:names)"),
                {"names": ["member", "pool", "load_balancer", "amphora_health", "amphora"]},
            ).all()
        )
    engine.dispose()
    for table in ("member", "pool", "load_balancer", "amphora_health"):
        assert options[table] == ["fillfactor=70"], table
    assert options["amphora"] is None  # written by the reconciler, not every heartbeat
