"""Security controls tested in process (docs/security.md lists each control and its test):
session versions, demo doors, login throttling, badge + password for desk roles, security
headers, proxy headers, cookies, Socket.IO origins, SQLite durability, migration lock."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import socketio
from sqlalchemy import create_engine, event, select, text

from core import accounts
from core.accounts import create_api_key, create_user, deactivate_user
from core.db import make_engine, unit_of_work
from core.users import ApiKey, AuditEntry, Role, User
from migrations import migrate
from tests.factories import (
    LiveServer,
    csrf_token,
    http_login,
    login,
    make_test_app,
    page_csrf,
)
from tests.services import PG_URL
from web.demo import DEMO_API_KEY
from web.login_guard import LoginGuard
from web.sockets import NAMESPACE

ROOT = Path(__file__).resolve().parents[2]
JSON = {"Accept": "application/json"}


@pytest.fixture
def sec_app(sqlite_url):
    apps = []

    def build(**overrides):
        application = make_test_app(sqlite_url, **overrides)
        apps.append(application)
        return application

    yield build
    for a in apps:
        a.extensions["floor"].engine.dispose()


def _sessions(app):
    return app.extensions["floor"].sessions


def _csrf(client, path="/login"):
    return page_csrf(client, path)


# --- sessions -----------------------------------------------------------------------------


def test_logout_ends_every_copy_of_the_session_cookie(sec_app):
    app = sec_app()
    a, stolen = app.test_client(), app.test_client()
    assert login(a, username="sam", password="supervisor-demo").status_code == 302
    cookie = a.get_cookie("session")
    stolen.set_cookie("session", cookie.value)
    assert stolen.get("/me", headers=JSON).status_code == 200
    a.post("/logout", data={"csrf_token": _csrf(a, "/dashboard")})
    r = stolen.get("/me", headers=JSON)
    assert r.status_code == 401
    assert stolen.get("/dashboard").status_code == 302


def test_deactivation_ends_the_session_at_the_next_request(sec_app):
    app = sec_app()
    c = app.test_client()
    login(c, badge="BADGE-PICKER-1")
    assert c.get("/me", headers=JSON).status_code == 200
    with unit_of_work(_sessions(app)) as s:
        deactivate_user(s, "pat")
    assert c.get("/me", headers=JSON).status_code == 401
    assert login(c, badge="BADGE-PICKER-1").status_code == 401


def test_a_session_check_is_remembered_a_quarter_second_and_no_longer(sec_app, monkeypatch):
    """Events a moment apart reuse the last check's yes (one query for a burst of them); a
    change this process did not make (another server process, SQL by hand) applies once that
    yes is ``CHECK_REMEMBERED_S`` old; one this process commits applies at once."""
    now = [1000.0]
    monkeypatch.setattr(accounts, "_clock", lambda: now[0])
    app = sec_app()
    c = app.test_client()
    login(c, badge="BADGE-PICKER-1")
    asked: list[str] = []
    engine = app.extensions["floor"].engine
    listen = lambda *a: asked.append(a[2]) if "FROM users" in a[2] else None  # noqa: E731
    event.listen(engine, "before_cursor_execute", listen)
    for _ in range(5):
        assert c.get("/me", headers=JSON).status_code == 200
    assert len(asked) == 1
    outside = create_engine(str(engine.url))  # no ORM events of this process hear it
    with outside.begin() as conn:
        conn.execute(text("UPDATE users SET active = 0 WHERE username = 'pat'"))
    outside.dispose()
    now[0] += accounts.CHECK_REMEMBERED_S - 0.01
    assert c.get("/me", headers=JSON).status_code == 200  # the yes of 0.24 s ago
    now[0] += 0.02
    assert c.get("/me", headers=JSON).status_code == 401
    assert len(asked) == 2
    event.remove(engine, "before_cursor_execute", listen)

    # a change committed here: at once, however fresh the remembered yes
    login(c, username="sam", password="supervisor-demo")
    assert c.get("/me", headers=JSON).get_json()["role"] == "supervisor"
    with unit_of_work(_sessions(app)) as s:
        s.scalars(select(User).where(User.username == "sam")).one().role = Role.picker
    assert c.get("/me", headers=JSON).get_json()["role"] == "picker"


def test_role_comes_from_the_database_not_the_cookie(sec_app):
    app = sec_app()
    c = app.test_client()
    login(c, username="sam", password="supervisor-demo")
    with unit_of_work(_sessions(app)) as s:
        s.execute(text("UPDATE users SET role = 'picker' WHERE username = 'sam'"))
    assert c.get("/me", headers=JSON).get_json()["role"] == "picker"
    assert c.get("/dashboard").status_code == 403


# --- demo doors -----------------------------------------------------------------------------


def test_demo_users_close_once_a_real_desk_user_exists(sec_app):
    app = sec_app()
    c = app.test_client()
    login(c, username="ada", password="admin-demo")
    assert c.get("/me", headers=JSON).status_code == 200
    with unit_of_work(_sessions(app)) as s:
        create_user(s, "packer2", Role.packer, password="pw-packer-2")
    assert c.get("/me", headers=JSON).status_code == 200  # a packer does not close the demo
    with unit_of_work(_sessions(app)) as s:
        create_user(s, "boss", Role.admin, password="a-real-password")
    assert c.get("/me", headers=JSON).status_code == 401  # the open demo session ends too
    fresh = app.test_client()
    assert login(fresh, username="ada", password="admin-demo").status_code == 401
    assert login(fresh, badge="BADGE-PICKER-1").status_code == 401
    assert login(fresh, username="boss", password="a-real-password").status_code == 302


def test_open_demo_sockets_are_closed_once_a_real_desk_user_exists(sec_app):
    """A demo supervisor's dashboard socket kept receiving every floor event after a real admin
    was made (``create-user`` in another process): the sweep closed only sockets of ended or
    deactivated sessions, never those of demo users the site had closed."""
    app = sec_app()
    floor = app.extensions["floor"]
    c = app.test_client()
    login(c, username="sam", password="supervisor-demo")
    sio = floor.socketio.test_client(app, namespace=NAMESPACE, flask_test_client=c)
    assert sio.is_connected(NAMESPACE)
    with unit_of_work(_sessions(app)) as s:
        create_user(s, "packer2", Role.packer, password="pw-packer-2")
    assert floor.sockets.sweep(_sessions(app)) == 0  # a real packer does not close the demo
    assert sio.is_connected(NAMESPACE)
    with unit_of_work(_sessions(app)) as s:
        create_user(s, "boss", Role.admin, password="a-real-password")
    assert floor.sockets.sweep(_sessions(app)) == 1
    assert not sio.is_connected(NAMESPACE)
    assert len(floor.sockets) == 0


def test_demo_key_closes_once_a_real_key_is_created(sec_app):
    app = sec_app()
    c = app.test_client()
    demo = {"Authorization": f"Bearer {DEMO_API_KEY}"}
    assert c.get("/api/v1/inventory", headers=demo).status_code == 200
    with unit_of_work(_sessions(app)) as s:
        _, real = create_api_key(s, "erp")
    assert c.get("/api/v1/inventory", headers=demo).status_code == 401
    assert (
        c.get("/api/v1/inventory", headers={"Authorization": f"Bearer {real}"}).status_code == 200
    )


def test_demo_key_is_refused_when_floor_oms_api_key_is_set(sec_app):
    c = sec_app(oms_api_key="env-key-456").test_client()
    assert (
        c.get("/api/v1/inventory", headers={"Authorization": f"Bearer {DEMO_API_KEY}"}).status_code
        == 401
    )
    assert (
        c.get("/api/v1/inventory", headers={"Authorization": "Bearer env-key-456"}).status_code
        == 200
    )


def test_wrong_api_keys_never_wait_for_the_floors_writer(sec_app):
    """Every OMS request opened a write transaction to check its key, so on SQLite a wrong key
    queued at the writer lock with the floor's scans and closes (a flood of them doubled a
    supervisor's write time). The check only reads now; a stored key's ``last_used_at`` is
    still written, at most once a minute."""
    app = sec_app()
    c = app.test_client()
    with unit_of_work(_sessions(app)) as s:
        _, real = create_api_key(s, "erp")
    held, done = threading.Event(), threading.Event()

    def writer():
        with unit_of_work(_sessions(app)) as s:
            s.execute(text("UPDATE api_keys SET name = name"))  # the writer lock is taken
            held.set()
            done.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert held.wait(5)
        started = time.monotonic()
        r = c.get("/api/v1/inventory", headers={"Authorization": "Bearer not-a-key"})
        assert r.status_code == 401
        assert time.monotonic() - started < 2.0  # not queued behind the writer
    finally:
        done.set()
        thread.join()
    with unit_of_work(_sessions(app)) as s:
        assert s.scalar(select(ApiKey.last_used_at).where(ApiKey.name == "erp")) is None
    assert (
        c.get("/api/v1/inventory", headers={"Authorization": f"Bearer {real}"}).status_code == 200
    )
    with unit_of_work(_sessions(app)) as s:
        first = s.scalar(select(ApiKey.last_used_at).where(ApiKey.name == "erp"))
    assert first is not None
    assert (
        c.get("/api/v1/inventory", headers={"Authorization": f"Bearer {real}"}).status_code == 200
    )
    with unit_of_work(_sessions(app)) as s:  # within the minute: not written again
        assert s.scalar(select(ApiKey.last_used_at).where(ApiKey.name == "erp")) == first


# --- logins -----------------------------------------------------------------------------


def test_supervisor_badge_alone_is_refused_badge_and_password_works(sec_app):
    app = sec_app()
    c = app.test_client()
    r = login(c, badge="BADGE-SUPER-1")
    assert r.status_code == 401 and "Badge not recognised" in r.get_data(as_text=True)
    r = c.post(
        "/login",
        data={"csrf_token": _csrf(c), "badge": "BADGE-SUPER-1", "password": "wrong"},
    )
    assert r.status_code == 401
    r = c.post(
        "/login",
        data={"csrf_token": _csrf(c), "badge": "BADGE-SUPER-1", "password": "supervisor-demo"},
    )
    assert r.status_code == 302 and r.headers["Location"].endswith("/dashboard")
    # packers work at stations: their badge alone is enough
    assert login(app.test_client(), badge="BADGE-PACKER-1").status_code == 302


def test_failed_logins_are_audited_without_the_secret(sec_app):
    app = sec_app()
    c = app.test_client()
    login(c, username="sam", password="guess-1-secret")
    login(c, username="guess-2-secret", password="x")  # a password typed in the wrong box
    login(c, badge="BADGE-GUESS-secret")
    with unit_of_work(_sessions(app)) as s:
        rows = s.scalars(select(AuditEntry).where(AuditEntry.action == "login.failed")).all()
    assert len(rows) == 3
    dump = repr([(r.actor, r.entity_id, r.reason, r.details) for r in rows])
    assert "secret" not in dump
    assert rows[0].details["username"] == "sam" and rows[0].details["method"] == "password"
    assert "username" not in rows[1].details
    assert rows[2].details == {
        "method": "badge",
        "reason": "bad_credentials",
        "address": "127.0.0.1",
    }


def test_per_user_lockout_refuses_even_the_right_password(sec_app):
    app = sec_app(login_limit_user="3/minute", login_limit_address="100/minute")
    c = app.test_client()
    for _ in range(3):
        assert login(c, username="sam", password="nope").status_code == 401
    r = login(c, username="sam", password="supervisor-demo")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert "Too many failed attempts" in r.get_data(as_text=True)
    # another account from the same address is not locked
    assert login(app.test_client(), username="paco", password="packer-demo").status_code == 302


def test_per_address_limit_stops_badge_guessing(sec_app):
    app = sec_app(login_limit_address="5/minute")
    c = app.test_client()
    codes = [login(c, badge=f"BADGE-GUESS-{i}").status_code for i in range(8)]
    assert codes == [401] * 5 + [429] * 3
    assert login(c, badge="BADGE-PICKER-1").status_code == 429  # locked, even for a real badge


def test_a_burst_of_guesses_sent_at_once_gets_no_more_than_the_limit(sec_app):
    """40 wrong passwords for one account sent at once, over HTTP: each passed the lock check
    before the first failure was counted, so all 40 were checked against the account (the
    limit is 5 a minute) and as many unknown badges against one address. Now an attempt in
    flight counts already: the limit's worth are checked, the rest refused with 429."""
    import requests

    app = sec_app(login_limit_user="5/minute;20/hour", login_limit_address="8/minute;100/hour")
    server = LiveServer(app)
    try:
        n = 24
        tokens = []
        for _ in range(n):
            http = requests.Session()
            tokens.append((http, csrf_token(http.get(server.url + "/login").text)))
        start = threading.Barrier(n)

        def attempt(i: int, creds: dict[str, str]) -> int:
            http, token = tokens[i]
            start.wait()
            r = http.post(
                server.url + "/login",
                data={"csrf_token": token, **creds},
                allow_redirects=False,
                timeout=30,
            )
            return r.status_code

        def burst(creds_of: Any) -> list[int]:
            threads_out: list[int] = []
            threads = [
                threading.Thread(target=lambda i=i: threads_out.append(attempt(i, creds_of(i))))
                for i in range(n)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            return sorted(threads_out)

        guesses = burst(lambda i: {"username": "sam", "password": f"guess-{i}"})
        assert guesses == [401] * 5 + [429] * (n - 5)
        start.reset()
        badges = burst(lambda i: {"badge": f"BADGE-GUESS-{i}"})
        assert badges == [401] * 3 + [429] * (n - 3)  # 3 of the address's 8 were left
        with unit_of_work(_sessions(app)) as s:
            failed = s.scalars(select(AuditEntry).where(AuditEntry.action == "login.failed"))
            assert len(failed.all()) == 8
    finally:
        server.stop()


def test_lockout_backs_off_and_expires():
    guard = LoginGuard("memory://", "2/second;3/5 seconds", "")
    guard.failed("a", "u")
    guard.failed("a", "u")
    lock = guard.locked("a", "u")
    assert lock is not None and lock.scope == "user" and lock.retry_after_s >= 1
    time.sleep(1.1)
    assert guard.locked("a", "u") is None  # the short lock expired by itself
    guard.failed("a", "u")
    lock = guard.locked("a", "u")
    assert lock is not None and lock.retry_after_s >= 2  # the longer window: backed off
    assert guard.locked("a", "other") is None


# --- overrides --------------------------------------------------------------------------------


def test_turning_location_confirmation_off_is_audited(sec_app):
    """What proves a picker stood at the face is a supervisor's switch on /dashboard/devices;
    changing it wrote no audit entry (only the setting row's last ``updated_by``, overwritten
    at the next change), so who turned the check off, and when, was lost."""
    app = sec_app()
    c = app.test_client()
    login(c, username="sam", password="supervisor-demo")
    token = _csrf(c, "/dashboard/devices")
    for mode in ("scan", "off", "bogus"):
        r = c.post("/dashboard/settings/location-confirm", data={"csrf_token": token, "mode": mode})
        assert r.status_code == 302
    with unit_of_work(_sessions(app)) as s:
        rows = s.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "setting.location_confirm")
            .order_by(AuditEntry.id)
        ).all()
        assert [(r.actor, r.user_id is not None, r.details) for r in rows] == [
            ("sam", True, {"from": "off", "to": "scan"}),
            ("sam", True, {"from": "scan", "to": "off"}),
        ]  # the unknown mode changed nothing and wrote nothing


