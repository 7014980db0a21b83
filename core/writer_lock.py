"""SQLite's writer lock inside one process (see ``core.db``'s docstring): writers wait in line in
Python, so the next one wakes the moment the previous one commits, instead of sleeping in
SQLite's busy handler. ``core.db`` takes it at ``BEGIN IMMEDIATE`` and lets it go after
``COMMIT``/``ROLLBACK``; ``write_turn`` takes it for a whole unit of work before its session
checks out a connection; ``writer_priority`` lets short, awaited writes go first;
``batched_turn`` lets units of work that wait in line share one transaction (``WriteBatch``).
"""

from __future__ import annotations

import sqlite3
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

WRITER_WAIT_S = 30.0  # as long as SQLite's busy_timeout: then "database is locked"


_priority = threading.local()


@contextmanager
def writer_priority() -> Iterator[None]:
    """Write transactions begun inside this block (in this thread) go first at SQLite's writer
    lock: when the lock comes free, a waiting priority writer takes it before the others. For
    short transactions that something already under way waits for (the print worker's step to
    ``sending``, after which a label leaves): they would otherwise queue behind every request
    that arrived meanwhile. No effect on PostgreSQL."""
    before = getattr(_priority, "on", False)
    _priority.on = True
    try:
        yield
    finally:
        _priority.on = before


HANDOFF_AFTER_S = 0.02  # a writer waiting this long is handed the lock at the next release


class _Place:
    """A writer waiting in line for the ``WriterLock``."""

    __slots__ = ("ident", "woken", "since", "joins_batch")

    def __init__(self, ident: int, mutex: threading.Lock, joins_batch: bool = False) -> None:
        self.ident = ident
        self.woken = threading.Condition(mutex)
        self.since = time.monotonic()
        self.joins_batch = joins_batch


