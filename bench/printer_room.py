"""Virtual Zebras for the printing benchmark, in a process of their own (as printers are
devices of their own: their threads do not take the server process's GIL), each noting when a
label's last byte arrived."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable
from typing import Any

from printing.virtual_zebra import VirtualZebra


class TimedZebra(VirtualZebra):
    """A virtual Zebra that notes when each label's last byte arrived (``time.perf_counter``:
    CLOCK_MONOTONIC on Linux, the same clock in every process of the machine)."""

    def __init__(self, arrived: Callable[[float], None] | None = None) -> None:
        super().__init__(0)
        self.arrived = arrived

    def _keep(self, label: str) -> None:
        at = time.perf_counter()
        super()._keep(label)
        if self.arrived is not None:
            self.arrived(at)


def _printer_room(count: int, conn: Any) -> None:
    """The printers' own process: ``count`` timed virtual Zebras; sends their ports, then
    ``(index, arrival time)`` per label, until told to stop."""
    lock = threading.Lock()

    def arrived(index: int) -> Callable[[float], None]:
        def note(at: float) -> None:
            with lock:
                conn.send((index, at))

        return note

    zebras = [TimedZebra(arrived(i)).start() for i in range(count)]
    conn.send([z.port for z in zebras])
    conn.recv()  # stop
    for zebra in zebras:
        zebra.stop()


class PrinterRoom:
    """Virtual Zebras in a process of their own, as printers are devices of their own: their
    threads do not take the server process's GIL. Arrival times come back through a pipe."""

    def __init__(self, count: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_printer_room, args=(count, child), daemon=True)
        self.proc.start()
        self.ports: list[int] = self.conn.recv()
        self.arrivals: list[list[float]] = [[] for _ in self.ports]

    def count(self, index: int) -> int:
        self._drain(0)
        return len(self.arrivals[index])

    def wait(self, index: int, count: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while len(self.arrivals[index]) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._drain(left)
        return True

    def _drain(self, timeout_s: float) -> None:
        if self.conn.poll(timeout_s):
            while self.conn.poll(0):
                index, at = self.conn.recv()
                self.arrivals[index].append(at)

    def stop(self) -> None:
        self.conn.send("stop")
        self.proc.join(timeout=10)
