"""core.writer_lock.WriteBatch through core.db.batched_unit_of_work: on SQLite, units of work
of several threads that wait for the writer lock share one transaction (each in a savepoint)
and one commit; none returns before that commit, a failing unit takes only its own changes
back, a failed commit fails every unit, and writers that do not join batches keep their place."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session, sessionmaker

import core.writer_lock
from core.db import (
    batched_unit_of_work,
    make_engine,
    make_session_factory,
    single_reads,
    unit_of_work,
)
from core.events import on_commit, publish
from core.writer_lock import write_turn, writer_priority


@pytest.fixture(autouse=True)
def _batches_wait_for_the_test(monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch here stays open as long as unit 0 holds it while the others get in line, which
    took longer than ``BATCH_AGE_S`` (20 ms) on a loaded CI machine: unit 0 then committed
    alone. The age limit has its own test, which sets it."""
    monkeypatch.setattr(core.writer_lock, "BATCH_AGE_S", 60.0)


@dataclass
class Floor:
    engine: Engine
    factory: sessionmaker[Session]
    commits: list[int] = field(default_factory=list)  # one entry per COMMIT
    done: dict[int, list[int]] = field(default_factory=dict)  # unit -> rows stored at its return
    failed: dict[int, BaseException] = field(default_factory=dict)
    order: list[int] = field(default_factory=list)  # units in the order they wrote

    def stored(self) -> list[int]:
        with single_reads(self.engine).connect() as conn:
            return sorted(r[0] for r in conn.exec_driver_sql("SELECT x FROM t"))

    def queued(self) -> int:
        lock = core.writer_lock._WRITER_LOCKS[self.engine]
        return len(lock._queue) + len(lock._urgent)

    def unit(self, n: int, work: Callable[[Session], Any] | None = None) -> None:
        """Insert ``n`` in a batched unit of work (then ``work(session)``)."""
        try:
            with batched_unit_of_work(self.factory) as s:
                self.order.append(n)
                s.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})
                if work is not None:
                    work(s)
            self.done[n] = self.stored()
        except Exception as exc:
            self.failed[n] = exc


@contextlib.contextmanager
def _floor(path: Path) -> Iterator[Floor]:
    engine = make_engine(f"sqlite:///{path}")
    factory = make_session_factory(engine)
    with unit_of_work(factory) as s:
        s.execute(text("CREATE TABLE t (x INTEGER PRIMARY KEY)"))
        s.execute(text("CREATE TABLE p (id INTEGER PRIMARY KEY)"))
        s.execute(
            text("CREATE TABLE c (p INTEGER REFERENCES p (id) DEFERRABLE INITIALLY DEFERRED)")
        )
    floor = Floor(engine, factory)
    event.listen(engine, "commit", lambda _conn: floor.commits.append(1))
    yield floor
    engine.dispose()


@contextlib.contextmanager
def _while_one_works(floor: Floor, waiting: list[threading.Thread]) -> Iterator[None]:
    """Unit 0 holds the writer lock until the ``waiting`` threads (started here) all wait in
    line; the block runs while it holds it, then it finishes and everything is joined."""
    working, finish = threading.Event(), threading.Event()

    def hold(_s: Session) -> None:
        working.set()
        assert finish.wait(10)

    first = threading.Thread(target=floor.unit, args=(0, hold))
    first.start()
    assert working.wait(5)
    for t in waiting:
        t.start()
        deadline = time.monotonic() + 5
        while floor.queued() < waiting.index(t) + 1 and time.monotonic() < deadline:
            time.sleep(0.005)  # one at a time, so they wait in this order
    assert floor.queued() == len(waiting)
    try:
        yield
    finally:
        finish.set()
        for t in [first, *waiting]:
            t.join(10)


def _units(
    floor: Floor, *ns: int, work: Callable[[Session], Any] | None = None
) -> list[threading.Thread]:
    return [threading.Thread(target=floor.unit, args=(n, work)) for n in ns]


def test_units_waiting_for_the_writer_share_one_commit_and_return_after_it(tmp_path) -> None:
    with _floor(tmp_path / "b.sqlite3") as floor:
        with _while_one_works(floor, _units(floor, 1, 2, 3)):
            assert floor.stored() == []
        assert len(floor.commits) == 1
        assert floor.order == [0, 1, 2, 3]
        # every unit, the first included, returned only once all four were on disk
        assert floor.done == {n: [0, 1, 2, 3] for n in range(4)}
        assert floor.failed == {}


def test_a_failing_unit_takes_back_only_its_own_changes(tmp_path) -> None:
    def refuse(_s: Session) -> None:
        raise ValueError("wrong item")

    with _floor(tmp_path / "b.sqlite3") as floor:
        waiting = [*_units(floor, 1), *_units(floor, 2, work=refuse), *_units(floor, 3)]
        with _while_one_works(floor, waiting):
            pass
        assert len(floor.commits) == 1
        assert floor.stored() == [0, 1, 3]
        assert isinstance(floor.failed.pop(2), ValueError)
        assert floor.failed == {}


