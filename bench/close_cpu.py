"""CPU per close in process (one station): ``python -m bench.close_cpu [--n 40] [--profile]``.

Runs the app in this process (its print worker, the Flask test client as the packer, a virtual
Zebra in another process) with one station and measures the server process's CPU time
(time.process_time, every thread) from the POST /pack/close to the label's last byte at the
printer, per close; with --profile, cProfile of the request thread and of the worker's fast path.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import pstats
import threading
import time
from typing import Any

from bench.bench_printing import SHIP_TO, Station, add_stations, lines
from bench.printer_room import PrinterRoom


class TestClientStation(Station):
    """The same through the Flask test client, in the server's own process (``close_cpu``)."""

    def __init__(self, app: Any, code: str) -> None:
        from tests.factories import csrf_token, login

        self.code = code
        self.client = app.test_client()
        login(self.client, username="paco", password="packer-demo")
        self.token = csrf_token(self.client.get("/pack").get_data(as_text=True))

    def post(self, url: str, body: dict[str, Any]) -> tuple[int, Any]:
        r = self.client.post(url, json=body, headers={"X-CSRFToken": self.token})
        return r.status_code, r.get_json()


class InProcessRig:
    """The app in this process (its print worker thread, the Flask test client as the packer)
    and a virtual Zebra in another process: every thread of the close is this process's."""

    def __init__(self, url: str) -> None:
        from core.affinity import pin_this_process
        from core.db import unit_of_work
        from core.settings import Settings
        from migrations import migrate
        from printing.printers import make_spec, sync_printers
        from tests.factories import make_test_app
        from web.demo import load_demo

        migrate.upgrade(url)
        self.app = make_test_app(url, secret_key="bench", TESTING=False)
        floor = self.app.extensions["floor"]
        self.sessions = floor.sessions
        with unit_of_work(self.sessions) as s:
            load_demo(s)
        [code] = add_stations(self.sessions, 1)
        self.printers = PrinterRoom(1)
        with unit_of_work(self.sessions) as s:
            sync_printers(s, [make_spec(code, f"tcp://127.0.0.1:{self.printers.ports[0]}")])
        self.worker = floor.print_worker.start()
        self.desks = [TestClientStation(self.app, code)]
        pin_this_process(Settings.from_env().server_cpu)  # as `flask serve` does
        gc.collect()  # and, as it does, what start-up built out of the collector's sight
        gc.freeze()
        self.made = 0

    def stop(self) -> None:
        self.worker.stop()
        self.printers.stop()
        self.app.extensions["floor"].close()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=40)
    p.add_argument("--pg-url", default="")
    p.add_argument("--profile", action="store_true")
    p.add_argument("--top", type=int, default=45)
    args = p.parse_args()
    from bench.bench_printing import postgresql_database, sqlite_database

    db = postgresql_database(args.pg_url) if args.pg_url else sqlite_database()
    with db as url:
        rig = InProcessRig(url)
        try:
            run(rig, args)
        finally:
            rig.stop()


def _thread_cpu() -> dict[int, tuple[str, float]]:
    """CPU seconds of every live thread of this process, by ident (with its name)."""
    out = {}
    for t in threading.enumerate():
        if t.ident is not None:
            with contextlib.suppress(OSError):  # the thread ended meanwhile
                out[t.ident] = (t.name, time.clock_gettime(time.pthread_getcpuclockid(t.ident)))
    return out


def run(rig: InProcessRig, args: argparse.Namespace) -> None:
    from tests.factories import picked_order

    desk = rig.desks[0]
    worker = rig.app.extensions["floor"].print_worker
    wprof = cProfile.Profile(time.thread_time)
    rprof = cProfile.Profile(time.thread_time)
    original = worker._fast_counted

    def fast(new):  # type: ignore[no-untyped-def]
        if args.profile and counting:
            wprof.enable()
            try:
                return original(new)
            finally:
                wprof.disable()
        return original(new)

    worker._fast_counted = fast
    from web.sockets import Emitter

    eprof = cProfile.Profile(time.thread_time)
    emitted: list[str] = []
    original_resolved = Emitter._resolved

    def resolved(self, events):  # type: ignore[no-untyped-def]
        if args.profile and counting:
            emitted.extend(f"{ev.name}->{len(ev.rooms)}" for ev in events)
            eprof.enable()  # stays on for the emits that follow, until the next round
        return original_resolved(self, events)

    Emitter._resolved = resolved  # type: ignore[method-assign]
    counting = False
    cpu_total = 0.0
    samples = []
    per_thread: dict[str, float] = {}
    for i in range(args.n + 5):
        counting = i >= 5
        rig.made += 1
        order = picked_order(rig.sessions, lines(rig.made), service="ground", ship_to=SHIP_TO)[0]
        items = desk.open(order)
        before = rig.printers.count(0)
        time.sleep(0.3)  # the setup's events (wave snapshots) go out before the close
        t0 = _thread_cpu()
        c0 = time.process_time()
        if args.profile and counting:
            rprof.enable()
        desk.close(order, items)
        if args.profile and counting:
            rprof.disable()
        c1 = time.process_time()
        assert rig.printers.wait(0, before + 1, 20)
        time.sleep(0.03)  # the worker's 'printed' step
        c2 = time.process_time()
        t2 = _thread_cpu()
        if counting:
            for ident, (name, cpu) in t2.items():
                key = name.rstrip("0123456789_-")
                spent = cpu - t0.get(ident, (name, 0.0))[1]
                per_thread[key] = per_thread.get(key, 0.0) + spent
            cpu_total += c2 - c0
            samples.append(((c1 - c0) * 1000, (c2 - c1) * 1000))
    n = len(samples)
    by_name = per_thread
    print(
        "CPU per close by thread: "
        + ", ".join(
            f"{k} {v * 1000 / n:.2f} ms" for k, v in sorted(by_name.items(), key=lambda kv: -kv[1])
        )
    )
    req = sorted(s[0] for s in samples)
    rest = sorted(s[1] for s in samples)
    print(
        f"CPU per close: {cpu_total * 1000 / n:.2f} ms (request median {req[n // 2]:.2f} ms, "
        f"after answer median {rest[n // 2]:.2f} ms), n={n}"
    )
    if args.profile:
        print("events emitted per close:", len(emitted) / n, sorted(set(emitted)))
        for name, prof in (("request", rprof), ("worker fast path", wprof), ("emitter", eprof)):
            print(f"--- {name} (cumulative, per {n} closes)")
            prof.dump_stats(f"/tmp/close_cpu_{name.split()[0]}.prof")
            pstats.Stats(prof).sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