# --- transport ------------------------------------------------------------------------------


def test_security_headers_on_every_page(sec_app):
    c = sec_app().test_client()
    for path in ("/login", "/healthz", "/api/v1/openapi.json"):
        r = c.get(path)
        csp = r.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Referrer-Policy"] == "same-origin"
        assert "Strict-Transport-Security" not in r.headers  # plain HTTP


def test_logged_in_answers_are_never_cached_over_http(sec_app):
    """A shared packing-station PC: after logout the Back button showed the previous user's
    orders from the browser's cache (the pages carried no Cache-Control). Every answer to a
    logged-in request, and the logout answer, now says no-store; static assets stay cacheable."""
    import requests

    app = sec_app()
    server = LiveServer(app)
    try:
        anon = requests.get(server.url + "/static/floor.css", timeout=10)
        assert "no-store" not in anon.headers.get("Cache-Control", "")
        http = http_login(server.url, username="sam", password="supervisor-demo")
        for path in ("/dashboard", "/orders", "/waves", "/exceptions", "/me"):
            r = http.get(server.url + path, allow_redirects=False, timeout=10)
            assert r.status_code == 200, path
            assert r.headers["Cache-Control"] == "no-store", path
        static = http.get(server.url + "/static/floor.css", timeout=10)
        assert static.status_code == 200
        assert "no-store" not in static.headers.get("Cache-Control", "")
        token = csrf_token(http.get(server.url + "/dashboard", timeout=10).text)
        out = http.post(
            server.url + "/logout",
            data={"csrf_token": token},
            allow_redirects=False,
            timeout=10,
        )
        assert out.status_code == 302
        assert out.headers["Cache-Control"] == "no-store"
        api = requests.get(
            server.url + "/api/v1/orders",
            headers={"Authorization": f"Bearer {DEMO_API_KEY}"},
            timeout=10,
        )
        assert api.status_code == 200
        assert api.headers["Cache-Control"] == "no-store"
    finally:
        server.stop()


