"""What a request needs from the app: the engine, a unit of work, the settings, Socket.IO."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from core.db import batched_unit_of_work, single_reads, unit_of_work
from core.settings import Settings
from core.writer_lock import write_turn


@dataclass
class FloorContext:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    readers: sessionmaker[Session]  # read-only transactions: no SQLite writer lock (core.db)
    socketio: Any = None
    scheduler: Any = None
    live: Any = None  # web.live.DashboardLive
    login_guard: Any = None  # web.login_guard.LoginGuard
    sockets: Any = None  # web.sockets.SocketRegistry
    print_worker: Any = None
    scheduler_leader: Any = None  # web.scheduler.SchedulerLeader
    devices: Any = None  # devices.hub.DeviceHub
    write_slots: Any = None  # WriteSlots on PostgreSQL (SQLite has its writer lock)
    checkpointer: Any = None  # core.wal_checkpoint.WalCheckpointer (flask serve on SQLite)

    @functools.cached_property
    def read_engine(self) -> Engine:
        """For one read without a Session (the log-in check): ``core.db.single_reads``, no
        BEGIN and ROLLBACK around a single SELECT."""
        return single_reads(self.readers.kw["bind"])

    def close(self) -> None:
        """Stop what the app started (timers, workers, scheduler) and release the database."""
        if self.live is not None:
            self.live.cancel()
        if self.print_worker is not None:
            self.print_worker.stop()
        if self.sockets is not None:
            self.sockets.stop_sweeping()
        if self.checkpointer is not None:
            self.checkpointer.stop()
        if self.scheduler is not None and getattr(self.scheduler, "running", False):
            self.scheduler.shutdown(wait=False)
        self.engine.dispose()


def ctx() -> FloorContext:
    return current_app.extensions["floor"]


WRITE_SLOTS = 4  # write transactions at once per process on PostgreSQL (about 2 per core)


class WriteSlots:
    """At most ``n`` of this process's requests inside a write transaction at once (PostgreSQL).

    Under gevent every database round trip hands the process to the next ready greenlet: with
    200 handhelds each transaction's dozen round trips each waited behind up to 200 others, so
    transactions stayed open for seconds holding row locks and the outbox lock that other
    transactions then waited for (``pg_stat_activity``: 25 connections ``idle in transaction``,
    the server at 52 % CPU). A few transactions at a time finish in milliseconds; the rest wait
    before they begin, holding nothing. Re-entrant per thread or greenlet."""

    def __init__(self, n: int) -> None:
        self._slots = threading.BoundedSemaphore(n)
        self._mine = threading.local()

    @contextmanager
    def __call__(self) -> Iterator[None]:
        if getattr(self._mine, "held", False):
            yield
            return
        with self._slots:
            self._mine.held = True
            try:
                yield
            finally:
                self._mine.held = False


@contextmanager
def uow() -> Iterator[Session]:
    """One transaction for a route or socket handler: commit on success, roll back on error."""
    slots = ctx().write_slots  # PostgreSQL; on SQLite the writer lock's turn (core.db)
    with slots() if slots is not None else write_turn(ctx().engine):
        with unit_of_work(ctx().sessions) as session:
            yield session


@contextmanager
def batched_uow() -> Iterator[Session]:
    """``uow`` for the handheld's scans: on SQLite the transaction may be shared with other
    handhelds' scans (``core.db.batched_unit_of_work``); on PostgreSQL it is ``uow``."""
    if ctx().write_slots is not None:
        with uow() as session:
            yield session
    else:
        with batched_unit_of_work(ctx().sessions) as session:
            yield session


@contextmanager
def reading() -> Iterator[Session]:
    """A transaction that only reads (a page, a snapshot): it never waits for the writer."""
    with unit_of_work(ctx().readers) as session:
        yield session
