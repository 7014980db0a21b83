"""Database plumbing shared by every domain package: the declarative base, UTC timestamps,
engine construction (SQLite WAL + foreign keys, PostgreSQL via psycopg) and session factories.

SQLite has one writer at a time. Every transaction here starts with ``BEGIN IMMEDIATE`` (it
takes the write lock up front instead of failing on a read-to-write upgrade), and *inside one
process* it first takes the process's writer lock (``core.writer_lock``): a lock in Python, so
a thread waiting for the writer wakes the moment the previous one commits. Without it the
waiters sit in SQLite's busy handler, which sleeps 1, 2, 5, 10 … 100 ms between tries and
leaves the database idle in between (and under gevent its C sleep blocks every greenlet, the
lock holder too). Other processes on the same file still meet the busy handler
(``busy_timeout`` 30 s).

The handheld's scans go further (``batched_unit_of_work``): a scan that finds other scans
waiting for the writer lock passes them its open transaction instead of committing, each runs
in a savepoint of its own, and the last commits for all (``core.writer_lock.WriteBatch``). One
WAL flush then covers several scans, and the pages they share are written once.

Nothing here is built at import time; ``make_engine`` is called by ``create_app`` and by tests.
"""

from __future__ import annotations

import datetime as dt
import enum
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Enum,
    MetaData,
    String,
    create_engine,
    event,
    literal,
    text,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.orm.util import identity_key
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

from core.wal_checkpoint import SAFETY_PAGES
from core.writer_lock import BATCH, batched_turn, install_writer_lock

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC in and out, on every backend (SQLite drops the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: store timezone-aware UTC")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def str_enum(enum_cls: type[enum.Enum], length: int = 20, name: str | None = None) -> Enum:
    """Enums are stored as their string values in a VARCHAR + CHECK, portable across backends."""
    return Enum(
        enum_cls,
        native_enum=False,
        length=length,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
        create_constraint=True,
        name=name or enum_cls.__name__.lower(),
    )


def one_of(column: Any, values: Iterable[Any]) -> Any:
    """``column IN (v1, v2, …)`` for a fixed set of constants (statuses, roles): one plain bound
    parameter per value, so a statement built once runs as compiled. ``column.in_(values)``
    binds an *expanding* parameter that SQLAlchemy rewrites into the SQL text at every
    execution (py-spy, scans flat out: ~7 % of the server's GIL time)."""
    return column.in_([literal(v, column.type) for v in values])


UNIT_SEPARATOR = "\x1f"


class joined_text(FunctionElement[str]):  # noqa: N801 - used like func.*
    """A group's text values in one string, joined by ``UNIT_SEPARATOR`` (ASCII 31), in no
    particular order: ``group_concat`` on SQLite, ``string_agg`` on PostgreSQL. The separator
    is written into the SQL, not bound (``func.aggregate_strings`` binds it as a parameter
    that SQLAlchemy rewrites into the text at every execution)."""

    type = String()
    inherit_cache = True


@compiles(joined_text)
def _joined_text_sqlite(element: joined_text, compiler: Any, **kw: Any) -> str:
    return f"group_concat({compiler.process(element.clauses, **kw)}, char(31))"


@compiles(joined_text, "postgresql")
def _joined_text_postgresql(element: joined_text, compiler: Any, **kw: Any) -> str:
    return f"string_agg({compiler.process(element.clauses, **kw)}, chr(31))"


def split_joined(value: str | None) -> list[str]:
    """``joined_text``'s values back, sorted."""
    return sorted(value.split(UNIT_SEPARATOR)) if value else []


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        dt.datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
        str: String(255),
    }


def default_sqlite_url(instance_path: str | Path) -> str:
    path = Path(instance_path) / "floor.sqlite3"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


SQLITE_SYNCHRONOUS = ("FULL", "NORMAL")