def test_pages_have_no_inline_scripts_or_styles():
    """The CSP allows none; a template that adds one would silently break in the browser."""
    for tpl in (ROOT / "web" / "templates").glob("*.html"):
        html = tpl.read_text()
        # JSON data blocks are never executed, so the CSP has nothing to say about them.
        code = r"<script(?![^>]*\b(?:src=|type=\"application/json\"))[^>]*>"
        assert not re.search(code, html), tpl.name
        assert not re.search(r"\sstyle=", html), tpl.name
        assert not re.search(r"\son[a-z]+=", html), tpl.name


def _badge_attempt(client, badge, headers=None):
    return client.post(
        "/login", data={"csrf_token": _csrf(client), "badge": badge}, headers=headers or {}
    )


def test_hsts_and_client_address_only_through_trusted_proxies(sec_app):
    fwd = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "10.9.9.9"}
    plain = sec_app(login_limit_address="1/minute").test_client()
    assert "Strict-Transport-Security" not in plain.get("/login", headers=fwd).headers
    assert "Strict-Transport-Security" in plain.get("/login", base_url="https://floor").headers
    # Untrusted X-Forwarded-For cannot dodge the per-address limit…
    assert _badge_attempt(plain, "BADGE-X1").status_code == 401
    assert _badge_attempt(plain, "BADGE-X2", fwd).status_code == 429
    # …while behind a trusted proxy each forwarded client counts on its own. (Over HTTPS,
    # Flask-WTF also wants a same-origin Referer: the Referrer-Policy keeps it.)
    fwd["Referer"] = "https://localhost/login"
    proxied = sec_app(trusted_proxies=1, login_limit_address="1/minute").test_client()
    assert proxied.get("/login", headers=fwd).headers["Strict-Transport-Security"]
    assert _badge_attempt(proxied, "BADGE-X1", fwd).status_code == 401
    assert _badge_attempt(proxied, "BADGE-X2", fwd).status_code == 429
    other = {**fwd, "X-Forwarded-For": "10.9.9.10"}
    assert _badge_attempt(proxied, "BADGE-X3", other).status_code == 401


