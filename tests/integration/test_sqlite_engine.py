"""Every SQLite connection portico opens has the settings it relies on."""

from __future__ import annotations

from pathlib import Path

from portico.db.engine import make_engine


def test_sqlite_connections_use_wal_foreign_keys_and_a_large_page_cache(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'p.sqlite3'}")
    try:
        with engine.connect() as connection:
            pragma = connection.exec_driver_sql
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA foreign_keys").scalar() == 1
            assert pragma("PRAGMA busy_timeout").scalar() == 30000
            # Negative: KiB. The health service's pages at 10,000 amphorae fit.
            assert pragma("PRAGMA cache_size").scalar() == -65536
    finally:
        engine.dispose()
