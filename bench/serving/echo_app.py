"""A bare Flask-SocketIO app: the transport floor the scan loop is measured against.

It answers the handheld's two events on namespace ``/floor`` without doing any work — ``task:next``
with a fixed task and ``scan`` with ``{"ok": true, "result": "ok", ...}`` and that task again as
``next_task`` — so the benchmark's client loop runs unchanged against it. ``GET /healthz`` answers
``{"status": "ok"}`` (used by the slow-client experiments).

    python -m bench.serving.echo_app --port 5200                 # Werkzeug, threading (like ours)
    gunicorn -k gevent -w 1 'bench.serving.echo_app:make_app("gevent")'   # under gunicorn

``make_app(async_mode)`` builds the app for any Flask-SocketIO ``async_mode``.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from flask import Flask, jsonify
from flask_socketio import SocketIO

from core.affinity import pin_this_process
from core.settings import Settings

NAMESPACE = "/floor"
FAKE_TASK: dict[str, Any] = {
    "id": 1,
    "seq": 1,
    "status": "assigned",
    "location": {"code": "A-01-A-1", "aisle": "A", "bay": 1, "level": "A", "slot": 1},
    "sku": {"code": "SKU-00001", "name": "Echo", "gtins": []},
    "quantity": 1,
    "picked_qty": 0,
    "pick_list_id": 1,
    "wave_code": "W00001",
    "order": "ECHO-1",
    "tote": None,
    "tasks_left": 1,
}


def make_app(async_mode: str = "threading") -> Flask:
    """The echo app; ``app.extensions['socketio']`` is its ``SocketIO``."""
    app = Flask(__name__)
    app.config["SECRET_KEY"] = "echo"
    socketio = SocketIO(app, async_mode=async_mode, cors_allowed_origins=[])

    @app.get("/healthz")
    def healthz() -> Any:
        return jsonify(status="ok", pid=os.getpid())

    @socketio.on("task:next", namespace=NAMESPACE)
    def on_next(_data: Any = None) -> dict[str, Any]:
        return {"ok": True, "task": FAKE_TASK}

    @socketio.on("scan", namespace=NAMESPACE)
    def on_scan(data: Any = None) -> dict[str, Any]:
        return {"ok": True, "result": "ok", "echo": data, "task": None, "next_task": FAKE_TASK}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5200)
    parser.add_argument("--async-mode", default="threading")
    args = parser.parse_args()
    app = make_app(args.async_mode)
    # Served as `flask serve` serves the floor (core.affinity): the baseline runs on one CPU
    # when the floor server does, so the two are compared like for like.
    pin_this_process(Settings.from_env().server_cpu)
    app.extensions["socketio"].run(
        app, host=args.host, port=args.port, allow_unsafe_werkzeug=True, log_output=False
    )


if __name__ == "__main__":
    main()