class WriterLock:
    """The process's SQLite writer lock: taken before ``BEGIN IMMEDIATE``, released after the
    ``COMMIT`` or ``ROLLBACK``. Re-entrant, so a thread that opens a second transaction while
    holding one meets SQLite's own busy handler as before instead of deadlocking here. Writers
    inside ``writer_priority()`` are served before the others waiting.

    Writers wait in line. A release wakes the first, and a writer that comes just then may
    still take the lock before it (no thread switch between two writers: the most done per
    second); but once the first in line has waited ``HANDOFF_AFTER_S``, the release hands the
    lock straight to it. Without that, a thread writing in a loop took the lock back before
    the writer it woke could run, again and again, and the others waited the whole
    ``WRITER_WAIT_S`` and failed with "database is locked" (a handheld's next task, a label's
    step to ``sending``). Built on ``threading.Condition``, which becomes cooperative under
    gevent's monkey-patching."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._owner: int | None = None  # thread ident
        self._depth = 0
        self._queue: deque[_Place] = deque()  # writers waiting
        self._urgent: deque[_Place] = deque()  # priority writers waiting
        self.held: dict[int, int] = {}  # id(DBAPI connection) -> acquisitions (for release)
        self.batch: WriteBatch | None = None  # the open batch, passed on with the lock

    def _first(self) -> _Place | None:
        line = self._urgent or self._queue
        return line[0] if line else None

    def acquire(self, conn_id: int, joins_batch: bool = False) -> None:
        me = threading.get_ident()
        urgent = getattr(_priority, "on", False)
        with self._mutex:
            if self._owner != me:
                if self._owner is None and (urgent or not self._urgent):
                    self._owner = me
                else:
                    self._wait_in_line(_Place(me, self._mutex, joins_batch), urgent)
            self._depth += 1
            self.held[conn_id] = self.held.get(conn_id, 0) + 1

    def _wait_in_line(self, place: _Place, urgent: bool) -> None:
        line = self._urgent if urgent else self._queue
        line.append(place)
        deadline = place.since + WRITER_WAIT_S
        while self._owner != place.ident:  # not handed over yet
            if self._owner is None and self._first() is place:
                line.popleft()
                self._owner = place.ident
                return
            left = deadline - time.monotonic()
            if left <= 0:
                line.remove(place)
                if self._owner is None and (first := self._first()) is not None:
                    first.woken.notify()  # the wake-up this writer had is not lost
                raise sqlite3.OperationalError("database is locked (writer lock wait time-out)")
            place.woken.wait(left)

    def pass_turn(self, conn_id: int) -> bool:
        """Give the lock, with the open batch's transaction, straight to the first writer in
        line if it joins batches; False (nothing done) when nobody such waits."""
        with self._mutex:
            first = self._first()
            if first is None or not first.joins_batch:
                return False
            self._forget(conn_id)
            (self._urgent or self._queue).popleft()
            self._owner = first.ident
            first.woken.notify()
            return True

    def _forget(self, conn_id: int) -> bool:
        count = self.held.get(conn_id, 0)
        if count == 0:
            return False
        if count == 1:
            del self.held[conn_id]
        else:
            self.held[conn_id] = count - 1
        self._depth -= 1
        return True

    def release(self, conn_id: int) -> None:
        with self._mutex:
            if not self._forget(conn_id):
                return  # a rollback of a connection that holds no write transaction
            if self._depth == 0:
                self._owner = None
                first = self._first()
                if first is not None:
                    if time.monotonic() - first.since >= HANDOFF_AFTER_S:
                        (self._urgent or self._queue).popleft()
                        self._owner = first.ident
                    first.woken.notify()


_WRITER_LOCKS: weakref.WeakKeyDictionary[Engine, WriterLock] = weakref.WeakKeyDictionary()


def install_writer_lock(engine: Engine) -> WriterLock:
    """The writer lock of a SQLite engine (``core.db.make_engine`` installs it with the
    ``BEGIN IMMEDIATE`` that takes it); ``write_turn`` finds it here."""
    lock = _WRITER_LOCKS[engine] = WriterLock()
    return lock


@contextmanager
def write_turn(engine: Engine) -> Iterator[None]:
    """The SQLite writer lock for a whole unit of work, taken before its session checks out a
    connection (PostgreSQL: nothing to do). At ``BEGIN`` alone, each writer waiting for the one
    writer held a pooled connection while it waited: with 200 handhelds the pool (15) ran dry,
    and every socket event's log-in check queued for a connection behind the writers (py-spy,
    200 handhelds × 1 scan/s: 11 % of the server's time in ``QueuePool`` waits). Waiting here,
    a writer holds nothing; its ``BEGIN`` then takes the lock again (re-entrant) at once."""
    lock = _WRITER_LOCKS.get(engine)
    if lock is None:
        yield
        return
    key = -threading.get_ident()  # not an id() of a connection: those are positive
    try:
        lock.acquire(key)
    except sqlite3.OperationalError as error:  # as a BEGIN that timed out: "busy", retry
        raise OperationalError("BEGIN IMMEDIATE", None, error) from error
    try:
        yield
    finally:
        lock.release(key)


BATCH_MEMBERS = 16  # units of work in one batch at most
BATCH_AGE_S = 0.02  # nobody joins a batch opened longer ago than this
BATCH = "floor.write_batch"  # Session.info key of the batch a session writes in


class WriteBatch:
    """One SQLite write transaction that the units of work of several threads share, each in
    its own savepoint, one after the other: the writer lock passes from unit to unit with the
    transaction open, and the last unit commits for all. Every unit's changes then reach the
    disk in one WAL flush, and a page that several units changed (the scans table's last leaf,
    its indexes' last leaves) is written once, not once per unit.

    A unit waits for the commit before it returns, so nothing is answered before it is on
    disk; if the commit fails, every unit of the batch fails (and nothing of it was written).
    What must follow a durable commit (the events' fan-out, a cache's drop) is queued with
    ``after_durable_commit`` and runs after the batch's ``COMMIT``."""

    def __init__(self, engine: Engine) -> None:
        self.connection: Connection = engine.connect()
        try:
            self.connection.begin()  # BEGIN IMMEDIATE: the writer lock, re-entrant here
        except BaseException:
            self.connection.close()
            raise
        self.members = 0
        self.opened = time.monotonic()
        self.later: list[Callable[[], None]] = []
        self.done = threading.Event()
        self.error: BaseException | None = None

    def commit(self) -> None:
        try:
            self.connection.commit()
        except BaseException as error:
            self.error = error
            # SQLite keeps the transaction open after a refused COMMIT (a deferred foreign
            # key), and the pool would take it back as it is: close the connection instead.
            self.connection.invalidate()
            raise
        finally:
            self.connection.close()
            self.done.set()
        for fn in self.later:
            fn()

    def wait(self) -> None:
        """Until the batch has ended; raises if its commit failed. No time-out: a unit that gave
        up waiting would answer "failed" for changes that the batch may still commit."""
        self.done.wait()
        if self.error is not None:
            raise OperationalError("COMMIT", None, self.error)


def after_durable_commit(session: Any, fn: Callable[[], None]) -> None:
    """Run ``fn`` now (a session's commit is on disk when its after-commit hooks run), or,
    for a session writing in a ``WriteBatch``, once the batch has committed."""
    batch = session.info.get(BATCH)
    if batch is None:
        fn()
    else:
        batch.later.append(fn)


@contextmanager
def batched_turn(engine: Engine) -> Iterator[WriteBatch | None]:
    """The SQLite writer lock for a unit of work that may share its transaction with other
    threads' units (a ``WriteBatch``; None on PostgreSQL): the caller runs it in a savepoint of
    the batch's connection. When the unit ends, the batch passes to the next writer in line if
    that one joins batches and the batch has room and time left; otherwise it commits. Writers
    that do not join batches (the print worker, the scheduler's jobs) take the lock after the
    batch's commit, as before."""
    lock = _WRITER_LOCKS.get(engine)
    if lock is None:
        yield None
        return
    key = -threading.get_ident()
    try:
        lock.acquire(key, joins_batch=True)
    except sqlite3.OperationalError as error:
        raise OperationalError("BEGIN IMMEDIATE", None, error) from error
    passed = False
    try:
        batch = lock.batch
        if batch is None:
            batch = lock.batch = WriteBatch(engine)
        try:
            yield batch
        finally:
            batch.members += 1
            if (
                batch.members < BATCH_MEMBERS
                and time.monotonic() - batch.opened < BATCH_AGE_S
                and lock.pass_turn(key)
            ):
                passed = True
            else:
                lock.batch = None
                batch.commit()
        if passed:
            batch.wait()
    finally:
        if not passed:
            lock.release(key)
