"""`make serve-prod` as real processes: gunicorn -k gevent, one process per port.

* Two processes on PostgreSQL + Redis: a picker's scan through a handheld on one reaches the
  same picker's second handheld connected to the other (the Socket.IO message queue), and the
  scheduled jobs elect one leader.
* The slow-client attack (issue 10 item 1): 1,000 half-open connections to one process;
  ``/healthz`` keeps answering within a bound, the server closes them after ``--keep-alive``
  and its memory and threads come back.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import requests
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from core.db import make_engine, unit_of_work
from floor.fulfilment.models import Wave
from floor.fulfilment.states import WAVE_MACHINE, WaveStatus
from printing.models import Printer
from tests.api.test_actions import _task_for
from tests.factories import (
    OMS_AUTH,
    csrf_token,
    http_login,
    make_test_app,
    order_payload,
    socket_for,
)
from tests.services import REDIS_URL, skip_or_fail
from web.scheduler import SchedulerLeader

ROOT = Path(__file__).resolve().parent.parent
BADGE = "BADGE-PICKER-1"  # the demo picker pat


def _two_free_ports() -> int:
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no two consecutive free ports")


def _serve_prod(db_url: str, workers: int, port: int, *extra: str, **env: str):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FLOOR_")}
    environ.update(FLOOR_DATABASE_URL=db_url, FLOOR_SECRET_KEY="serve-prod-test-secret", **env)
    return subprocess.Popen(
        [sys.executable, "-m", "web.serve_prod", "--workers", str(workers),
         "--base-port", str(port), *extra],
        cwd=ROOT, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (the gunicorn masters and their workers)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, todo = [], [pid]
    while todo:
        of = todo.pop()
        kids = [p for p, parent in parents.items() if parent == of]
        found += kids
        todo += kids
    return found


def _healthy(url: str, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve-prod exited: {proc.stdout.read() if proc.stdout else ''}")
        try:
            if requests.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not become healthy")


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        for pid in _descendants(proc.pid):  # each gunicorn master has a session of its own
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=10)
    return out or ""


def test_ctrl_c_stops_every_process_quietly(sqlite_url):
    """A terminal's Ctrl-C sends SIGINT to the whole foreground group: every process stops,
    exit 0, and no worker prints a traceback on the way."""
    port = _two_free_ports()
    proc = _serve_prod(sqlite_url, 1, port)
    out = ""
    try:
        _healthy(f"http://127.0.0.1:{port}", proc)
        children = _descendants(proc.pid)
        assert len(children) >= 2  # the gunicorn master and its worker
        os.killpg(proc.pid, signal.SIGINT)  # what the terminal does
        out, _ = proc.communicate(timeout=30)
    finally:
        out = _stop(proc) if proc.poll() is None else out
    assert proc.returncode == 0, out
    assert "Traceback" not in out, out
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in children if Path(f"/proc/{pid}").exists()]


def test_two_processes_share_changes_through_redis(pg_templates):
    if not REDIS_URL:
        skip_or_fail("REDIS_URL is not set: two processes need the Socket.IO message queue")
    name = pg_templates.new("demo")
    db_url = pg_templates.url_for(name)
    setup = make_test_app(db_url)
    try:
        oms = setup.test_client()
        r = oms.post("/api/v1/orders", json=order_payload("SP-1"), headers=OMS_AUTH)
        assert r.status_code == 201, r.get_data(as_text=True)
        sessions = setup.extensions["floor"].sessions
        task_id, _ = _task_for(sessions, "SP-1", "pat")
        with unit_of_work(sessions) as s:  # release its wave: the handheld may work on it
            WAVE_MACHINE.move(
                s.scalars(select(Wave).where(Wave.code == "W-SP-1")).one(), WaveStatus.released
            )
    finally:
        setup.extensions["floor"].engine.dispose()
    port = _two_free_ports()
    printers = "PACK-01=tcp://127.0.0.1:9100,ARCHIVE=file:///tmp/floor-serve-prod-labels"
    proc = _serve_prod(db_url, 2, port, FLOOR_REDIS_URL=REDIS_URL, FLOOR_PRINTERS=printers)
    one = SimpleNamespace(url=f"http://127.0.0.1:{port}")
    two = SimpleNamespace(url=f"http://127.0.0.1:{port + 1}")
    a = b = None
    try:
        _healthy(one.url, proc)
        _healthy(two.url, proc)
        if len(os.sched_getaffinity(0)) >= 2:  # process i on the i-th CPU (core.affinity)
            cpus = {frozenset(os.sched_getaffinity(pid)) for pid in _descendants(proc.pid)}
            first_two = sorted(os.sched_getaffinity(0))[:2]
            assert cpus == {frozenset({first_two[0]}), frozenset({first_two[1]})}, cpus
        a = socket_for(one.url, badge=BADGE)  # pat's handheld on process 1
        b = socket_for(two.url, badge=BADGE)  # pat's second handheld on process 2
        seen: list[dict] = []
        got = threading.Event()

        @b.on("task.updated", namespace="/floor")
        def _on(data):  # noqa: ANN001
            if data.get("id") == task_id:
                seen.append(data)
                got.set()

        task = a.call("task:next", namespace="/floor", timeout=10)["task"]
        assert task["id"] == task_id
        ack = a.call(
            "scan",
            {"task_id": task_id, "code": task["sku"]["code"], "client_scan_id": "sp-1"},
            namespace="/floor",
            timeout=10,
        )
        assert ack["ok"] and ack["result"] == "ok", ack
        assert got.wait(10), "the scan on process 1 never reached the handheld on process 2"
        assert seen[0]["picked_qty"] == 1
        # Through process 2 the same task reads the same state: one database.
        again = b.call("task:next", namespace="/floor", timeout=10)["task"]
        assert again is None or again["id"] != task_id or again["picked_qty"] == 1
        # FLOOR_PRINTERS was written into the printers table once, before the processes.
        engine = make_engine(db_url)
        try:
            with unit_of_work(sessionmaker(engine)) as s:
                rows = {p.name: p for p in s.scalars(select(Printer))}
                assert rows["PACK-01"].uri == "tcp://127.0.0.1:9100"
                assert rows["PACK-01"].station_location_id is not None  # station PACK-01's
                assert rows["ARCHIVE"].uri == "file:///tmp/floor-serve-prod-labels"
        finally:
            engine.dispose()
        # A logout through either process closes the picker's sockets on the other one too,
        # whichever of them runs the scheduler (each process sweeps its own sockets).
        for through in (one, two):
            other = b if through is one else a  # the socket on the process not logged out on
            page = http_login(through.url, badge=BADGE)
            token = csrf_token(page.get(through.url + "/handheld", timeout=10).text)
            page.post(through.url + "/logout", data={"csrf_token": token}, timeout=10)
            deadline = time.monotonic() + 15
            while other.connected and time.monotonic() < deadline:
                time.sleep(0.2)
            assert not other.connected, f"logged out through {through.url}: a socket stayed"
            a, b = socket_for(one.url, badge=BADGE), socket_for(two.url, badge=BADGE)
    finally:
        for c in (a, b):
            if c is not None:
                c.disconnect()
        out = _stop(proc)
        print(out)  # shown when the test fails
        pg_templates.drop(name)
    assert "Traceback" not in out, out


def test_scheduler_runs_in_one_process_and_moves_when_it_stops(pg_templates):
    name = pg_templates.new("empty")
    engines = [make_engine(pg_templates.url_for(name)) for _ in range(2)]
    schedulers = [SimpleNamespace(running=False) for _ in range(2)]
    for sch in schedulers:
        sch.start = lambda sch=sch: setattr(sch, "running", True)
        sch.shutdown = lambda wait=False, sch=sch: setattr(sch, "running", False)
    leaders = [SchedulerLeader(s, e, retry_s=0.2) for s, e in zip(schedulers, engines, strict=True)]
    try:
        leaders[0].start()
        deadline = time.monotonic() + 5
        while not schedulers[0].running and time.monotonic() < deadline:
            time.sleep(0.05)
        leaders[1].start()
        time.sleep(0.6)
        assert [s.running for s in schedulers] == [True, False]  # still one
        leaders[0].stop()  # the leader's process goes away: its lock with it
        deadline = time.monotonic() + 5
        while not schedulers[1].running and time.monotonic() < deadline:
            time.sleep(0.1)
        assert schedulers[1].running
    finally:
        for leader in leaders:
            leader.stop()
        for e in engines:
            e.dispose()
        pg_templates.drop(name)


def _tree(pid: int) -> tuple[int, int]:
    """(RSS KiB, threads) of a process and its children."""
    rss = threads = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            ppid = int(status.split("PPid:")[1].split()[0])
        except (OSError, IndexError):
            continue
        if int(entry.name) == pid or ppid == pid:
            fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
            rss += int(fields.get("VmRSS", "0 kB").split()[0])
            threads += int(fields["Threads"])
    return rss, threads


SLOW = 1000  # half-open connections (bounded; 127.0.0.1 only)


def test_slow_clients_do_not_take_the_server_down(sqlite_url):
    port = _two_free_ports()
    proc = _serve_prod(sqlite_url, 1, port)
    url = f"http://127.0.0.1:{port}"
    socks: list[socket.socket] = []
    try:
        _healthy(url, proc)
        requests.get(url + "/healthz", timeout=2)
        time.sleep(0.5)
        before = _tree(proc.pid)
        for _ in range(SLOW):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-a: b\r\n")  # never ends
            socks.append(s)
        during = []
        for _ in range(4):
            t0 = time.monotonic()
            r = requests.get(url + "/healthz", timeout=3)
            during.append((r.status_code, time.monotonic() - t0))
            time.sleep(0.5)
        assert all(code == 200 for code, _ in during), during
        assert max(t for _, t in during) < 2.0, during
        # --keep-alive 5: the server closes them (a read returns EOF), not us.
        time.sleep(6)
        closed = 0
        for s in socks:
            s.settimeout(0.01)
            try:
                closed += s.recv(1) == b""
            except (TimeoutError, BlockingIOError):
                pass
            except OSError:
                closed += 1
        assert closed >= SLOW * 0.95, f"only {closed} of {SLOW} closed by the server"
        for s in socks:
            s.close()
        socks.clear()
        time.sleep(1)
        after = _tree(proc.pid)
        assert requests.get(url + "/healthz", timeout=2).status_code == 200
        assert after[1] <= before[1] + 2, (before, after)  # no thread per connection
        assert after[0] < before[0] + 60 * 1024, (before, after)  # RSS KiB back within 60 MiB
    finally:
        for s in socks:
            s.close()
        out = _stop(proc)
    assert "Traceback" not in out, out
