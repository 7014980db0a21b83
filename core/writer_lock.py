"""SQLite's writer lock inside one process (see ``core.db``'s docstring): writers wait in line in
Python, so the next one wakes the moment the previous one commits, instead of sleeping in
SQLite's busy handler. ``core.db`` takes it at ``BEGIN IMMEDIATE`` and lets it go after
``COMMIT``/``ROLLBACK``; ``write_turn`` takes it for a whole unit of work before its session
checks out a connection; ``writer_priority`` lets short, awaited writes go first.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Engine
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

    __slots__ = ("ident", "woken", "since")

    def __init__(self, ident: int, mutex: threading.Lock) -> None:
        self.ident = ident
        self.woken = threading.Condition(mutex)
        self.since = time.monotonic()


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

    def _first(self) -> _Place | None:
        line = self._urgent or self._queue
        return line[0] if line else None

    def acquire(self, conn_id: int) -> None:
        me = threading.get_ident()
        urgent = getattr(_priority, "on", False)
        with self._mutex:
            if self._owner != me:
                if self._owner is None and (urgent or not self._urgent):
                    self._owner = me
                else:
                    self._wait_in_line(_Place(me, self._mutex), urgent)
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

    def release(self, conn_id: int) -> None:
        with self._mutex:
            count = self.held.get(conn_id, 0)
            if count == 0:
                return  # a rollback of a connection that holds no write transaction
            if count == 1:
                del self.held[conn_id]
            else:
                self.held[conn_id] = count - 1
            self._depth -= 1
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
