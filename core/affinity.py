"""One server process, one CPU (``FLOOR_SERVER_CPU``).

A server process runs its Python on one core at a time anyway (the GIL), but left free its
threads (requests, sockets, the print worker, the dashboard) hop between cores each time the
GIL changes hands, and every hand-over to a thread sleeping on another core costs a cross-core
wake-up. Pinned to one CPU the same work costs less: on the 2-core benchmark machine 20 pack
stations closing at once took 20-25 % less CPU per close and the p95 to the last label byte
fell accordingly (docs/benchmarks.md). The database, Redis and the other server processes get
the other cores.

``FLOOR_SERVER_CPU``: ``auto`` (the default) pins each server process to one of the CPUs it may
use (process *i* of ``make serve-prod`` to the *i*-th, ``flask serve`` by its process id);
``off`` leaves the scheduler free; a number pins to that CPU. Linux only; elsewhere, and
where the CPU is not available, it does nothing and says so.
"""

from __future__ import annotations

import contextlib
import logging
import os

log = logging.getLogger(__name__)


def choose_cpu(setting: str, index: int | None = None) -> int | None:
    """The CPU a server process should run on, or None (``off``, not Linux, one CPU only).
    ``index``: the process's place among several (``serve-prod``); else its process id."""
    value = setting.strip().lower()
    if value in ("off", "") or not hasattr(os, "sched_getaffinity"):
        return None
    allowed = sorted(os.sched_getaffinity(0))
    if value == "auto":
        if len(allowed) < 2:
            return None
        return allowed[(os.getpid() if index is None else index) % len(allowed)]
    if not value.isdigit():
        raise ValueError(f"FLOOR_SERVER_CPU: auto, off or a CPU number, not {setting!r}")
    cpu = int(value)
    if cpu not in allowed:
        log.warning(
            "FLOOR_SERVER_CPU=%s: not one of this machine's CPUs %s; not pinned", cpu, allowed
        )
        return None
    return cpu


def pin_process(pid: int, cpu: int) -> None:
    """Every thread of process ``pid`` (and those it starts later) runs on ``cpu`` only.
    Linux applies an affinity per thread, so each live thread is set."""
    try:
        tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except FileNotFoundError:
        tids = [pid]
    for tid in tids:
        with contextlib.suppress(ProcessLookupError, PermissionError):  # the thread ended
            os.sched_setaffinity(tid, {cpu})


def pin_this_process(setting: str, index: int | None = None) -> int | None:
    """Pin this process per ``setting`` (``choose_cpu``); returns the CPU, or None."""
    cpu = choose_cpu(setting, index)
    if cpu is not None:
        pin_process(os.getpid(), cpu)
    return cpu
