"""`make run`'s command as a process (`serve --demo`): migrate, load the demo once, serve, stop,
start again. Without --demo an empty database stays empty (tests/security/test_blackbox.py)."""

from __future__ import annotations

import re
import shutil
import signal
import sqlite3
import time

import requests

from tests.factories import (
    OMS_AUTH,
    csrf_token,
    free_port,
    order_payload,
    start_server,
    stop,
    wait_healthy,
)


def test_serve_migrates_loads_demo_prints_how_to_start_and_keeps_data(tmp_path):
    db = tmp_path / "floor.sqlite3"
    port = free_port()
    proc = start_server(db, port, "--demo")
    try:
        health = wait_healthy(port, proc)
        assert health["migrations"]["at_head"] is True
        login = requests.get(f"http://127.0.0.1:{port}/login", timeout=5)
        assert login.status_code == 200 and 'id="badge"' in login.text
    finally:
        out = stop(proc)
    assert f"http://127.0.0.1:{port}/" in out
    assert "GET /login HTTP/1.1" not in out  # no access log unless --access-log
    assert "production deployment" not in out  # no false alarm for a newcomer (stdin no tty)
    assert "BADGE-PICKER-1" in out and "supervisor-demo" in out
    assert "OMS API key: demo-oms-key-change-me" in out

    # Start again on the same database (without --demo): still healthy, demo data kept.
    proc = start_server(db, port, "--access-log")
    try:
        wait_healthy(port, proc)
        http = requests.Session()
        page = http.get(f"http://127.0.0.1:{port}/login", timeout=5).text
        token = csrf_token(page)
        r = http.post(
            f"http://127.0.0.1:{port}/login",
            data={"csrf_token": token, "username": "sam", "password": "supervisor-demo"},
            timeout=5,
        )
        assert r.status_code == 200 and r.url.endswith("/dashboard")
        _written_into_the_database_file(db, port, tmp_path)
    finally:
        out = stop(proc)
    assert "Traceback" not in out
    assert "POST /login HTTP/1.1" in out  # --access-log: a line per request


def _written_into_the_database_file(db, port, tmp_path):
    """What the running server committed reaches the database file itself within seconds, not
    only its write-ahead log: the served process checkpoints the WAL in the background (a
    commit does so only past 10,000 pages), so a copy of the file alone holds the order."""
    r = requests.post(
        f"http://127.0.0.1:{port}/api/v1/orders",
        json=order_payload("OMS-CHECKPOINTED"),
        headers=OMS_AUTH,
        timeout=10,
    )
    assert r.status_code == 201, r.text
    deadline = time.monotonic() + 10
    while True:
        copy = tmp_path / f"copy-{time.monotonic_ns()}.sqlite3"
        shutil.copyfile(db, copy)  # the main file only: no -wal beside it
        with sqlite3.connect(copy) as conn:
            found = conn.execute(
                "SELECT count(*) FROM orders WHERE external_id = 'OMS-CHECKPOINTED'"
            ).fetchone()[0]
        if found == 1:
            return
        assert time.monotonic() < deadline, "the order is still only in the WAL after 10 s"
        time.sleep(0.2)


def test_kill_int_and_kill_term_stop_the_server_cleanly(tmp_path):
    """``kill -INT`` stops a server started in the background by a script (which starts it with
    SIGINT ignored), and ``kill -TERM`` (systemd, docker stop) stops it the same way: exit 0."""
    db = tmp_path / "floor.sqlite3"
    for signum, ignore_sigint in ((signal.SIGINT, True), (signal.SIGTERM, False)):
        port = free_port()
        proc = start_server(db, port, "--demo", ignore_sigint=ignore_sigint)
        wait_healthy(port, proc)
        out = stop(proc, signum)
        assert proc.returncode == 0, (signum, out)
        assert "Traceback" not in out
        assert re.search(r"Stopped in \d+\.\d s; everything is in the database", out), out


def test_a_typo_in_floor_printers_stops_serve_with_the_entry_named(tmp_path):
    proc = start_server(
        tmp_path / "floor.sqlite3",
        free_port(),
        "--demo",
        FLOOR_PRINTERS="PACK-01=tcp://127.0.0.1:9100,PACK-02=tcp://127.0.0.1:",
    )
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "FLOOR_PRINTERS: PACK-02" in out and "needs a port" in out
    assert "Traceback" not in out


def test_a_second_serve_on_a_taken_port_stops_first_and_leaves_the_printers_alone(tmp_path):
    """`make run` twice: the second one started its own virtual Zebras, pointed both stations'
    printers in the shared database at them, then stopped on "Address already in use" — and
    the running server's labels went to listeners that were gone (unreachable, then
    printer_failed). Now it stops before touching anything, and says why."""
    db = tmp_path / "floor.sqlite3"
    port = free_port()
    first = start_server(db, port, "--demo")
    try:
        wait_healthy(port, first)
        with sqlite3.connect(db) as conn:
            before = conn.execute("SELECT name, uri FROM printers ORDER BY name").fetchall()
        assert before and all(uri.startswith("tcp://127.0.0.1:") for _, uri in before)
        second = start_server(db, port, "--demo")
        out, _ = second.communicate(timeout=60)
        assert second.returncode != 0
        assert f"127.0.0.1:{port} is in use" in out and "Traceback" not in out
        assert "Virtual Zebra" not in out  # stopped before start-up went on
        with sqlite3.connect(db) as conn:
            after = conn.execute("SELECT name, uri FROM printers ORDER BY name").fetchall()
        assert after == before
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
    finally:
        stop(first)


def test_a_floor_printers_without_an_entry_is_refused_not_taken_as_no_printers(tmp_path):
    """FLOOR_PRINTERS=' ' (an env file's stray space) or ',' was 'set', so serve started no
    virtual printers, and it named no printer, so every configured one lost its station."""
    for raw in (" ", " , "):
        proc = start_server(tmp_path / "floor.sqlite3", free_port(), "--demo", FLOOR_PRINTERS=raw)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode != 0
        assert "FLOOR_PRINTERS names no printer" in out and "Traceback" not in out
