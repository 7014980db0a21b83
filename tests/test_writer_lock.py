"""core.db.WriterLock: re-entrant per thread, one writer at a time, priority writers first."""

from __future__ import annotations

import threading
import time

from core.db import WriterLock, writer_priority


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
