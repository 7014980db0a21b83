"""Benchmark of printing: labels built per second, and "close package" -> last byte at the printer.

Run from the repository root::

    python -m bench.bench_printing                 # SQLite (a temporary file): 1 and 20 stations
    python -m bench.bench_printing --pg-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres
                                                   # ... and PostgreSQL (a scratch database)
    python -m bench.bench_printing --stations 1,20 --closes 100   # the defaults
    make bench BENCH=printing                      # the same; PostgreSQL too if TEST_DATABASE_URL

It prints one table (one row per database and station count, each with the load average
measured right after it) and the command line that produced it.

1. Labels: ``printing.zpl.build_shipping_label`` on a realistic label (ship-to with non-Latin
   letters), and ``printing.labels.build_package_label`` (the same with the package, its order and
   its siblings read from the database), labels per second.
2. Latency: the real app (``create_app``) with its print worker thread, pack stations each with
   its own virtual Zebra on 127.0.0.1 (a real TCP listener that answers ``~HS``; the printers run
   in a process of their own, as real printers are devices of their own). Orders are picked
   through the real wave and pick flow (``tests.factories.picked_order``; one unit each of two
   of 40 SKUs in turn) and opened at their station (``/pack/open``) before each round; then one
   packer per station posts ``/pack/close`` (Flask test client, in process) at the same instant
   (a barrier). The time from just before the POST to the moment the station's printer has the
   label's last byte (``^XZ``) is one sample; ``--closes`` samples per row, after one warm-up
   round that is not counted. Goal: p95 under 200 ms with 20 stations. The SQL columns count
   the statements sent by the request's own thread (the close) and by everything else (the
   print worker) per close; CPU is the server process's CPU time (all its threads) per close
   over the same window, a figure less sensitive than the latencies to what else runs on the
   machine.

Everything runs through the app's own engine (one SQLite writer lock in the process, as in
production). With ``--pg-url`` the benchmark creates ``bench_printing_<pid>`` next to the database
named in the URL and drops it at the end; the database in the URL is never written to.
"""

from __future__ import annotations

import argparse
import datetime as dt
import faulthandler
import math
import os
import platform
import shlex
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bench.printer_room import PrinterRoom
from bench.scratch_db import scratch_database
from core.db import make_engine, make_session_factory, unit_of_work
from floor.fulfilment.models import Package
from floor.site.layout import Location, LocationType
from migrations import migrate
from printing.labels import build_package_label, site_address
from printing.zpl import Address, ShippingLabel, build_shipping_label
from web.demo import check_code, load_demo

SHIP_TO = {
    "name": "Zoë Ødegård 山田",
    "address1": "12 St James's Square",
    "address2": "Flat 3",
    "city": "London",
    "postal_code": "SW1Y 4JH",
    "country": "GB",
}
SKUS = 40  # orders take two of the demo's SKU-00001..SKU-00040 in turn (no face runs dry)


def lines(n: int) -> list[tuple[str, int]]:
    """The n-th order's lines: two units of two different SKUs."""
    return [(f"SKU-{n % SKUS + 1:05d}", 1), (f"SKU-{(n + SKUS // 2) % SKUS + 1:05d}", 1)]


GOAL_P95_MS = 200.0
WAIT_FOR_LABEL_S = 20.0  # a label that has not arrived by then is a failure, not a hang


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


# --- labels per second --------------------------------------------------------------------------


def bench_build(n: int) -> float:
    label = ShippingLabel(
        ship_from=site_address(""),
        ship_to=Address(
            "Zoë Ødegård 山田", "12 St James's Square", "Flat 3", "London", "", "SW1Y", "GB"
        ),
        carrier="ups",
        service="ground",
        carrier_is_demo=True,
        tracking_number="1Z999AA10123456784",
        sscc="106141411234567897",
        order_ref="SO-1042",
        package_no=1,
        package_count=2,
        weight_g=1254,
        qr_payload="(00)106141411234567897|1Z999AA10123456784|SO-1042|1/2",
    )
    started = time.perf_counter()
    for _ in range(n):
        build_shipping_label(label)
    return n / (time.perf_counter() - started)


def bench_build_from_db(sessions: Any, n: int) -> float:
    site = site_address("")
    with unit_of_work(sessions) as s:
        packages = list(s.scalars(select(Package).where(Package.tracking_number.is_not(None))))
        assert packages, "the latency part ships the packages this reads"
        started = time.perf_counter()
        for i in range(n):
            build_package_label(s, packages[i % len(packages)], site)
        return n / (time.perf_counter() - started)