def test_secure_cookies_setting(sec_app):
    c = sec_app(secure_cookies=True).test_client()
    r = login(c, username="sam", password="supervisor-demo")
    cookie = r.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_a_login_lasts_twelve_hours_from_when_it_was_made(sec_app):
    """The cookie set at login expires 12 h later, and requests that change nothing in the
    session do not send a fresh cookie that would push the end further out."""
    import datetime as dt
    from email.utils import parsedate_to_datetime

    c = sec_app().test_client()
    r = login(c, username="sam", password="supervisor-demo")
    expires = parsedate_to_datetime(r.headers["Set-Cookie"].split("Expires=")[1].split(";")[0])
    left = expires - dt.datetime.now(dt.UTC)
    assert dt.timedelta(hours=11, minutes=59) < left <= dt.timedelta(hours=12)
    c.get("/dashboard")  # the first page with a form stores the session's CSRF token
    page = c.get("/dashboard")
    assert page.status_code == 200 and "Set-Cookie" not in page.headers


def test_a_login_ends_twelve_hours_after_it_was_made_sockets_too(sec_app, monkeypatch):
    """The 12 h were only the cookie's: a cookie signed anew when the session changed (a
    message for the next page) ran 12 h from then, and an open socket kept the session it
    connected with for as long as it stayed open - a handheld's, for days. The login's own
    time is signed into the session now: past 12 h every request and event is refused and
    the sweep closes the socket."""
    import web.auth

    app = sec_app()
    floor = app.extensions["floor"]
    c = app.test_client()
    login(c, badge="BADGE-PICKER-1")
    sio = floor.socketio.test_client(app, namespace=NAMESPACE, flask_test_client=c)
    assert sio.emit("whoami", {}, namespace=NAMESPACE, callback=True)["ok"] is True
    made = time.time()
    monkeypatch.setattr(web.auth, "clock", lambda: made + 11.9 * 3600)
    assert c.get("/me", headers=JSON).status_code == 200
    assert floor.sockets.sweep(_sessions(app)) == 0
    monkeypatch.setattr(web.auth, "clock", lambda: made + 12.1 * 3600)
    assert c.get("/me", headers=JSON).status_code == 401  # the cookie itself is still valid
    ack = sio.emit("whoami", {}, namespace=NAMESPACE, callback=True)
    assert ack["ok"] is False and ack["error"]["code"] == "not_authenticated"
    assert floor.sockets.sweep(_sessions(app)) == 1
    assert not sio.is_connected(NAMESPACE)


