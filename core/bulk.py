"""Set-based writes for the hot paths (wave planning, batch intake, bulk transitions).

SQLAlchemy's executemany spends most of its time per row building parameters, and on
PostgreSQL with psycopg an INSERT or UPDATE executemany is sent as one statement per row (in
pipeline mode, but still one parse/plan/execute each). These helpers keep SQLAlchemy's column
types (enums, JSON, UTC datetimes go through the same bind processors, so rows are stored
exactly as an ORM insert stores them) but hand the DBAPI pre-processed rows:

- ``insert_rows``: ``COPY … FROM STDIN`` on PostgreSQL, one ``executemany`` on SQLite.
- ``update_rows``: one ``UPDATE … FROM unnest(…)`` on PostgreSQL, one ``executemany`` on SQLite.

Both run in the session's transaction (after flushing it, as autoflush would), never return
ids, and raise SQLAlchemy's exception classes (``IntegrityError`` …) like ``Session.execute``.
Ids of inserted rows follow the row order.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import ARRAY, Table, any_, bindparam
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

_Proc = Callable[[Any], Any] | None


def among(session: Session, column: Any, values: Iterable[Any]) -> Any:
    """``column IN (values)``; on PostgreSQL ``column = ANY(:array)``, one parameter instead
    of thousands (psycopg's placeholder conversion of a long IN list costs more than the
    query)."""
    values = list(values)
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)


def _processors(table: Table, columns: Sequence[str], dialect: Dialect) -> list[_Proc]:
    return [_same_as_last(p) for p in _bind_processors(table, tuple(columns), dialect)]


@functools.lru_cache(maxsize=256)
def _bind_processors(table: Table, columns: tuple[str, ...], dialect: Dialect) -> list[_Proc]:
    """The columns' bind processors (stateless; asking the types for them costs more than a
    small write): once per table, columns and dialect."""
    return [table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in columns]


@functools.lru_cache(maxsize=512)
def _pg_type(table: Table, column: str, dialect: Dialect) -> str:
    """The column's type as PostgreSQL spells it in a cast (compiling a type is not free)."""
    return str(table.c[column].type.compile(dialect=dialect))


def _same_as_last(proc: _Proc) -> _Proc:
    """``proc``, answering again without work when given the very same object as last time
    (bulk rows repeat one timestamp or status object in every row)."""
    if proc is None:
        return None
    last: list[Any] = [_same_as_last, None]

    def process(value: Any) -> Any:
        if value is not last[0]:
            last[0], last[1] = value, proc(value)
        return last[1]

    return process


def _row_processor(procs: list[_Proc]) -> Callable[[Sequence[Any]], Sequence[Any]]:
    """A function processing one row: only the columns with a bind processor are touched."""
    width = len(procs)
    work = [(i, p) for i, p in enumerate(procs) if p is not None]

    def process(row: Sequence[Any]) -> Sequence[Any]:
        if len(row) != width:
            raise ValueError(f"row of {len(row)} values for {width} columns")
        if not work:
            return row
        out = list(row)
        for i, p in work:
            out[i] = p(out[i])
        return out

    return process


@contextmanager
def _wrapped(session: Session, statement: str, params: Any = None, *, many: bool = False) -> Any:
    """A raw DBAPI cursor on the session's connection for ``statement``; driver errors become
    SQLAlchemy's. The engine's ``before_cursor_execute`` listeners hear of the statement, as
    of any other (statement counts stay true; an ``executemany`` is one)."""
    session.flush()
    conn = session.connection()
    dialect = conn.dialect
    raw = conn.connection.dbapi_connection
    assert raw is not None
    cur = raw.cursor()
    try:
        for listener in conn.dispatch.before_cursor_execute:
            listener(conn, cur, statement, params, None, many)
        yield cur
    except dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(
            statement, None, exc, dialect.loaded_dbapi.Error, dialect=dialect
        ) from exc
    finally:
        cur.close()