# --- databases ----------------------------------------------------------------------------------


@contextmanager
def sqlite_database() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as tmp:
        yield f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"


def postgresql_database(pg_url: str) -> Any:
    """A scratch database next to the one in ``pg_url`` (which is never written to)."""
    return scratch_database(pg_url, f"bench_printing_{os.getpid()}")


# --- close -> last byte -------------------------------------------------------------------------


def add_stations(sessions: Any, count: int) -> list[str]:
    """Pack stations PACK-01 … PACK-<count> (the demo has two)."""
    with unit_of_work(sessions) as s:
        have = list(s.scalars(select(Location).where(Location.type == LocationType.pack_station)))
        first = have[0]
        for n in range(len(have) + 1, count + 1):
            code = f"PACK-{n:02d}"
            s.add(
                Location(
                    code=code,
                    type=LocationType.pack_station,
                    zone_id=first.zone_id,
                    x_m=first.x_m + 1.5 * n,
                    y_m=first.y_m,
                    check_code=check_code(code),
                )
            )
    return [f"PACK-{n:02d}" for n in range(1, count + 1)]


class Station:
    """One packer at one station, logged in; ``post`` sends a JSON POST with the CSRF header."""

    code: str

    def post(self, url: str, body: dict[str, Any]) -> tuple[int, Any]:
        raise NotImplementedError

    def open(self, order: str) -> dict[str, int]:
        """Open the order at this station; the items to pack (line id -> units)."""
        status, data = self.post("/pack/open", {"code": order, "station": self.code})
        assert status == 200, data
        return {ln["line_id"]: ln["to_pack"] for ln in data["lines"]}

    def close(self, order: str, items: dict[str, int]) -> None:
        status, data = self.post(
            "/pack/close",
            {"order": order, "station": self.code, "items": items, "weight_g": 900},
        )
        assert status == 201, data


class HttpStation(Station):
    """The packer's page as a browser would be: HTTP to the server process (keep-alive)."""

    def __init__(self, base: str, code: str) -> None:
        from tests.factories import csrf_token, http_login

        self.code = code
        self.base = base
        self.http = http_login(base, username="paco", password="packer-demo")
        self.token = csrf_token(self.http.get(base + "/pack", timeout=10).text)

    def post(self, url: str, body: dict[str, Any]) -> tuple[int, Any]:
        r = self.http.post(
            self.base + url, json=body, headers={"X-CSRFToken": self.token}, timeout=30
        )
        return r.status_code, r.json()


@dataclass
class Row:
    backend: str
    stations: int
    closes: int
    total_ms: list[float]
    answer_ms: list[float]
    sql: float  # statements the server process sent per close (request, worker, the rest)
    cpu_ms: float  # the server process's CPU time (every thread) per close
    load: tuple[float, float, float]
    server_cpu: str  # the CPU the server process is pinned to, "any", or "N processes"

    @property
    def print_ms(self) -> list[float]:
        return [t - a for t, a in zip(self.total_ms, self.answer_ms, strict=True)]


def _cpus(pid: int) -> str:
    """The CPU a process is pinned to (FLOOR_SERVER_CPU, default auto), or "any"."""
    cpus = os.sched_getaffinity(pid)
    return str(next(iter(cpus))) if len(cpus) == 1 else "any"