def _logged_in_cookie(url: str) -> str:
    import requests

    http = requests.Session()
    token = csrf_token(http.get(url + "/login").text)
    http.post(
        url + "/login",
        data={"csrf_token": token, "username": "sam", "password": "supervisor-demo"},
        allow_redirects=False,
    )
    return "; ".join(f"{c.name}={c.value}" for c in http.cookies)


def _connect(url: str, cookie: str, origin: str) -> socketio.Client:
    """A WebSocket handshake sending exactly this Origin (as a browser page on it would)."""
    sio = socketio.Client(reconnection=False, websocket_extra_options={"origin": origin})
    sio.connect(
        url,
        namespaces=["/floor"],
        headers={"Cookie": cookie},
        transports=["websocket"],
        wait_timeout=5,
    )
    return sio


def test_allowed_origins_setting_admits_listed_origins_only(sqlite_url):
    app = make_test_app(sqlite_url, allowed_origins="https://desk.example, http://10.0.0.5:8080")
    server = LiveServer(app)
    try:
        cookie = _logged_in_cookie(server.url)
        for origin in (server.url, "https://desk.example", "http://10.0.0.5:8080"):
            sio = _connect(server.url, cookie, origin)
            assert sio.call("whoami", namespace="/floor", timeout=5)["ok"]
            sio.disconnect()
        with pytest.raises(socketio.exceptions.ConnectionError):
            _connect(server.url, cookie, "https://evil.example")
    finally:
        server.stop()
        app.extensions["floor"].engine.dispose()


