"""Small shared mechanisms of the scan path: snapshot events coalesced after the commit, the
PostgreSQL write slots, and TCP_NODELAY on WebSocket connections."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from core.events import DomainEvent, publish, publish_snapshot, resolve
from web.context import WriteSlots
from web.sockets import NoDelay


class _Info:
    def __init__(self) -> None:
        self.info: dict[str, Any] = {}


def test_snapshots_are_computed_once_at_their_last_place_and_none_is_dropped():
    session = _Info()
    calls: list[int] = []

    def progress(wave_id: int) -> Any:
        def compute(_s: Any) -> dict[str, Any] | None:
            calls.append(wave_id)
            return None if wave_id == 3 else {"id": wave_id, "percent": 50}

        return compute

    publish_snapshot(session, "wave.progress", 1, progress(1), "dashboard")  # type: ignore[arg-type]
    publish(session, "task.updated", {"id": 7}, "user:1")  # type: ignore[arg-type]
    publish_snapshot(session, "wave.progress", 1, progress(1), "dashboard")  # type: ignore[arg-type]
    publish_snapshot(session, "wave.progress", 3, progress(3), "dashboard")  # type: ignore[arg-type]
    events: list[DomainEvent] = session.info["floor.domain_events"]
    out = resolve(events, None)  # type: ignore[arg-type]
    assert [(e.name, e.data) for e in out] == [
        ("task.updated", {"id": 7}),
        ("wave.progress", {"id": 1, "percent": 50}),
    ]
    assert calls == [1, 3]  # wave 1 once, although published twice
    assert all(e.snapshot is None for e in out)


def test_write_slots_admit_n_at_once_and_let_a_holder_in_again():
    slots = WriteSlots(2)
    inside, most = [0], [0]
    lock = threading.Lock()

    def work() -> None:
        with slots():
            with slots():  # a nested unit of work in the same thread does not wait for itself
                with lock:
                    inside[0] += 1
                    most[0] = max(most[0], inside[0])
                time.sleep(0.05)
                with lock:
                    inside[0] -= 1

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=5)
    assert not any(t.is_alive() for t in threads)
    assert most[0] == 2


def test_websocket_upgrades_get_tcp_nodelay_and_other_requests_are_left_alone():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    client = socket.create_connection(listener.getsockname())
    server, _ = listener.accept()
    seen: list[dict[str, Any]] = []
    app = NoDelay(lambda environ, start_response: seen.append(environ) or [b""])
    try:
        app({"HTTP_UPGRADE": "h2c", "werkzeug.socket": server}, None)
        assert server.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
        app({"HTTP_UPGRADE": "websocket", "werkzeug.socket": server}, None)
        assert server.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        app({"HTTP_UPGRADE": "websocket", "werkzeug.socket": object()}, None)  # not a socket
        assert len(seen) == 3  # every request reached the app
    finally:
        for s in (client, server, listener):
            s.close()


def test_socket_events_reuse_the_saved_session_and_requests_decode_their_cookie() -> None:
    from flask import Flask, session
    from flask.sessions import SecureCookieSession

    from web.sockets import SocketSessions

    app = Flask(__name__)
    app.secret_key = "test"
    app.session_interface = SocketSessions()
    with app.test_request_context("/"):
        session["uid"] = 7
        cookie = app.session_interface.get_signing_serializer(app).dumps(dict(session))
    headers = {"Cookie": f"{app.config['SESSION_COOKIE_NAME']}={cookie}"}
    with app.test_request_context("/", headers=headers):
        assert session["uid"] == 7  # an HTTP request: the cookie, decoded
    saved = SecureCookieSession({"uid": 8})  # Flask-SocketIO's copy (environ["saved_session"])
    with app.test_request_context("/", headers=headers, environ_base={"saved_session": saved}):
        assert session._get_current_object() is saved  # an event: no decoding, the same object


def test_one_process_drops_events_for_rooms_nobody_is_in_before_computing_them(sessions):
    """Without a message queue the fan-out sends to rooms that have a listener here and
    computes no snapshot for a room nobody is in; with one, every room may have a listener."""
    from types import SimpleNamespace

    from web.sockets import NAMESPACE, Emitter

    computed: list[str] = []

    def snapshot(_session: Any) -> dict[str, Any]:
        computed.append("wave 9")
        return {"id": 9, "done": 1}

    rooms = {NAMESPACE: {"user:1": {"sid-a": "eio-a"}, "wave:9": {}}}
    fake = SimpleNamespace(server=SimpleNamespace(manager=SimpleNamespace(rooms=rooms)))
    events = [
        DomainEvent("wave.progress", {"id": 9}, ("wave:9", "dashboard"), snapshot),
        DomainEvent("task.updated", {"id": 5}, ("user:1", "wave:9")),
    ]
    local = Emitter(fake, sessions, local_rooms_only=True)  # type: ignore[arg-type]
    sent = local._resolved(local._listened(events))
    assert [(ev.name, ev.rooms) for ev in sent] == [("task.updated", ("user:1",))]
    assert computed == []
    shared = Emitter(fake, sessions)  # type: ignore[arg-type]
    sent = shared._resolved(shared._listened(events))
    assert [ev.name for ev in sent] == ["wave.progress", "task.updated"]
    assert computed == ["wave 9"]
    # The scanning handheld's ack already carried its task: alone in its user's room, the
    # event goes nowhere, and the fan-out thread is not woken for it.
    answered = DomainEvent("task.updated", {"id": 5}, ("user:1", "wave:9"), answered_to="sid-a")
    local([answered])
    assert local.queue.empty()
    rooms[NAMESPACE]["user:1"]["sid-b"] = "eio-b"  # the picker's second device
    assert [ev.rooms for ev in local._listened([answered])] == [("user:1",)]
