"""``db.bulk``: many-row statements run in key order, each bind processor once per value."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    TypeDecorator,
    bindparam,
    create_engine,
    event,
    insert,
    select,
    update,
)

from portico.db.bulk import Bulk


class CountedDateTime(TypeDecorator[dt.datetime]):
    """A DateTime that counts how often a value is processed for the driver."""

    impl = DateTime
    cache_ok = True
    calls = 0

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        CountedDateTime.calls += 1
        return value


metadata = MetaData()
rows_table = Table(
    "bulk_rows",
    metadata,
    Column("n", Integer, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False),
    Column("value", String(16)),
    Column("at", CountedDateTime),
)
INSERT = Bulk(
    insert(rows_table).values(id=bindparam("b_id"), value=bindparam("v"), at=bindparam("at")),
    ("b_id", "v", "at"),
)
UPDATE = Bulk(
    update(rows_table).where(rows_table.c.id == bindparam("b_id")).values(value=bindparam("v")),
    ("b_id", "v"),
)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine(database_url)
    metadata.create_all(engine)
    try:
        yield engine
    finally:
        engine.dispose()


def test_rows_run_in_the_order_of_their_key(engine: Engine) -> None:
    ids = [f"id-{i:02}" for i in range(20)]
    with engine.begin() as connection:
        INSERT.execute(connection, [(i, "x", None) for i in reversed(ids)])
        # The serial column numbers the rows in the order they were inserted.
        inserted = connection.execute(select(rows_table.c.id).order_by(rows_table.c.n))
        assert list(inserted.scalars()) == ids


def test_rows_with_one_key_keep_the_order_given(engine: Engine) -> None:
    with engine.begin() as connection:
        INSERT.execute(connection, [("b", "x", None), ("a", "x", None)])
        assert UPDATE.execute(connection, [("b", "first"), ("a", "1"), ("b", "last")]) == 3
        values = connection.execute(select(rows_table.c.id, rows_table.c.value))
        assert dict(values.tuples().all()) == {"a": "1", "b": "last"}


def test_each_value_is_processed_once_and_stored_for_every_row(engine: Engine) -> None:
    one, two = dt.datetime(2026, 12, 4, 10, 0, 0, 1), dt.datetime(2026, 12, 4, 10, 0, 1)
    CountedDateTime.calls = 0
    with engine.begin() as connection:
        INSERT.execute(connection, [(f"id-{i:03}", "x", one if i % 2 else two) for i in range(100)])
        assert CountedDateTime.calls == 2
        stored = connection.execute(select(rows_table.c.id, rows_table.c.at))
        assert {i: at for i, at in stored.tuples()} == {
            f"id-{i:03}": one if i % 2 else two for i in range(100)
        }


class Colour(enum.StrEnum):
    RED = "RED"


def test_enum_constants_reach_the_driver_as_plain_values(engine: Engine) -> None:
    # Row tuples holding an enum member stay tracked by the garbage collector; tuples of
    # plain values are untracked by the first collection that sees them.
    sent: list[Any] = []
    event.listen(engine, "before_cursor_execute", lambda *args: sent.append(args[3]))
    paint = Bulk(
        update(rows_table)
        .where(rows_table.c.id == bindparam("b_id"), rows_table.c.value != Colour.RED)
        .values(value=bindparam("v")),
        ("b_id", "v"),
    )
    with engine.begin() as connection:
        INSERT.execute(connection, [("a", "x", None)])
        assert paint.execute(connection, [("a", "blue")]) == 1
    # One row goes as a plain execute: its parameters alone.
    row = sent[-1][0] if isinstance(sent[-1], list) else sent[-1]
    values = list(row.values() if isinstance(row, dict) else row)
    assert Colour.RED in values and all(type(v) is str for v in values)