def test_savepoints_nest_roll_back_and_release_and_every_statement_is_heard(tmp_path) -> None:
    """The batch's savepoints go to SQLite as plain statements (``core.db._plain_savepoints``):
    what they do is SQLite's, and the statement listeners (the benchmarks' SQL counts) hear
    each of them."""
    with _floor(tmp_path / "b.sqlite3") as floor:
        heard: list[str] = []
        event.listen(floor.engine, "before_cursor_execute", lambda *a: heard.append(a[2]))
        with floor.engine.connect() as conn:
            conn.begin()
            outer = conn.begin_nested()
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
            inner = conn.begin_nested()
            conn.exec_driver_sql("INSERT INTO t VALUES (2)")
            inner.rollback()  # takes back 2, not 1
            kept = conn.begin_nested()
            conn.exec_driver_sql("INSERT INTO t VALUES (3)")
            kept.commit()
            outer.commit()
            conn.commit()
        assert floor.stored() == [1, 3]
        verbs = [q.rsplit(" ", 1)[0] for q in heard if "SAVEPOINT" in q]
        assert verbs == [
            "SAVEPOINT",
            "SAVEPOINT",
            "ROLLBACK TO SAVEPOINT",
            "SAVEPOINT",
            "RELEASE SAVEPOINT",
            "RELEASE SAVEPOINT",
        ]


def test_a_failed_commit_fails_every_unit_of_the_batch_and_writes_nothing(tmp_path) -> None:
    def orphan(s: Session) -> None:  # a deferred foreign key: refused at COMMIT, not before
        s.execute(text("INSERT INTO c VALUES (99)"))

    with _floor(tmp_path / "b.sqlite3") as floor:
        with _while_one_works(floor, [*_units(floor, 1), *_units(floor, 2, work=orphan)]):
            pass
        assert sorted(floor.failed) == [0, 1, 2]
        assert "FOREIGN KEY" in str(floor.failed[0]) and "FOREIGN KEY" in str(floor.failed[2])
        assert floor.stored() == []
        floor.unit(7)  # the writer lock is free again, and the next batch commits
        assert floor.done[7] == [7]


def test_events_reach_listeners_only_once_the_batch_is_on_disk(tmp_path) -> None:
    with _floor(tmp_path / "b.sqlite3") as floor:
        heard: list[tuple[list[Any], list[int]]] = []
        on_commit(
            floor.factory, lambda evs: heard.append(([e.data["n"] for e in evs], floor.stored()))
        )

        def tell(n: int) -> Callable[[Session], None]:
            return lambda s: publish(s, "row.added", {"n": n})

        waiting = [threading.Thread(target=floor.unit, args=(n, tell(n))) for n in (1, 2)]
        with _while_one_works(floor, waiting):
            pass
        assert heard == [([1], [0, 1, 2]), ([2], [0, 1, 2])]
        floor.unit(5, tell(5))  # alone: told at its own commit
        assert heard[-1] == ([5], [0, 1, 2, 5])


def test_a_writer_that_does_not_join_batches_writes_right_after_the_batch_before_it(
    tmp_path,
) -> None:
    """The print worker's priority step and any plain ``write_turn`` keep their place in line:
    the batch before them commits, and units that came after them start the next batch."""
    with _floor(tmp_path / "b.sqlite3") as floor:

        def plain(n: int, urgent: bool) -> None:
            with (
                writer_priority() if urgent else contextlib.nullcontext(),
                write_turn(floor.engine),
                unit_of_work(floor.factory) as s,
            ):
                floor.order.append(n)
                s.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})

        waiting = [
            *_units(floor, 1),
            threading.Thread(target=plain, args=(10, False)),
            *_units(floor, 2, 3),
            threading.Thread(target=plain, args=(20, True)),
        ]
        with _while_one_works(floor, waiting):
            pass
        # the priority writer first, so unit 0's batch committed alone; unit 1 could not pass
        # its batch to the plain writer 10; units 2 and 3 shared theirs
        assert floor.order == [0, 20, 1, 10, 2, 3]
        assert len(floor.commits) == 5
        assert floor.stored() == [0, 1, 2, 3, 10, 20]
        assert floor.failed == {}


def test_a_batch_takes_at_most_batch_members_units_and_none_past_its_age(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(core.writer_lock, "BATCH_MEMBERS", 2)
    with _floor(tmp_path / "b.sqlite3") as floor:
        with _while_one_works(floor, _units(floor, 1, 2, 3, 4)):
            pass
        assert len(floor.commits) == 3  # (0, 1), (2, 3), (4)
        assert floor.stored() == [0, 1, 2, 3, 4]
    monkeypatch.setattr(core.writer_lock, "BATCH_MEMBERS", 16)
    monkeypatch.setattr(core.writer_lock, "BATCH_AGE_S", 0.0)
    with _floor(tmp_path / "c.sqlite3") as floor:
        with _while_one_works(floor, _units(floor, 1, 2)):
            pass
        assert len(floor.commits) == 3
        assert floor.stored() == [0, 1, 2]
