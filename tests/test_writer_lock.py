"""core.writer_lock.WriterLock: re-entrant per thread, one writer at a time, in the order they came,
priority writers first."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import OperationalError

import core.db
import core.writer_lock
from core.db import make_engine, make_session_factory, single_reads, unit_of_work
from core.writer_lock import WriterLock, write_turn, writer_priority


def test_one_writer_at_a_time_and_reentrant() -> None:
    lock = WriterLock()
    lock.acquire(1)
    lock.acquire(2)  # the same thread again (a second connection): no deadlock
    got = threading.Event()

    def other() -> None:
        lock.acquire(3)
        got.set()
        lock.release(3)

    t = threading.Thread(target=other)
    t.start()
    assert not got.wait(0.1)
    lock.release(2)
    assert not got.wait(0.1)  # still held once
    lock.release(1)
    assert got.wait(2)
    t.join()
    lock.release(99)  # a connection that holds nothing: ignored


def test_priority_writer_goes_before_writers_that_waited_longer() -> None:
    lock = WriterLock()
    lock.acquire(0)
    order: list[str] = []

    def writer(name: str, conn: int, urgent: bool) -> None:
        if urgent:
            with writer_priority():
                lock.acquire(conn)
        else:
            lock.acquire(conn)
        order.append(name)
        time.sleep(0.01)
        lock.release(conn)

    threads = [threading.Thread(target=writer, args=(f"n{i}", i + 1, False)) for i in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.1)  # the three ordinary writers wait
    urgent = threading.Thread(target=writer, args=("urgent", 10, True))
    urgent.start()
    time.sleep(0.1)
    lock.release(0)
    for t in [*threads, urgent]:
        t.join(5)
    assert order[0] == "urgent" and sorted(order[1:]) == ["n0", "n1", "n2"]


def test_a_writer_that_times_out_leaves_the_queue_and_is_never_handed_the_lock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(core.writer_lock, "WRITER_WAIT_S", 0.1)
    lock = WriterLock()
    lock.acquire(0)
    failed: list[Exception] = []

    def impatient() -> None:
        try:
            lock.acquire(1)
        except sqlite3.OperationalError as exc:
            failed.append(exc)

    t = threading.Thread(target=impatient)
    t.start()
    t.join(5)
    assert failed and "database is locked" in str(failed[0])
    lock.release(0)
    got = threading.Event()
    other = threading.Thread(target=lambda: (lock.acquire(2), got.set(), lock.release(2)))
    other.start()
    assert got.wait(2)  # free, not handed to the writer that gave up
    other.join()


def test_a_writer_in_a_loop_cannot_keep_the_lock_from_one_that_waits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A thread that writes in a loop took the lock back before the writer it woke ran, again
    and again: the other writers waited the whole time-out and failed with "database is
    locked" (a handheld's next task, a label's step to ``sending``). Now a writer that has
    waited ``HANDOFF_AFTER_S`` is handed the lock at the next release."""
    monkeypatch.setattr(core.writer_lock, "WRITER_WAIT_S", 2.0)
    lock = WriterLock()
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            lock.acquire(1)
            time.sleep(0.0005)  # its statements (SQLite lets other threads run meanwhile)
            lock.release(1)

    busy = threading.Thread(target=loop)
    busy.start()
    try:
        for _ in range(50):  # raises "database is locked" if the loop keeps the lock 2 s
            lock.acquire(2)
            lock.release(2)
            time.sleep(0.001)
    finally:
        stop.set()
        busy.join(5)


def test_a_single_read_needs_no_begin_never_waits_for_a_writer_and_reads_the_last_commit(
    tmp_path,
) -> None:
    """``core.db.single_reads`` (the log-in check of every request and socket event): one
    statement on SQLite, no BEGIN; it does not wait while a writer holds the database, sees
    only what was committed, and leaves the writer lock free."""
    engine = make_engine(f"sqlite:///{tmp_path / 'reads.sqlite3'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (v INTEGER)"))
    reads = single_reads(engine)
    sent: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: sent.append(a[2]))
    with engine.connect() as writer:
        writer.execute(text("INSERT INTO t VALUES (1)"))  # BEGIN IMMEDIATE: the writer holds it
        sent.clear()
        started = time.monotonic()
        with reads.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 0
        assert time.monotonic() - started < 1.0  # no wait for the writer
        assert sent == ["SELECT count(*) FROM t"]  # no BEGIN
        writer.commit()
    with reads.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 1
    with engine.begin() as conn:  # a read left no lock behind: the next writer goes at once
        conn.execute(text("INSERT INTO t VALUES (2)"))
    engine.dispose()