class Rig:
    """A fresh database with the demo warehouse and ``stations`` pack stations, a timed virtual
    Zebra per station (``PrinterRoom``, a process of its own), the server as ``make run`` starts
    it (``flask serve``, a process of its own, with ``FLOOR_PRINTERS`` naming those Zebras) and
    one packer per station talking HTTP to it from this process, as the pack page does."""

    def __init__(self, url: str, stations: int, processes: int = 1, redis_url: str = "") -> None:
        from bench.server_processes import start_floor_server, start_prod_servers

        migrate.upgrade(url)
        self.engine = make_engine(url)
        self.sessions = make_session_factory(self.engine)  # the set-up's own (orders, picks)
        with unit_of_work(self.sessions) as s:
            load_demo(s)
        self.codes = add_stations(self.sessions, stations)
        self.printers = PrinterRoom(stations)
        ports = zip(self.codes, self.printers.ports, strict=True)
        printers = ",".join(f"{code}=tcp://127.0.0.1:{port}" for code, port in ports)
        self.workdir = tempfile.TemporaryDirectory()
        env = {"FLOOR_PRINTERS": printers}
        try:
            if processes > 1:  # make serve-prod: stations spread over the processes
                self.server = start_prod_servers(
                    url, Path(self.workdir.name), processes, redis_url, env_extra=env
                )
            else:
                self.server = start_floor_server(url, Path(self.workdir.name), env_extra=env)
        except BaseException:
            self.printers.stop()
            raise
        bases = self.server.bases or [self.server.base]
        self.desks: list[Station] = [
            HttpStation(bases[i % len(bases)], code) for i, code in enumerate(self.codes)
        ]
        self.cpu = _cpus(self.server.proc.pid) if processes == 1 else f"{processes} processes"
        self.counting = False
        self.cpu_s = 0.0
        self.sql = 0
        self.made = 0  # orders picked so far

    def usage(self, *, before: bool) -> tuple[float, int]:
        """The server process's CPU seconds and SQL statements so far. The statement counter
        is read after a pause (it is a file the server rewrites every 0.1 s): before a round it
        is read first, after a round last, so the pause is not in the CPU window."""
        from bench.server_processes import cpu_s

        if before:
            sql = self.server.sql_count()
            return cpu_s(self.server.proc.pid), sql
        cpu = cpu_s(self.server.proc.pid)
        return cpu, self.server.sql_count()

    def stop(self) -> None:
        self.server.stop()
        self.printers.stop()
        self.engine.dispose()
        self.workdir.cleanup()

    def round(self, stations: int) -> tuple[list[float], list[float]]:
        """One close per station at once; (close -> last byte, close -> answer) per station."""
        from tests.factories import picked_order

        desks = self.desks[:stations]
        orders = []
        for _ in desks:
            self.made += 1
            orders.append(
                picked_order(self.sessions, lines(self.made), service="ground", ship_to=SHIP_TO)[0]
            )
        items = [desk.open(order) for desk, order in zip(desks, orders, strict=True)]
        barrier = threading.Barrier(len(desks))
        started: dict[str, float] = {}
        answered: dict[str, float] = {}
        failed: list[BaseException] = []

        def run(desk: Station, order: str, items: dict[str, int]) -> None:
            barrier.wait()
            started[desk.code] = time.perf_counter()
            try:
                desk.close(order, items)
            except BaseException as exc:  # reported below, in the main thread
                failed.append(exc)
            answered[desk.code] = time.perf_counter()

        before = [self.printers.count(i) for i in range(len(desks))]
        threads = [
            threading.Thread(target=run, args=job) for job in zip(desks, orders, items, strict=True)
        ]
        cpu, sql = self.usage(before=True) if self.counting else (0.0, 0)
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if failed:
            raise failed[0]
        total, answer = [], []
        for i, desk in enumerate(desks):
            if not self.printers.wait(i, before[i] + 1, WAIT_FOR_LABEL_S):
                raise SystemExit(f"no label at {desk.code} after {WAIT_FOR_LABEL_S:.0f} s")
            total.append((self.printers.arrivals[i][before[i]] - started[desk.code]) * 1000)
            answer.append((answered[desk.code] - started[desk.code]) * 1000)
        time.sleep(0.05)  # let the worker record "printed" before the next round's setup
        if self.counting:
            cpu_after, sql_after = self.usage(before=False)
            self.cpu_s += cpu_after - cpu
            self.sql += sql_after - sql
        return total, answer

    def measure(self, backend: str, stations: int, closes: int) -> Row:
        self.round(stations)  # warm-up: first requests compile templates, fill caches
        rounds = max(1, math.ceil(closes / stations))
        total: list[float] = []
        answer: list[float] = []
        self.counting = True
        self.cpu_s = 0.0
        self.sql = 0
        for _ in range(rounds):
            t, a = self.round(stations)
            total += t
            answer += a
        self.counting = False
        n = len(total)
        return Row(
            backend,
            stations,
            n,
            total,
            answer,
            self.sql / n,
            self.cpu_s * 1000 / n,
            os.getloadavg(),
            self.cpu,
        )


