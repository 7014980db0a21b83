"""Users and roles: password and badge login, role checks on pages and sockets, CSRF, audit."""

from __future__ import annotations

import socketio
from sqlalchemy import select

from core.db import unit_of_work
from core.users import AuditEntry
from tests.factories import login, page_csrf, socket_for


def test_supervisor_logs_in_with_password_and_lands_on_dashboard(client, sessions):
    r = login(client, username="sam", password="supervisor-demo")
    assert r.status_code == 302 and r.headers["Location"].endswith("/dashboard")
    page = client.get("/dashboard")
    assert page.status_code == 200 and "Wave dashboard" in page.get_data(as_text=True)
    with unit_of_work(sessions) as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "login")).one()
        assert entry.actor == "sam"
        assert entry.details == {"method": "password", "address": "127.0.0.1"}


def test_wrong_password_is_refused_without_saying_which_part(client):
    r = login(client, username="sam", password="nope")
    assert r.status_code == 401
    assert "Wrong username or password" in r.get_data(as_text=True)
    assert client.get("/dashboard").status_code == 302  # still anonymous


def test_picker_logs_in_by_badge_and_cannot_see_dashboard(client):
    r = login(client, badge="BADGE-PICKER-1")
    assert r.status_code == 302 and r.headers["Location"].endswith("/handheld")
    assert client.get("/handheld").status_code == 200
    assert client.get("/dashboard").status_code == 403
    r = client.get("/dashboard", headers={"Accept": "application/json"})
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "forbidden"


def test_unknown_badge_is_refused(client):
    r = login(client, badge="BADGE-NOBODY")
    assert r.status_code == 401 and "Badge not recognised" in r.get_data(as_text=True)


def test_anonymous_pages_redirect_to_login(client):
    r = client.get("/dashboard")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_login_form_requires_csrf_token(client):
    r = client.post("/login", data={"username": "sam", "password": "supervisor-demo"})
    assert r.status_code == 400


OFF_SITE = (
    "//evil.example/",
    "https://evil.example",
    "/\t/evil.example",  # a browser drops the tab: //evil.example
    "/\\evil.example",  # a browser reads the backslash as a slash
    "/\n/evil",  # a newline: a broken Location header, once a 500 after logging in
    "/\r\nSet-Cookie: x=1",
    "javascript:alert(1)",
    "/" + "a" * 3000,
)


def _login_as_sam(client, target):
    token = page_csrf(client, "/login")
    data = {"csrf_token": token, "username": "sam", "password": "supervisor-demo", "next": target}
    return client.post("/login", data=data)


def test_open_redirect_after_login_is_refused(client):
    for target in OFF_SITE:
        r = _login_as_sam(client, target)
        assert r.status_code == 302, (target, r.status_code)
        assert r.headers["Location"] == "/dashboard", target
        client.post("/logout", data={"csrf_token": page_csrf(client, "/dashboard")})
    r = _login_as_sam(client, "/orders?status=held")
    assert r.headers["Location"] == "/orders?status=held"  # a page of this site: kept


def test_form_actions_return_only_to_pages_of_this_site():
    from web.auth import local_target

    for target in (*OFF_SITE, None, 7, ""):
        assert local_target(target, "/printers") == "/printers", target
    assert local_target("/printers?station=PACK-02", "/x") == "/printers?station=PACK-02"


def test_socket_refuses_anonymous_connections(live_server):
    import pytest

    sio = socketio.Client(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        sio.connect(
            live_server.url, namespaces=["/floor"], transports=["websocket"], wait_timeout=5
        )


def test_socket_shares_the_page_session_and_checks_roles(live_server):
    picker = socket_for(live_server.url, badge="BADGE-PICKER-1")
    try:
        me = picker.call("whoami", namespace="/floor", timeout=5)
        assert me["ok"] and me["username"] == "pat" and me["role"] == "picker"
        denied = picker.call("join_dashboard", namespace="/floor", timeout=5)
        assert denied == {
            "ok": False,
            "error": {"code": "forbidden", "message": "needs role supervisor"},
        }
    finally:
        picker.disconnect()
    sup = socket_for(live_server.url, username="sam", password="supervisor-demo")
    try:
        assert sup.call("join_dashboard", namespace="/floor", timeout=5) == {"ok": True}
    finally:
        sup.disconnect()
