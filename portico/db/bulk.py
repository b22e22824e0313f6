"""Many-row statements without SQLAlchemy's per-row work, for the health service's hot path.

``Connection.execute(statement, rows)`` handles every row's parameters in Python (names,
defaults, type processing): for a batch of 10,000 heartbeats that costs more than the
database's own work. ``Bulk`` compiles a Core statement once per dialect and hands its rows
to the driver's ``executemany`` as plain tuples (or dicts, for named paramstyles), applying
only the bind processors the dialect has (SQLite stores DateTime as text). Rows run in the
order of their first value, which must be the row's key (an id). So a statement
must bind every value it sets: Python-side defaults such as ``updated_at``'s ``onupdate`` are
not run, and the caller passes them. Rows are tuples in the order of the ``fields`` named
when the statement is made; bind parameters with a value in the statement are constants.

On PostgreSQL an UPDATE, or an INSERT from a SELECT, runs once for the whole call instead:
each field's values go as one array, and the statement reads the rows from ``unnest`` of
them (the bind parameters of the fields become the columns of that table). The server then
plans and executes one statement, not one per row (measured at 10,000 rows: 5 to 8 us a row
against 12 to 20 with ``executemany``). Within one call no two rows may address the same
database row: with PostgreSQL's UPDATE ... FROM, which of them would win is not defined.

``placeholders`` renders the driver's own markers for the few statements written as SQL
text (a VALUES list joined to tables, which Core would compile anew for every batch).
"""

from __future__ import annotations

import enum
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BindParameter, Connection, Dialect, bindparam, cast, column, func
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql import visitors
from sqlalchemy.sql.dml import Insert, UpdateBase

# SQLite's default SQLITE_MAX_VARIABLE_NUMBER (3.32+); PostgreSQL allows 65,535.
MAX_PARAMETERS = 32_000


_Process = Callable[[Any], Any]


@dataclass(frozen=True)
class _Compiled:
    sql: str
    # Driver parameters from (row values, shared values, constants) in the statement's order.
    arrange: Callable[[tuple[Any, ...]], tuple[Any, ...]]
    constants: tuple[Any, ...]
    # The dialect's bind processors, by position in a row and in the shared values.
    row_processors: tuple[tuple[int, _Process], ...]
    shared_processors: tuple[_Process | None, ...]
    names: tuple[str, ...] | None  # for named paramstyles


@dataclass(frozen=True)
class _Arrays:
    """The statement reading its rows from ``unnest`` of one array per field (PostgreSQL)."""

    statement: UpdateBase
    arrays: tuple[str, ...]  # the array parameters' names, in the order of the fields


