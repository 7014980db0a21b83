"""Black-box: a real `flask serve` process probed over HTTP and Socket.IO as an attacker on the
floor network would (login guessing, logout and deactivation, a cross-origin socket, the banner)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import requests
import socketio

from tests.factories import ROOT, csrf_token, free_port, start_server, stop, wait_healthy
from web.demo import DEMO_API_KEY

start = start_server  # flask serve as a process, with extra FLOOR_* variables


@pytest.fixture
def demo_server(tmp_path):
    port = free_port()
    proc = start(tmp_path / "floor.sqlite3", port, "--demo")
    wait_healthy(port, proc)
    yield f"http://127.0.0.1:{port}", tmp_path / "floor.sqlite3"
    out = stop(proc)
    assert "Traceback" not in out, out


def form_login(base: str, http: requests.Session | None = None, **creds: str):
    http = http or requests.Session()
    token = csrf_token(http.get(base + "/login").text)
    r = http.post(base + "/login", data={"csrf_token": token, **creds}, allow_redirects=False)
    return http, r


def cookie_of(http: requests.Session) -> str:
    return "; ".join(f"{c.name}={c.value}" for c in http.cookies)


def socket_for(base: str, cookie: str, origin: str | None = None) -> socketio.Client:
    sio = socketio.Client(reconnection=False, websocket_extra_options={"origin": origin or base})
    sio.connect(
        base,
        namespaces=["/floor"],
        headers={"Cookie": cookie},
        transports=["websocket"],
        wait_timeout=5,
    )
    return sio


def wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def test_fresh_serve_without_demo_has_no_demo_doors_and_never_prints_keys(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start(tmp_path / "f.sqlite3", port, FLOOR_OMS_API_KEY="real-env-key-987")
    try:
        wait_healthy(port, proc)
        _, r = form_login(base, username="sam", password="supervisor-demo")
        assert r.status_code == 401
        demo = {"Authorization": f"Bearer {DEMO_API_KEY}"}
        assert requests.get(base + "/api/v1/inventory", headers=demo, timeout=5).status_code == 401
        real = {"Authorization": "Bearer real-env-key-987"}
        assert requests.get(base + "/api/v1/inventory", headers=real, timeout=5).status_code == 200
    finally:
        out = stop(proc)
    assert "real-env-key-987" not in out and DEMO_API_KEY not in out
    assert "supervisor-demo" not in out and "No users yet" in out


def test_demo_mode_with_a_real_key_hides_it_and_refuses_the_demo_key(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start(tmp_path / "f.sqlite3", port, "--demo", FLOOR_OMS_API_KEY="real-env-key-654")
    try:
        wait_healthy(port, proc)
        demo = {"Authorization": f"Bearer {DEMO_API_KEY}"}
        assert requests.get(base + "/api/v1/inventory", headers=demo, timeout=5).status_code == 401
    finally:
        out = stop(proc)
    assert "real-env-key-654" not in out and DEMO_API_KEY not in out
    assert "FLOOR_OMS_API_KEY (set; not shown)" in out
    assert "supervisor-demo" in out  # demo users are still open: no real supervisor yet


def test_password_and_badge_guessing_is_throttled_and_audited(demo_server):
    base, db = demo_server
    http = requests.Session()
    codes = [
        form_login(base, http, username="sam", password=f"guess{i}")[1].status_code
        for i in range(7)
    ]
    assert codes == [401] * 5 + [429] * 2  # 5 failures a minute per account
    _, right = form_login(base, http, username="sam", password="supervisor-demo")
    assert right.status_code == 429 and int(right.headers["Retry-After"]) > 0
    # Badge guessing from this address: 20 failures a minute in all, then locked.
    codes = [form_login(base, http, badge=f"BADGE-{i:04d}")[1].status_code for i in range(20)]
    assert codes.count(401) == 15 and codes[-1] == 429
    # A supervisor's badge alone never opens a session.
    other = requests.Session()
    _, r = form_login(base, other, badge="BADGE-SUPER-1")
    assert r.status_code in (401, 429)  # (this address is locked by now; in-process tests too)
    me = other.get(base + "/me", headers={"Accept": "application/json"}, timeout=5)
    assert me.status_code == 401
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT details FROM audit_entries WHERE action = 'login.failed'")
        ).all()
    engine.dispose()
    assert len(rows) == 20  # every evaluated failure (not the throttled ones)
    assert not any("guess" in r[0] or "BADGE-0" in r[0] for r in rows)


def test_logout_ends_the_cookie_everywhere_and_closes_its_sockets(demo_server):
    base, _ = demo_server
    http, r = form_login(base, badge="BADGE-PICKER-1")
    assert r.status_code == 302
    cookie = cookie_of(http)
    thief = requests.Session()
    thief.headers["Cookie"] = cookie
    sio = socket_for(base, cookie)
    assert sio.call("whoami", namespace="/floor", timeout=5)["username"] == "pat"
    assert thief.get(base + "/handheld", allow_redirects=False, timeout=5).status_code == 200
    token = csrf_token(http.get(base + "/handheld").text)
    http.post(base + "/logout", data={"csrf_token": token}, timeout=5)
    assert wait_until(lambda: not sio.connected, 5), "the socket stayed open after logout"
    r = thief.get(base + "/handheld", allow_redirects=False, timeout=5)
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    with pytest.raises(socketio.exceptions.ConnectionError):
        socket_for(base, cookie)


def test_deactivation_from_another_process_ends_sessions_and_sockets(demo_server):
    base, db = demo_server
    http, _ = form_login(base, username="sam", password="supervisor-demo")
    sio = socket_for(base, cookie_of(http))
    assert sio.call("join_dashboard", namespace="/floor", timeout=5) == {"ok": True}
    env = {**os.environ, "FLOOR_DATABASE_URL": f"sqlite:///{db}"}
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "deactivate-user", "sam"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    r = http.get(base + "/dashboard", allow_redirects=False, timeout=5)
    assert r.status_code == 302  # at the very next request
    if sio.connected:  # an event in between is refused too
        assert sio.call("whoami", namespace="/floor", timeout=5)["ok"] is False
    assert wait_until(lambda: not sio.connected, 10), "the sweep did not close the socket"


def test_cross_origin_socket_is_refused_same_origin_works(demo_server):
    base, _ = demo_server
    http, _ = form_login(base, username="sam", password="supervisor-demo")
    cookie = cookie_of(http)
    port = int(base.rsplit(":", 1)[1])
    for evil in (f"http://127.0.0.1:{port + 1}", "http://evil.example", "null"):
        with pytest.raises(socketio.exceptions.ConnectionError):
            socket_for(base, cookie, origin=evil)
    r = requests.get(
        base + "/socket.io/?EIO=4&transport=polling",
        headers={"Cookie": cookie, "Origin": "http://evil.example"},
        timeout=5,
    )
    assert r.status_code == 400  # the polling transport checks the Origin too
    sio = socket_for(base, cookie, origin=base)
    try:
        assert sio.call("join_dashboard", namespace="/floor", timeout=5) == {"ok": True}
    finally:
        sio.disconnect()
