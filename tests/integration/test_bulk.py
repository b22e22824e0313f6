"""``db.bulk``: many-row statements run in key order, each bind processor once per value,
as one statement on PostgreSQL."""

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
    exists,
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
labels = Table(
    "bulk_labels",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("colour", String(16)),
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


def test_rows_read_in_a_subquery_match_alike_and_run_as_one_statement_on_postgresql(
    engine: Engine,
) -> None:
    # As the health service's compare-and-set: a row is written only where another table
    # shows what the row expects.
    statements: list[Any] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    checked = Bulk(
        update(rows_table)
        .where(
            rows_table.c.id == bindparam("b_id"),
            exists().where(labels.c.id == bindparam("b_label"), labels.c.colour == "blue"),
        )
        .values(value=bindparam("v")),
        ("b_id", "b_label", "v"),
    )
    with engine.begin() as connection:
        blue, red = {"id": "l1", "colour": "blue"}, {"id": "l2", "colour": "red"}
        connection.execute(insert(labels), [blue, red])
        INSERT.execute(connection, [(f"id-{i}", "x", None) for i in range(4)])
        del statements[:]
        rows = [("id-0", "l1", "a"), ("id-1", "l2", "b"), ("id-2", "l1", "c"), ("id-3", "l9", "d")]
        assert checked.execute(connection, rows) == 2
        sent = list(statements)
        values = connection.execute(select(rows_table.c.id, rows_table.c.value))
        assert dict(values.tuples().all()) == {"id-0": "a", "id-1": "x", "id-2": "c", "id-3": "x"}
    if engine.dialect.name == "postgresql":
        assert len(sent) == 1 and "unnest" in sent[0]


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


def test_enum_constants_reach_the_driver_as_plain_values(sqlite_url: str) -> None:
    # Row tuples holding an enum member stay tracked by the garbage collector; tuples of
    # plain values are untracked by the first collection that sees them. (PostgreSQL gets
    # one statement with arrays, not a tuple per row.)
    engine = create_engine(sqlite_url)
    metadata.create_all(engine)
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
    engine.dispose()
    # One row goes as a plain execute: its parameters alone.
    row = sent[-1][0] if isinstance(sent[-1], list) else sent[-1]
    values = list(row.values() if isinstance(row, dict) else row)
    assert Colour.RED in values and all(type(v) is str for v in values)
