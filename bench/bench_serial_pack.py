"""Benchmark: serial frame -> pack-page update, end to end.

A real pty pair (``socat``) plays the scanner at PACK-01; the server (threading Socket.IO,
SQLite demo warehouse, one picked order open at the station) reads the frame, runs the pack
station's scan service in a transaction, commits and emits ``pack.state`` to the room
``station:PACK-01``; a Socket.IO client logged in as the packer (what the pack page is)
measures from the write on the scanner's side of the pty to the event's arrival.

    python -m bench.bench_serial_pack              # 300 frames
    python -m bench.bench_serial_pack --frames 50

Prints p50 / p95 / max in milliseconds. Needs socat (``make test`` installs it).
"""

from __future__ import annotations

import argparse
import queue
import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import requests
import socketio
from sqlalchemy import select

from core.db import make_engine, make_session_factory, unit_of_work
from migrations import migrate


def _picked_order(sessions) -> str:
    from floor.fulfilment.models import Tote
    from floor.fulfilment.picking.scans import confirm_scan, next_task
    from floor.fulfilment.waves.planning import RuleSpec, plan_waves, release_wave
    from tests.factories import actor_for, add_order, supervisor

    with unit_of_work(sessions) as s:
        order = add_order(s, [("SKU-00020", 500)])
        for wave in plan_waves(s, RuleSpec(split_by_zone=False), supervisor(s)).waves:
            release_wave(s, wave.id, supervisor(s))
        pat = actor_for(s, "pat")
        n = 0
        while (task := next_task(s, pat)) is not None:
            for _ in range(task.quantity - task.picked_qty):
                n += 1
                confirm_scan(s, pat, task.id, "SKU-00020", f"bench-{n}")
        return s.scalar(select(Tote.code).where(Tote.order_id == order.id))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=300)
    args = parser.parse_args()
    if shutil.which("socat") is None:
        print("socat is not installed: skipped")
        return
    from tests.devices.conftest import PtyPair, wait_for
    from tests.factories import LiveServer, make_test_app
    from web.demo import load_demo

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.sqlite3"
        migrate.upgrade(url)
        engine = make_engine(url)
        sessions = make_session_factory(engine)
        with unit_of_work(sessions) as s:
            load_demo(s)
        tote = _picked_order(sessions)
        pair = PtyPair(Path(tmp))
        pair.plug()
        app = make_test_app(url, scanners=f"PACK-01=serial://{pair.device}", run_devices=True)
        hub = app.extensions["floor"].devices
        wait_for(lambda: hub.snapshot()["scanners"][0]["online"], "scanner online")
        server = LiveServer(app)
        http = requests.Session()
        token = re.search(
            r'name="csrf_token" value="([^"]+)"', http.get(server.url + "/login").text
        ).group(1)
        http.post(
            server.url + "/login",
            data={"csrf_token": token, "username": "paco", "password": "packer-demo"},
        )
        events: queue.Queue[float] = queue.Queue()
        sio = socketio.Client(reconnection=False)
        sio.on("pack.state", lambda _data: events.put(time.perf_counter()), namespace="/floor")
        sio.connect(
            server.url,
            namespaces=["/floor"],
            headers={"Cookie": "; ".join(f"{c.name}={c.value}" for c in http.cookies)},
            transports=["websocket"],
            wait_timeout=5,
        )
        assert sio.call("pack:join", {"station": "PACK-01"}, namespace="/floor")["ok"]
        pair.send(tote.encode() + b"\r")
        events.get(timeout=10)
        latencies = []
        try:
            for _ in range(args.frames):
                sent = time.perf_counter()
                pair.send(b"SKU-00020\r")
                arrived = events.get(timeout=10)
                latencies.append((arrived - sent) * 1000)
                while not events.empty():
                    events.get_nowait()
        finally:
            sio.disconnect()
            server.stop()
            hub.stop()
            pair.unplug()
            app.extensions["floor"].engine.dispose()
            engine.dispose()
    latencies.sort()
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    print(
        f"frame -> pack.state at the page: {len(latencies)} frames, "
        f"p50 {statistics.median(latencies):.1f} ms, p95 {p95:.1f} ms, max {latencies[-1]:.1f} ms"
    )


if __name__ == "__main__":
    main()
