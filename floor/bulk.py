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
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

_Proc = Callable[[Any], Any] | None


def _processors(table: Table, columns: Sequence[str], dialect: Dialect) -> list[_Proc]:
    return [table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in columns]


def _process(row: Sequence[Any], procs: list[_Proc]) -> list[Any]:
    return [v if p is None else p(v) for v, p in zip(row, procs, strict=True)]


@contextmanager
def _wrapped(session: Session, statement: str) -> Any:
    """A raw DBAPI cursor on the session's connection; driver errors become SQLAlchemy's."""
    session.flush()
    conn = session.connection()
    dialect = conn.dialect
    raw = conn.connection.dbapi_connection
    assert raw is not None
    cur = raw.cursor()
    try:
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
    procs = _processors(table, columns, dialect)
    quote = dialect.identifier_preparer.quote
    cols = ", ".join(quote(c) for c in columns)
    name = quote(table.name)
    if dialect.name == "postgresql":
        statement = f"COPY {name} ({cols}) FROM STDIN"
        with _wrapped(session, statement) as cur, cur.copy(statement) as copy:
            for row in rows:
                copy.write_row(_process(row, procs))
        return
    data = [_process(row, procs) for row in rows]
    if not data:
        return
    marks = ", ".join("?" for _ in columns)
    statement = f"INSERT INTO {name} ({cols}) VALUES ({marks})"
    with _wrapped(session, statement) as cur:
        cur.executemany(statement, data)


def update_rows(
    session: Session, table: Table, rows: Sequence[Mapping[str, Any]], key: str = "id"
) -> None:
    """UPDATE one row of ``table`` per mapping (all with the same keys), found by ``key``."""
    if not rows:
        return
    columns = [c for c in rows[0] if c != key]
    dialect = session.get_bind().dialect
    procs = _processors(table, [key, *columns], dialect)
    quote = dialect.identifier_preparer.quote
    name = quote(table.name)
    data = [_process([r[key], *(r[c] for c in columns)], procs) for r in rows]
    if dialect.name != "postgresql":
        sets = ", ".join(f"{quote(c)} = ?" for c in columns)
        statement = f"UPDATE {name} SET {sets} WHERE {quote(key)} = ?"
        with _wrapped(session, statement) as cur:
            cur.executemany(statement, [[*d[1:], d[0]] for d in data])
        return
    # One statement: every column travels as one text array, cast back to the column's type.
    arrays = [[d[i] for d in data] for i in range(len(columns) + 1)]
    from psycopg.types.json import Json, Jsonb

    json_types = (Json, Jsonb)
    arrays = [arrays[0]] + [[_pg_text(v, json_types) for v in a] for a in arrays[1:]]
    names = ", ".join(quote(c) for c in [key, *columns])
    types = [table.c[c].type.compile(dialect=dialect) for c in columns]
    sets = ", ".join(f"{quote(c)} = v.{quote(c)}::{t}" for c, t in zip(columns, types, strict=True))
    unnest = ", ".join(["%s::bigint[]"] + ["%s::text[]"] * len(columns))
    statement = (
        f"UPDATE {name} SET {sets} FROM unnest({unnest}) AS v({names}) "
        f"WHERE {name}.{quote(key)} = v.{quote(key)}"
    )
    with _wrapped(session, statement) as cur:
        cur.execute(statement, arrays)


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