@contextlib.contextmanager
def _turn_held(path: Path) -> Iterator[tuple[Engine, Callable[[int], None]]]:
    """A SQLite database with a table ``t`` and a writer at work: it holds its ``write_turn``
    (having written 0) until the block ends. Yields the engine and ``write(n)``: insert ``n``
    in a unit of work that takes its turn first."""
    engine = make_engine(f"sqlite:///{path}")
    factory = make_session_factory(engine)
    with unit_of_work(factory) as s:
        s.execute(text("CREATE TABLE t (x INTEGER)"))
    working, finish = threading.Event(), threading.Event()

    def write(n: int, hold: bool = False) -> None:
        with write_turn(engine), unit_of_work(factory) as s:
            s.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})
            if hold:
                working.set()
                finish.wait(10)

    first = threading.Thread(target=write, args=(0, True))
    first.start()
    assert working.wait(5)
    try:
        yield engine, write
    finally:
        finish.set()
        first.join(10)


def _stored(engine: Engine) -> list[int]:
    with single_reads(engine).connect() as conn:
        return sorted(r[0] for r in conn.exec_driver_sql("SELECT x FROM t"))


def test_writers_waiting_for_their_turn_hold_no_pooled_connection(tmp_path) -> None:
    """``write_turn`` (every socket event's and request's unit of work): 20 writers queued
    behind one hold no connection, so a log-in check's read finds one at once; each writes
    once when its turn comes."""
    with _turn_held(tmp_path / "turns.sqlite3") as (engine, write):
        queued = [threading.Thread(target=write, args=(n,)) for n in range(1, 21)]
        for t in queued:
            t.start()
        time.sleep(0.3)
        assert engine.pool.checkedout() == 1  # the writer at work; the 20 hold nothing
        started = time.monotonic()
        with single_reads(engine).connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 0
        assert time.monotonic() - started < 1.0
    for t in queued:
        t.join(30)
    assert _stored(engine) == list(range(21))
    engine.dispose()


def test_a_writer_that_waits_too_long_for_its_turn_gets_sqlalchemys_busy_error(
    tmp_path, monkeypatch
) -> None:
    """Past ``WRITER_WAIT_S`` the turn ends in SQLAlchemy's ``OperationalError`` (as a timed-out
    BEGIN: the API answers 503 ``unavailable``), holding nothing and writing nothing."""
    monkeypatch.setattr(core.writer_lock, "WRITER_WAIT_S", 0.2)
    failed: list[BaseException] = []

    def late(write: Callable[[int], None]) -> None:
        try:
            write(1)
        except OperationalError as exc:
            failed.append(exc)

    with _turn_held(tmp_path / "late.sqlite3") as (engine, write):
        second = threading.Thread(target=late, args=(write,))
        second.start()
        second.join(5)
        assert engine.pool.checkedout() == 1  # only the holder's: the late writer held none
    assert len(failed) == 1 and "database is locked" in str(failed[0])
    assert _stored(engine) == [0]
    engine.dispose()


def test_begin_runs_on_the_driver_connection_heard_by_listeners_and_fails_as_sqlalchemys(
    tmp_path,
) -> None:
    """``BEGIN IMMEDIATE`` (a write) and ``BEGIN`` (a read-only transaction) go to the sqlite3
    connection directly; the statement listeners still hear each, and a ``BEGIN IMMEDIATE``
    that meets another process's write lock fails as SQLAlchemy's ``OperationalError``."""
    path = tmp_path / "begin.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (v INTEGER)"))
    sent: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: sent.append(a[2]))
    with unit_of_work(make_session_factory(engine)) as s:
        s.execute(text("INSERT INTO t VALUES (1)"))
    with unit_of_work(make_session_factory(core.db.read_only(engine))) as s:
        assert s.execute(text("SELECT count(*) FROM t")).scalar() == 1
    assert sent == [
        "BEGIN IMMEDIATE",
        "INSERT INTO t VALUES (1)",
        "BEGIN",
        "SELECT count(*) FROM t",
    ]
    other = sqlite3.connect(path, isolation_level=None)  # another process's writer, in effect
    other.execute("BEGIN IMMEDIATE")
    try:
        busy = make_engine(f"sqlite:///{path}")
        event.listen(busy, "connect", lambda c, _r: c.execute("PRAGMA busy_timeout=50"))
        with pytest.raises(OperationalError, match="locked"), busy.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (2)"))
        assert 2 not in [r[0] for r in other.execute("SELECT v FROM t")]
        busy.dispose()
    finally:
        other.rollback()
        other.close()
    engine.dispose()