def run_backend(
    backend: str,
    url: str,
    stations: list[int],
    closes: int,
    report: Callable[[Row], None],
    processes: int = 1,
    redis_url: str = "",
) -> float:
    rig = Rig(url, max(stations), processes, redis_url)
    try:
        for n in stations:
            report(rig.measure(backend, n, closes))
        return bench_build_from_db(rig.sessions, 300)
    finally:
        rig.stop()


# --- output -------------------------------------------------------------------------------------

HEADER = (
    "| database | stations | closes | close → last byte p50 / p95 / max (ms) "
    "| /pack/close answer p50 / p95 (ms) | answer → last byte p50 / p95 (ms) "
    "| SQL per close | server CPU ms per close | server on CPU "
    "| load avg 1/5/15 min | p95 < 200 ms |"
)


def format_row(r: Row) -> str:
    t, a, p = r.total_ms, r.answer_ms, r.print_ms
    ok = "yes" if pct(t, 95) < GOAL_P95_MS else "**no**"
    return (
        f"| {r.backend} | {r.stations} | {r.closes} "
        f"| {statistics.median(t):.0f} / {pct(t, 95):.0f} / {max(t):.0f} "
        f"| {statistics.median(a):.0f} / {pct(a, 95):.0f} "
        f"| {statistics.median(p):.0f} / {pct(p, 95):.0f} "
        f"| {f'{r.sql:.0f}' if r.sql else '—'} | {r.cpu_ms:.1f} "
        f"| {r.server_cpu} "
        f"| {r.load[0]:.2f} / {r.load[1]:.2f} / {r.load[2]:.2f} | {ok} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("TEST_DATABASE_URL", ""),
        help="also PostgreSQL: a scratch database is created next to the one in this URL "
        "(default: TEST_DATABASE_URL; unset: SQLite only)",
    )
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument(
        "--stations", default="1,20", help="comma-separated station counts (default 1,20)"
    )
    parser.add_argument("--closes", type=int, default=100, help="samples per row (default 100)")
    parser.add_argument("--labels", type=int, default=2000, help="labels built for labels/s")
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="PostgreSQL: N server processes as `make serve-prod WORKERS=N` (needs --redis-url)",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("REDIS_URL", ""),
        help="the Socket.IO message queue of several processes (default: REDIS_URL)",
    )
    args = parser.parse_args()
    if args.processes > 1 and not (args.pg_url and args.redis_url):
        parser.error("--processes > 1 needs PostgreSQL (--pg-url) and Redis (--redis-url)")
    stations = [int(x) for x in args.stations.split(",") if x.strip()]
    faulthandler.dump_traceback_later(600, exit=True)  # a hang ends with every thread's stack

    command = "python -m bench.bench_printing " + shlex.join(sys.argv[1:])
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    cpu = platform.processor() or platform.machine()
    load = os.getloadavg()
    print(f"command: {command.strip()}")
    print(f"machine: {cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}; {now}")
    print(f"load average at start: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}", flush=True)
    built = bench_build(args.labels)

    rows: list[Row] = []
    from_db: dict[str, float] = {}

    def report(row: Row) -> None:
        rows.append(row)
        print(f"  measured: {format_row(row)}", flush=True)

    backends: list[tuple[str, Callable[[], Any]]] = []
    if not args.no_sqlite and args.processes == 1:  # SQLite's writer lock is per process
        backends.append(("SQLite", sqlite_database))
    if args.pg_url:
        backends.append(("PostgreSQL", lambda: postgresql_database(args.pg_url)))
    for name, database in backends:
        started = time.perf_counter()
        with database() as url:
            from_db[name] = run_backend(
                name, url, stations, args.closes, report, args.processes, args.redis_url
            )
        print(f"  {name} done in {time.perf_counter() - started:.1f} s", flush=True)

    print()
    print(
        f"labels built (build_shipping_label): {built:,.0f}/s; from the database "
        f"(build_package_label): " + ", ".join(f"{n} {v:,.0f}/s" for n, v in from_db.items())
    )
    print(
        f"close package -> last byte at a TCP printer on 127.0.0.1 (goal: p95 < "
        f"{GOAL_P95_MS:.0f} ms with 20 stations closing at once); {now}, {cpu}, "
        f"{os.cpu_count()} CPUs"
    )
    print(HEADER)
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(format_row(row))
    print(f"command: {command.strip()}")
    faulthandler.cancel_dump_traceback_later()


if __name__ == "__main__":
    main()