def make_engine(url: str, *, sqlite_synchronous: str = "FULL", **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and a busy timeout on every connection.

    ``sqlite_synchronous`` (FLOOR_SQLITE_SYNCHRONOUS): FULL fsyncs the WAL at every commit, so an
    order acknowledged to the OMS survives a power cut; NORMAL fsyncs only at checkpoints — still
    safe against a crash of the process, but the last commits can be lost with the power.
    docs/benchmarks.md measures the difference; docs/security.md explains the choice of FULL.
    """
    if url.startswith("sqlite"):
        mode = sqlite_synchronous.strip().upper()
        if mode not in SQLITE_SYNCHRONOUS:
            raise ValueError(f"sqlite_synchronous: one of {SQLITE_SYNCHRONOUS}, not {mode!r}")
        kwargs.setdefault("connect_args", {}).update({"check_same_thread": False, "timeout": 30})
        # The connection returned last is handed out next: writers take turns anyway, so one
        # connection does most of the writing and its page cache stays valid between them
        # (each SQLite connection drops its cache when another one wrote; handed out in turn,
        # every transaction re-read its B-tree pages: ~10 % more scans/s flat out this way).
        kwargs.setdefault("pool_use_lifo", True)
        engine = create_engine(url, **kwargs)
        _configure_sqlite(engine, mode)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    engine = create_engine(url, **kwargs)
    _ping_idle_connections(engine)
    return engine


PING_AFTER_IDLE_S = 2.0


def _ping_idle_connections(engine: Engine) -> None:
    """``pool_pre_ping``, but only for a connection that sat in the pool for ``PING_AFTER_IDLE_S``:
    a pooled connection that died with a database restart is replaced before a request meets it,
    and a busy server does not pay a round trip per checkout (measured: 1.5 ms of CPU and ~7 ms
    of wall time per scan on PostgreSQL with two checkouts a scan)."""

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_S:
            return
        try:
            cur = dbapi_conn.cursor()
            cur.execute("SELECT 1")
            cur.close()
            dbapi_conn.rollback()
        except Exception as exc:  # the pool drops it and checks out another
            raise DisconnectionError(str(exc)) from exc


def _plain(conn: Any, statement: str) -> None:
    """A statement with no parameters and no result (``BEGIN``, ``SAVEPOINT``) on the DBAPI
    connection itself (``exec_driver_sql`` costs a whole execution context for it); the
    statement listeners still hear of it, and a driver error arrives as SQLAlchemy's."""
    raw = conn.connection.dbapi_connection
    cursor = raw.cursor()
    try:
        for listener in conn.dispatch.before_cursor_execute:
            listener(conn, cursor, statement, (), None, False)
        cursor.execute(statement)
    except sqlite3.Error as error:
        raise DBAPIError.instance(statement, None, error, sqlite3.Error) from error
    finally:
        cursor.close()


def _configure_sqlite(engine: Engine, synchronous: str) -> None:
    writer = install_writer_lock(engine)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy issue BEGIN itself so that BEGIN IMMEDIATE below works.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        if engine.url.database not in (None, "", ":memory:"):
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA busy_timeout=30000")
        # Checkpoints belong to a background thread (core.wal_checkpoint), not to a commit.
        cur.execute(f"PRAGMA wal_autocheckpoint={SAFETY_PAGES}")
        cur.close()

    def _raw_id(dbapi_conn: Any) -> int:
        # The pool hands out proxies ("fairies"); key by the sqlite3 connection behind them.
        return id(getattr(dbapi_conn, "dbapi_connection", None) or dbapi_conn)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers serialise at BEGIN instead of failing with "database is locked" on upgrade
        # from a read lock; SQLite has one writer at a time anyway. A session on
        # ``read_only(engine)`` starts a deferred (reading) transaction and takes no lock.
        options = conn.get_execution_options()
        if options.get(SINGLE_READS):
            return  # autocommit: each SELECT reads the last commit by itself
        if options.get(READ_ONLY):
            _plain(conn, "BEGIN")
            return
        key = _raw_id(conn.connection)
        writer.acquire(key)
        try:
            _plain(conn, "BEGIN IMMEDIATE")
        except BaseException:
            writer.release(key)
            raise

    # Release right after the DBAPI COMMIT/ROLLBACK has run (the engine's commit/rollback
    # events fire before it); the pool's reset-on-return rollback comes through here too.
    dialect = engine.dialect
    do_commit, do_rollback = dialect.do_commit, dialect.do_rollback

    def _commit(dbapi_conn: Any) -> None:
        try:
            do_commit(dbapi_conn)
        finally:
            writer.release(_raw_id(dbapi_conn))

    def _rollback(dbapi_conn: Any) -> None:
        try:
            do_rollback(dbapi_conn)
        finally:
            writer.release(_raw_id(dbapi_conn))

    dialect.do_commit = _commit  # type: ignore[method-assign]
    dialect.do_rollback = _rollback  # type: ignore[method-assign]
    _plain_savepoints(dialect)


def _plain_savepoints(dialect: Any) -> None:
    """Savepoints as plain statements: SQLAlchemy compiles a ``SavepointClause`` at every
    ``SAVEPOINT``, ``RELEASE`` and ``ROLLBACK TO`` (a ``begin_nested()`` and its release: 38.9
    µs that way, 8.4 µs this way, ``timeit``), and every scan that shares a ``WriteBatch`` runs
    in a savepoint of its own."""
    quoted = dialect.identifier_preparer.format_savepoint

    def statement(verb: str) -> Callable[[Any, str], None]:
        return lambda conn, name: _plain(conn, f"{verb} {quoted(None, name)}")

    dialect.do_savepoint = statement("SAVEPOINT")
    dialect.do_release_savepoint = statement("RELEASE SAVEPOINT")
    dialect.do_rollback_to_savepoint = statement("ROLLBACK TO SAVEPOINT")


READ_ONLY = "floor_read_only"
SINGLE_READS = "floor_single_reads"


def read_only(engine: Engine) -> Engine:
    """The same engine (same pool) for transactions that only read: on SQLite they begin
    deferred and skip the writer lock, so they never queue behind writers (WAL readers see the
    last commit). A write through it upgrades the lock and may meet the busy handler: don't."""
    return engine.execution_options(**{READ_ONLY: True})


def single_reads(engine: Engine) -> Engine:
    """The same engine (same pool) for a connection that runs one SELECT at a time, each reading
    the last commit by itself: no BEGIN and no writer lock on SQLite, autocommit on PostgreSQL
    (the log-in check of every request and socket event: a BEGIN it does not need cost a
    statement's worth of CPU each time)."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    return engine.execution_options(**{READ_ONLY: True, SINGLE_READS: True})


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def unit_of_work(factory: sessionmaker[Session], **options: Any) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error (``options`` go to the
    session: a ``bind``, a ``join_transaction_mode``)."""
    session = factory(**options)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def batched_unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """``unit_of_work`` that on SQLite may share its transaction with other threads' units
    (``core.writer_lock.WriteBatch``), in a savepoint of its own, and returns once that
    transaction has committed. The caller takes no ``write_turn``: this is its turn."""
    with batched_turn(factory.kw["bind"]) as batch:
        if batch is None:
            with unit_of_work(factory) as session:
                yield session
            return
        options = {"bind": batch.connection, "join_transaction_mode": "create_savepoint"}
        with unit_of_work(factory, **options) as session:
            session.info[BATCH] = batch
            yield session


_MEMO = "floor.transaction_memo"


def transaction_memo(session: Session) -> dict[Any, Any]:
    """A dict that lives as long as the session's current transaction: for what a transaction
    asks several times and nobody else changes before it ends (a setting, a cart's totes)."""
    return session.info.setdefault(_MEMO, {})


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget_memo(session: Session) -> None:
    session.info.pop(_MEMO, None)  # the next transaction reads what others committed


def expire_loaded(session: Session, cls: type, pk: Any) -> None:
    """An ORM copy of a row changed around the ORM (a Core UPDATE) reloads on its next use."""
    obj = session.identity_map.get(identity_key(cls, pk))
    if obj is not None:
        session.expire(obj)


def core_connection(session: Session) -> Connection:
    """The session's connection for plain Core statements (no ORM per-statement work), its
    pending changes flushed first when autoflush is on, as an ORM query would see them."""
    if session.autoflush:
        session.flush()
    return session.connection()


def refresh_statistics(session: Session, *tables: str) -> None:
    """After a bulk write, have PostgreSQL's planner see it now: ``ANALYZE`` the tables in this
    transaction (its own new rows count). Autovacuum would do it, but a minute or more later;
    until then the planner took a fresh floor's thousands of new pick tasks for a handful and
    chose a nested loop for the picker's "next open list" query (0.6 ms → 250 ms at 800 lists,
    every picker's claim queued behind it). Nothing to do on SQLite."""
    if not is_postgres(session):
        return
    quote = session.get_bind().dialect.identifier_preparer.quote
    core_connection(session).execute(text("ANALYZE " + ", ".join(quote(t) for t in tables)))


def is_postgres(session_or_engine: Session | Engine) -> bool:
    bind = (
        session_or_engine.get_bind()
        if isinstance(session_or_engine, Session)
        else session_or_engine
    )
    return bind.dialect.name == "postgresql"