class Bulk:
    """An INSERT/UPDATE/DELETE run with many rows, each a tuple of values for ``fields``;
    ``shared`` names the parameters that have one value for all the rows of a call."""

    def __init__(
        self, statement: UpdateBase, fields: tuple[str, ...], *, shared: tuple[str, ...] = ()
    ) -> None:
        self._statement = statement
        self._fields = fields
        self._shared = shared
        self._compiled: dict[str, _Compiled | _Arrays] = {}

    def execute(
        self,
        connection: Connection,
        rows: Sequence[tuple[Any, ...]],
        shared: tuple[Any, ...] = (),
    ) -> int:
        """Run the statement for every row; the number of rows it matched in all."""
        if not rows:
            return 0
        # In key order: the database visits its pages in order (measured: 10 to 15 % of a
        # heartbeat batch's status writes on SQLite), and two writers of overlapping rows on
        # PostgreSQL take their locks in one order, so they queue instead of deadlocking.
        rows = sorted(rows, key=_first)
        c = self._compile(connection.dialect)
        if isinstance(c, _Arrays):
            arrays: dict[str, Any] = dict(
                zip(c.arrays, map(list, zip(*rows, strict=True)), strict=True)
            )
            arrays.update(zip(self._shared, shared, strict=True))
            return int(connection.execute(c.statement, arrays).rowcount)
        tail = (
            *(
                v if p is None or v is None else p(v)
                for v, p in zip(shared, c.shared_processors, strict=True)
            ),
            *c.constants,
        )
        if c.row_processors:
            rows = _processed(rows, c.row_processors)
        params: list[Any] = [c.arrange(row + tail) for row in rows]
        if c.names is not None:
            params = [dict(zip(c.names, values, strict=True)) for values in params]
        return int(connection.exec_driver_sql(c.sql, params).rowcount)

    def _compile(self, dialect: Dialect) -> _Compiled | _Arrays:
        found = self._compiled.get(dialect.name)
        if found is None:
            found = self._compiled[dialect.name] = self._compile_for(dialect)
        return found

    def _compile_for(self, dialect: Dialect) -> _Compiled | _Arrays:
        # An INSERT of VALUES cannot read another table: it keeps executemany.
        values_insert = isinstance(self._statement, Insert) and self._statement.select is None
        if dialect.name == "postgresql" and not values_insert:
            return self._arrays_for(dialect)
        compiled = self._statement.compile(dialect=dialect)
        names = tuple(compiled.positiontup or compiled.params)
        given = (*self._fields, *self._shared)
        constant_names = tuple(n for n in names if n not in given)
        missing = [n for n in constant_names if compiled.params.get(n) is None]
        if missing:
            raise ValueError(f"no value for bind parameters {missing}")
        order = [*given, *constant_names]

        def processor(name: str) -> _Process | None:
            if name not in compiled.binds:
                return None
            process: _Process | None = (
                compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            )
            return process

        row_processors = []
        for index, name in enumerate(self._fields):
            process = processor(name)
            if process is not None:
                row_processors.append((index, process))
        return _Compiled(
            sql=compiled.string,
            arrange=_arranger([order.index(name) for name in names]),
            constants=tuple(_plain(compiled.params[n]) for n in constant_names),
            row_processors=tuple(row_processors),
            shared_processors=tuple(processor(name) for name in self._shared),
            names=None if compiled.positional else names,
        )

    def _arrays_for(self, dialect: Dialect) -> _Arrays:
        # The fields' types as the statement gives them (a column compared or set).
        binds = self._statement.compile(dialect=dialect).binds
        types = {name: binds[name].type for name in self._fields}
        arrays = tuple(f"{name}__rows" for name in self._fields)
        rows = (
            func.unnest(
                *(
                    cast(bindparam(array), postgresql.ARRAY(types[name]))
                    for name, array in zip(self._fields, arrays, strict=True)
                )
            )
            .table_valued(*(column(name, types[name]) for name in self._fields))
            .render_derived()
        )

        def as_column(element: Any, **_: Any) -> Any:
            if isinstance(element, BindParameter) and element.key in types:
                return rows.c[element.key]
            return None

        statement = visitors.replacement_traverse(self._statement, {}, as_column)
        assert isinstance(statement, UpdateBase)
        return _Arrays(statement, arrays)


_first = operator.itemgetter(0)


def _plain(value: Any) -> Any:
    """An enum member as its value: the garbage collector tracks enum members, and so every
    row tuple holding one (a status compared against, say), where a tuple of plain values is
    untracked as soon as a collection sees it."""
    return value.value if isinstance(value, enum.Enum) else value


def _processed(
    rows: list[tuple[Any, ...]], processors: tuple[tuple[int, _Process], ...]
) -> list[tuple[Any, ...]]:
    """Rows with the processors applied, each once per distinct value: rows of a batch
    share their timestamps, and SQLite's DateTime processor (formatting text) cost more than
    the rest of a liveness row's Python work."""
    done: dict[Any, Any] = {}
    result = []
    for row in rows:
        values = list(row)
        for index, process in processors:
            value = values[index]
            if value is not None:
                found = done.get(value, done)
                if found is done:
                    found = done[value] = process(value)
                values[index] = found
        result.append(tuple(values))
    return result


def _arranger(indices: list[int]) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    if len(indices) == 1:
        (only,) = indices
        return lambda values: (values[only],)
    getter: Callable[[tuple[Any, ...]], tuple[Any, ...]] = operator.itemgetter(*indices)
    return getter


def placeholders(dialect: Dialect, count: int) -> str:
    """``count`` positional markers for ``exec_driver_sql`` with a tuple of parameters."""
    if dialect.paramstyle == "qmark":
        marker = "?"
    elif dialect.paramstyle in ("format", "pyformat"):
        marker = "%s"
    else:
        raise ValueError(f"unsupported paramstyle {dialect.paramstyle}")
    return ", ".join([marker] * count)