# --- storage --------------------------------------------------------------------------------


def test_sqlite_commits_are_synchronous_full_by_default(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    engine.dispose()
    engine = make_engine(f"sqlite:///{tmp_path / 'x.sqlite3'}", sqlite_synchronous="normal")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    engine.dispose()
    with pytest.raises(ValueError):
        make_engine(f"sqlite:///{tmp_path / 'x.sqlite3'}", sqlite_synchronous="OFF")


@pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL is not set")
def test_two_processes_migrating_an_empty_postgres_database_both_succeed():
    from sqlalchemy.engine import make_url

    base = make_url(PG_URL)
    name = f"{base.database}_mig_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    code = "import sys; from migrations import migrate; migrate.upgrade(sys.argv[1])"
    try:
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", code, url],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for _ in range(3)
        ]
        outs = [p.communicate(timeout=120)[0] for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0], outs
        engine = make_engine(url)
        assert migrate.current_revision(engine) == migrate.head_revision()
        assert migrate.schema_drift(engine) == []
        engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL is not set")
def test_migration_lock_makes_a_second_migrator_wait():
    order: list[str] = []

    def second() -> None:
        with migrate.migration_lock(PG_URL):
            order.append("second")

    with migrate.migration_lock(PG_URL):
        t = threading.Thread(target=second, daemon=True)
        t.start()
        time.sleep(0.5)
        order.append("first done")
    t.join(timeout=10)
    assert order == ["first done", "second"]


def test_an_unreachable_redis_refuses_logins_clearly_and_fails_the_health_check(sec_app):
    """FLOOR_REDIS_URL pointing where no Redis answers (down, wrong port): /healthz said ok
    while every login was a 500 page (the throttle's store raised)."""
    from tests.factories import free_port

    app = sec_app(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    c = app.test_client()
    health = c.get("/healthz")
    assert health.status_code == 503
    assert health.get_json()["redis"] == {"reachable": False}
    r = c.post(
        "/login", data={"csrf_token": _csrf(c), "username": "sam", "password": "supervisor-demo"}
    )
    assert r.status_code == 503
    assert "FLOOR_REDIS_URL" in r.get_data(as_text=True)
    assert c.get("/dashboard").status_code == 302  # not logged in


def test_a_store_that_fails_to_count_leaves_no_attempt_in_flight():
    """end() counted the failure first; when the store raised there, the attempt stayed in
    flight for good, and each such one raised the account's cost until it was locked out."""
    from web.login_guard import ThrottleUnavailable

    guard = LoginGuard("memory://", "3/minute", "")
    guard._limiter.hit = lambda *a, **k: (_ for _ in ()).throw(ConnectionError("down"))
    for _ in range(4):
        assert guard.begin("a", 7) is None
        with pytest.raises(ThrottleUnavailable):
            guard.end("a", 7, failed=True)
    assert guard.locked("a", 7) is None
