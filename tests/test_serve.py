"""`make run`'s command as a process (`serve --demo`): migrate, load the demo once, serve, stop,
start again. Without --demo an empty database stays empty (tests/security/test_blackbox.py)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(db_path: Path, port: int, *args: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "FLOOR_DATABASE_URL": f"sqlite:///{db_path}",
        "FLOOR_PORT": str(port),
        "FLOOR_SECRET_KEY": "serve-test",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "serve", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_healthy(port: int, proc: subprocess.Popen[str], timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {proc.stdout.read() if proc.stdout else ''}")
        try:
            r = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            if r.status_code == 200:
                return r.json()
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise AssertionError("server did not become healthy")


def stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)  # Ctrl-C
    try:
        out, _ = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out


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
    assert "BADGE-PICKER-1" in out and "supervisor-demo" in out
    assert "OMS API key: demo-oms-key-change-me" in out

    # Start again on the same database (without --demo): still healthy, demo data kept.
    proc = start_server(db, port)
    try:
        wait_healthy(port, proc)
        http = requests.Session()
        page = http.get(f"http://127.0.0.1:{port}/login", timeout=5).text
        token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        r = http.post(
            f"http://127.0.0.1:{port}/login",
            data={"csrf_token": token, "username": "sam", "password": "supervisor-demo"},
            timeout=5,
        )
        assert r.status_code == 200 and r.url.endswith("/dashboard")
    finally:
        out = stop(proc)
    assert "Traceback" not in out
