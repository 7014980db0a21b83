"""One server process, one CPU (core.affinity, FLOOR_SERVER_CPU): what `flask serve` does with
it, checked on the real process's threads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.affinity import choose_cpu
from tests.factories import free_port, start_server, stop, wait_healthy

ALLOWED = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
needs_two = pytest.mark.skipif(len(ALLOWED) < 2, reason="this machine lets us use one CPU only")


def _thread_cpus(pid: int) -> list[set[int]]:
    """The CPUs each live thread of ``pid`` may run on (a thread that ended between the listing
    and the question, e.g. the health check's request thread, is left out)."""
    cpus = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            cpus.append(os.sched_getaffinity(int(tid)))
        except ProcessLookupError:
            continue
    return cpus


@needs_two
def test_auto_spreads_processes_over_the_cpus_and_off_or_nonsense_does_not_pin():
    assert [choose_cpu("auto", i) for i in range(len(ALLOWED))] == ALLOWED
    assert choose_cpu("auto", len(ALLOWED)) == ALLOWED[0]  # process n+1 shares the first
    assert choose_cpu("off") is None
    assert choose_cpu(str(ALLOWED[-1])) == ALLOWED[-1]
    assert choose_cpu("4096") is None  # not a CPU of this machine: warned, not pinned
    with pytest.raises(ValueError, match="FLOOR_SERVER_CPU"):
        choose_cpu("fast")


@needs_two
def test_flask_serve_runs_every_thread_on_one_cpu_and_says_which(tmp_path: Path):
    port = free_port()
    proc = start_server(tmp_path / "floor.sqlite3", port, "--demo")
    try:
        wait_healthy(port, proc)
        cpus = _thread_cpus(proc.pid)
    finally:
        out = stop(proc)
    assert len(cpus) > 3, "the server runs its workers in threads"
    assert all(len(c) == 1 for c in cpus) and len({frozenset(c) for c in cpus}) == 1, cpus
    assert f"Runs on CPU {next(iter(cpus[0]))}" in out


@needs_two
def test_flask_serve_with_off_leaves_the_scheduler_free(tmp_path: Path):
    port = free_port()
    proc = start_server(tmp_path / "floor.sqlite3", port, FLOOR_SERVER_CPU="off")
    try:
        wait_healthy(port, proc)
        cpus = _thread_cpus(proc.pid)
    finally:
        out = stop(proc)
    assert all(c == set(ALLOWED) for c in cpus), cpus
    assert "Runs on CPU" not in out


def test_serve_prod_refuses_a_cpu_setting_it_cannot_read():
    from types import SimpleNamespace

    from web.serve_prod import refuse

    args = SimpleNamespace(workers=1, keep_alive=5)
    env = {"FLOOR_SECRET_KEY": "affinity-test-secret-key"}
    assert refuse(args, env) is None
    assert "FLOOR_SERVER_CPU" in (refuse(args, {**env, "FLOOR_SERVER_CPU": "fast"}) or "")
