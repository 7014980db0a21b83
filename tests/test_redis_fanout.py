"""Several server processes behind one address: an event committed on one reaches a client
connected to another, through the Redis message queue (FLOOR_REDIS_URL)."""

from __future__ import annotations

import threading

from core.db import unit_of_work
from core.events import publish
from tests.factories import LiveServer, make_test_app, socket_for


def test_dashboard_event_crosses_servers_through_redis(sqlite_url, redis_url):
    app_a = make_test_app(sqlite_url, redis_url=redis_url)
    app_b = make_test_app(sqlite_url, redis_url=redis_url)
    server_b = LiveServer(app_b)
    received: list[dict] = []
    got = threading.Event()
    sio = socket_for(server_b.url, username="sam", password="supervisor-demo")
    try:

        @sio.on("order.status", namespace="/floor")
        def _on(data):  # noqa: ANN001
            received.append(data)
            got.set()

        with unit_of_work(app_a.extensions["floor"].sessions) as s:
            publish(s, "order.status", {"order": "X-1", "from": "received", "to": "allocated"})
        assert got.wait(10), "event did not arrive through the other server"
        assert received == [{"order": "X-1", "from": "received", "to": "allocated"}]
    finally:
        sio.disconnect()
        server_b.stop()
