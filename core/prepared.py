"""Statements of the hot path (a scan), compiled once per dialect and run on the DBAPI cursor.

A Core statement built once still costs SQLAlchemy ~25-30 µs of Python per execution (an
execution context, the compiled cache's lookup, parameter and result processing set up each
time) against ~2 µs for the same SQL on the sqlite3 cursor. A scan runs about ten of them.
``Prepared`` keeps what SQLAlchemy's compiler produced (the SQL text, the parameter order, the
type processors of each bound value and each result column) and does per call only what is
left: bind the caller's values, execute on the transaction's own DBAPI connection, process the
result row. So the statement is still written with ``select()``/``update()`` on the typed
models, runs inside the session's transaction (and writer lock), fires the engine's
``before_cursor_execute`` listeners (statement counts stay true), and a database error arrives
as SQLAlchemy's ``DBAPIError`` subclass, as from ``Connection.execute``.

Only for statements whose parameters are all plain (no expanding ``IN``, no ``executemany``):
``Prepared`` refuses others when it compiles them.
"""

from __future__ import annotations

import functools
from collections import namedtuple
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import exc
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql import ClauseElement

_NO_PARAMS: Mapping[str, Any] = {}


class _Form:
    """A statement compiled for one dialect."""

    __slots__ = ("sql", "order", "fixed", "binders", "defaults", "row", "readers")

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        for name, bind in compiled.binds.items():
            if bind.expanding:
                raise ValueError(f"Prepared: expanding parameter {name!r} in {compiled.string!r}")
        if "POSTCOMPILE" in compiled.string:  # a constant rendered into the text (a LIMIT)
            compiled = statement.compile(
                dialect=dialect, compile_kwargs={"render_postcompile": True}
            )
        self.sql = compiled.string
        self.order: tuple[str, ...] | None = (
            tuple(compiled.positiontup or ()) if dialect.positional else None
        )
        self.fixed: dict[str, Any] = {}  # constants of the statement, processed once
        self.binders: dict[str, Callable[[Any], Any] | None] = {}  # the caller's values
        # Python-side column defaults (``onupdate=utcnow``): computed at each execution
        self.defaults: dict[str, tuple[Callable[[], Any], Callable[[Any], Any] | None]] = {}
        prefetch = {c.key: c for c in [*compiled.insert_prefetch, *compiled.update_prefetch]}
        for bind, name in compiled.bind_names.items():  # each parameter under its name in the SQL
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            column = prefetch.get(name)
            if column is not None:
                self.defaults[name] = (_default_of(column, compiled.isupdate), process)
            elif bind.required:  # ``bindparam("name")``: the caller gives it
                self.binders[name] = process
            else:
                value = bind.effective_value
                self.fixed[name] = process(value) if process else value
        columns = list(getattr(statement, "exported_columns", ()))
        keys = [  # an unnamed expression (``func.sum(...)``) is read by position
            c.key if isinstance(c.key, str) and c.key.isidentifier() else f"_{i}"
            for i, c in enumerate(columns)
        ]
        if len(set(keys)) != len(keys):
            raise ValueError(f"Prepared: result columns share a name in {self.sql!r}")
        self.row = namedtuple("PreparedRow", keys, rename=True) if keys else None  # type: ignore[misc]
        self.readers = [
            c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns
        ]
        if not any(self.readers):
            self.readers = []

    def bound(self, params: Mapping[str, Any]) -> Any:
        values = dict(self.fixed)
        for name, (make, process) in self.defaults.items():
            value = params[name] if name in params else make()
            values[name] = process(value) if process is not None and value is not None else value
        for name, process in self.binders.items():
            value = params[name]
            values[name] = process(value) if process is not None and value is not None else value
        if self.order is None:
            return values
        return tuple(values[name] for name in self.order)


def _default_of(column: Any, update: bool) -> Callable[[], Any]:
    default = column.onupdate if update else column.default
    if default.is_callable:
        return functools.partial(default.arg, None)  # SQLAlchemy wraps it to take a context
    if default.is_scalar:
        return lambda: default.arg
    raise ValueError(f"Prepared: the default of {column} is not a Python value")


class Prepared:
    """One statement of the hot path; see the module docstring."""

    __slots__ = ("statement", "_forms")

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._forms: dict[str, _Form] = {}

    def _form(self, dialect: Dialect) -> _Form:
        form = self._forms.get(dialect.name)
        if form is None:
            form = self._forms[dialect.name] = _Form(self.statement, dialect)
        return form

    def _run(self, conn: Connection, params: Mapping[str, Any], fetch: bool) -> tuple[Any, int]:
        dialect = conn.dialect
        form = self._form(dialect)
        bound = form.bound(params)
        dbapi_conn = conn.connection.dbapi_connection
        assert dbapi_conn is not None
        cursor = dbapi_conn.cursor()
        try:
            for listener in conn.dispatch.before_cursor_execute:
                listener(conn, cursor, form.sql, bound, None, False)
            cursor.execute(form.sql, bound)
            rows = cursor.fetchall() if fetch else None
            return rows, cursor.rowcount
        except dialect.loaded_dbapi.Error as error:
            gone = dialect.is_disconnect(error, dbapi_conn, cursor)
            if gone:
                conn.invalidate(error)
            raise exc.DBAPIError.instance(
                form.sql,
                bound,
                error,
                dialect.loaded_dbapi.Error,
                connection_invalidated=gone,
                dialect=dialect,
            ) from error
        finally:
            cursor.close()

    def rows(self, conn: Connection, params: Mapping[str, Any] = _NO_PARAMS) -> list[Any]:
        """Every result row, as named tuples with SQLAlchemy's Python values."""
        raw, _count = self._run(conn, params, True)
        form = self._forms[conn.dialect.name]
        make = form.row
        assert make is not None, "rows() of a statement that returns none"
        if form.readers:
            readers = form.readers
            return [
                make(*(read(v) if read else v for read, v in zip(readers, r, strict=True)))
                for r in raw
            ]
        return [make(*r) for r in raw]

    def first(self, conn: Connection, params: Mapping[str, Any] = _NO_PARAMS) -> Any:
        """The first row, or None."""
        found = self.rows(conn, params)
        return found[0] if found else None

    def scalar(self, conn: Connection, params: Mapping[str, Any] = _NO_PARAMS) -> Any:
        """The first column of the first row, or None."""
        row = self.first(conn, params)
        return row[0] if row is not None else None

    def run(self, conn: Connection, params: Mapping[str, Any] = _NO_PARAMS) -> int:
        """Execute a write; the rows it matched (the cursor's ``rowcount``)."""
        return self._run(conn, params, False)[1]
