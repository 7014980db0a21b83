"""`make run`'s command as a process (`serve --demo`): migrate, load the demo once, serve, stop,
start again. Without --demo an empty database stays empty (tests/security/test_blackbox.py)."""

from __future__ import annotations

import requests

from tests.factories import csrf_token, free_port, start_server, stop, wait_healthy


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
    finally:
        out = stop(proc)
    assert "Traceback" not in out
    assert "POST /login HTTP/1.1" in out  # --access-log: a line per request
