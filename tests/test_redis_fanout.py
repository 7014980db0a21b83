"""Several server processes behind one address: an event committed on one reaches a client
connected to another, through the Redis message queue (FLOOR_REDIS_URL)."""

from __future__ import annotations

import threading
import time
import uuid

from core.db import unit_of_work
from core.events import publish
from tests.factories import LiveServer, make_test_app, socket_for


def test_dashboard_event_crosses_servers_through_redis(sqlite_url, redis_url):
    app_a = make_test_app(sqlite_url, redis_url=redis_url)
    app_b = make_test_app(sqlite_url, redis_url=redis_url)
    server_b = LiveServer(app_b)
    # The Redis server may carry other runs' events on the same channel: this run's event is
    # told apart by an order reference no other run uses.
    ref = f"X-{uuid.uuid4().hex[:8]}"
    probe = f"P-{uuid.uuid4().hex[:8]}"
    received: list[dict] = []
    got = threading.Event()
    heard_probe = threading.Event()
    sio = socket_for(server_b.url, username="sam", password="supervisor-demo")
    try:

        @sio.on("order.status", namespace="/floor")
        def _on(data):  # noqa: ANN001
            if data.get("order") == probe:
                heard_probe.set()
            elif data.get("order") == ref:
                received.append(data)
                got.set()

        def send(order: str) -> None:
            with unit_of_work(app_a.extensions["floor"].sessions) as s:
                publish(s, "order.status", {"order": order, "from": "received", "to": "allocated"})

        # Server B subscribes to the Redis channel from a thread of its own, a moment after its
        # first client connected: an event published before that reaches nobody there (failed
        # once in a loaded run). Probe until the path is up, then send the event under test once.
        deadline = time.monotonic() + 10
        while not heard_probe.is_set():
            assert time.monotonic() < deadline, "server B never heard the Redis channel"
            send(probe)
            heard_probe.wait(0.5)
        send(ref)
        assert got.wait(10), "event did not arrive through the other server"
        time.sleep(0.2)  # a duplicate would arrive about as fast as the first copy
        assert received == [{"order": ref, "from": "received", "to": "allocated"}]
    finally:
        sio.disconnect()
        server_b.stop()