def insert_rows(
    session: Session, table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """INSERT ``rows`` (tuples in ``columns`` order) into ``table``."""
    dialect = session.get_bind().dialect
    process = _row_processor(_processors(table, columns, dialect))
    quote = dialect.identifier_preparer.quote
    cols = ", ".join(quote(c) for c in columns)
    name = quote(table.name)
    if dialect.name == "postgresql":
        statement = f"COPY {name} ({cols}) FROM STDIN"
        with _wrapped(session, statement) as cur, cur.copy(statement) as copy:
            for row in rows:
                copy.write_row(process(row))
        return
    data = [process(row) for row in rows]
    if not data:
        return
    marks = ", ".join("?" for _ in columns)
    statement = f"INSERT INTO {name} ({cols}) VALUES ({marks})"
    with _wrapped(session, statement, data, many=True) as cur:
        cur.executemany(statement, data)


def update_rows(
    session: Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    key: str = "id",
    *,
    status_checked: bool = False,
) -> None:
    """UPDATE one row of ``table`` per mapping (all with the same keys), found by ``key``.

    A ``status`` column is refused unless ``status_checked``: status changes go through the
    entity's state machine (``core.statemachine``), which checks every move and then calls
    this."""
    if not rows:
        return
    columns = [c for c in rows[0] if c != key]
    if "status" in columns and not status_checked:
        raise ValueError("status changes go through core.statemachine (StateMachine.move_rows)")
    dialect = session.get_bind().dialect
    procs = _processors(table, [key, *columns], dialect)
    quote = dialect.identifier_preparer.quote
    name = quote(table.name)
    process = _row_processor(procs)
    data = [process([r[key], *(r[c] for c in columns)]) for r in rows]
    if dialect.name != "postgresql":
        sets = ", ".join(f"{quote(c)} = ?" for c in columns)
        statement = f"UPDATE {name} SET {sets} WHERE {quote(key)} = ?"
        params = [[*d[1:], d[0]] for d in data]
        with _wrapped(session, statement, params, many=True) as cur:
            cur.executemany(statement, params)
        return
    # One statement: a column that differs between rows travels as one text array, cast back
    # to the column's type; a column with one value for every row as a single parameter.
    from psycopg.types.json import Json, Jsonb

    json_types = (Json, Jsonb)
    sets: list[str] = []
    set_params: list[Any] = []
    arrays: list[Any] = [[d[0] for d in data]]
    names = [quote(key)]
    for i, column in enumerate(columns, 1):
        col, type_ = quote(column), _pg_type(table, column, dialect)
        first = data[0][i]
        if all(d[i] is first for d in data):
            sets.append(f"{col} = %s::{type_}")
            set_params.append(_pg_text(first, json_types))
        else:
            sets.append(f"{col} = v.{col}::{type_}")
            arrays.append([_pg_text(d[i], json_types) for d in data])
            names.append(col)
    unnest = ", ".join(["%s::bigint[]"] + ["%s::text[]"] * (len(arrays) - 1))
    statement = (
        f"UPDATE {name} SET {', '.join(sets)} FROM unnest({unnest}) AS v({', '.join(names)}) "
        f"WHERE {name}.{quote(key)} = v.{quote(key)}"
    )
    params = [*set_params, *arrays]
    with _wrapped(session, statement, params) as cur:
        cur.execute(statement, params)


def add_to_column(
    session: Session, table: Table, column: str, amounts: Mapping[int, int], key: str = "id"
) -> None:
    """``column = column + amount`` for each ``{key value: amount}``, in one statement on
    PostgreSQL (``FROM unnest``), one executemany elsewhere; rows in key order."""
    if not amounts:
        return
    dialect = session.get_bind().dialect
    quote = dialect.identifier_preparer.quote
    name, col, k = quote(table.name), quote(column), quote(key)
    items = sorted(amounts.items())
    if dialect.name != "postgresql":
        statement = f"UPDATE {name} SET {col} = {col} + ? WHERE {k} = ?"
        params = [(amount, ident) for ident, amount in items]
        with _wrapped(session, statement, params, many=True) as cur:
            cur.executemany(statement, params)
        return
    statement = (
        f"UPDATE {name} SET {col} = {name}.{col} + v.amount "
        f"FROM unnest(%s::bigint[], %s::bigint[]) AS v(ident, amount) WHERE {name}.{k} = v.ident"
    )
    params = [[i for i, _ in items], [a for _, a in items]]
    with _wrapped(session, statement, params) as cur:
        cur.execute(statement, params)


def _pg_text(value: Any, json_types: tuple[type, ...]) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, json_types):  # what the JSON bind processor hands psycopg
        return (value.dumps or json.dumps)(value.obj)
    return str(value)
