"""Benchmark: the scan loop at floor scale — P handhelds as real Socket.IO clients against a real
server process and database, next to a bare Flask-SocketIO echo measured by the same clients in
the same run.

    python -m bench.bench_scanloop --handhelds 200 --rate 1 --duration 20 --db sqlite
    python -m bench.bench_scanloop --handhelds 10 --flat-out --duration 20
    python -m bench.bench_scanloop --db postgresql \
        --pg-url postgresql+psycopg://postgres@127.0.0.1:5432/test
    python -m bench.bench_scanloop --serve prod --processes 2 --db postgresql \
        --pg-url … --redis-url redis://127.0.0.1:6379/0     # make serve-prod WORKERS=2
    python -m bench.bench_scanloop      # (make bench) standard rows → docs/benchmarks-scanloop.md

How a run goes, touching the server only through its public doors:

1. **A fresh database.** SQLite: a file in a temporary directory. PostgreSQL: a new database
   ``scanloop_<pid>`` created next to the one in ``--pg-url`` (never the shared one) and
   dropped at the end.
2. **The warehouse.** ``flask --app app db-upgrade`` and ``flask --app app demo`` (the CLI).
   P picker users with badges ``BENCH-BADGE-<n>`` are added by one SQL text ``INSERT … SELECT``
   that copies the demo picker's row (``flask create-user`` costs about a second of start-up
   per user; 200 of them would take minutes). Nothing imports the app's Python modules.
3. **The server.** ``flask --app app serve`` in a subprocess (Werkzeug, threading mode: what
   ``make run`` starts), wrapped by ``bench/_sqlcount.py`` so every SQL statement is counted.
4. **Work.** Orders go in through ``POST /api/v1/orders/batch`` with the demo OMS key; the
   supervisor logs in (password + CSRF) and plans and releases waves through ``POST /waves``
   with small carts (``totes_per_cart`` 2) so there are many more pick lists than handhelds.
5. **Handhelds.** Each logs in by badge (``POST /login``), connects to ``/floor`` with the
   session cookie (WebSocket transport), asks ``task:next`` and scans the task's GTIN (or SKU
   code) until the task is done, then takes ``next_task`` from the ack (or asks again). Paced:
   one scan every 1/R s per handheld, random phase, never a catch-up burst (a picker who waited
   for a beep does not scan twice at once). Flat out: the next scan as soon as the ack arrives.
6. **Measure.** After a warm-up, scans *sent* in the window of ``--duration`` seconds: scans/s,
   scan → ack latency p50/p95/p99/max, errors (time-outs, ``ok: false``, results other than
   ``ok``), ``task:next`` calls, SQL statements per scan (every statement the server ran in the
   window, ``task:next`` and background jobs included, over the scans) and the server's CPU.
7. **Baseline.** The same clients, the same P and pacing, against ``bench/serving/echo_app.py``
   (a bare Flask-SocketIO app in threading mode, in its own process) in the same run. Flat
   out, the two take turns (``--windows``, 4 by default: floor, echo, floor, echo …, each for
   a quarter of ``--duration`` after its own warm-up), the one not measured stopped with
   SIGSTOP: on a shared machine whose speed drifts by ±25 % within minutes, a floor measured
   first and an echo measured a minute later compared two different machines.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import math
import os
import random
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import socketio
from sqlalchemy import create_engine, text

from bench.scanloop_report import TABLE_HEAD, markdown_row, write_doc
from bench.scratch_db import drop_database, recreate_database
from bench.server_processes import (
    SERVE_MODES,
    Server,
    cpu_s,
    flask_cli,
    machine_busy,
    pause,
    start_echo_server,
    start_floor_server,
    start_prod_servers,
)

NAMESPACE = "/floor"
DEMO_API_KEY = "demo-oms-key-change-me"  # the demo's OMS key (docs/api.md), accepted when unset
SUPERVISOR = ("sam", "supervisor-demo")  # the demo supervisor
DEMO_PICKER = "pat"  # the demo picker whose row the bench pickers copy
SKUS = 300  # the demo warehouse's SKU-00001 … SKU-00300
UNITS_PER_ORDER = 6  # 3 lines × 1-3 units: what make_orders averages
CSRF_RE = re.compile(r'name="csrf[-_]token"\s+(?:value|content)="([^"]+)"')
STANDARD_ROWS = (  # (handhelds, rate per handheld or None = flat out)
    (1, None),
    (10, None),
    (100, 1.0),
    (200, 1.0),
)


# --------------------------------------------------------------------------
# Databases and setup (public doors: CLI, HTTP; SQL text only for the users)
# --------------------------------------------------------------------------


@dataclass
class Database:
    url: str
    drop: Any = None  # callable that removes it

    def close(self) -> None:
        if self.drop is not None:
            self.drop()


def sqlite_database(workdir: Path) -> Database:
    return Database(f"sqlite:///{workdir / 'floor.db'}")


def postgresql_database(pg_url: str) -> Database:
    """A new database beside the one in ``pg_url`` (the shared one is never touched)."""
    name = f"scanloop_{os.getpid()}"
    return Database(recreate_database(pg_url, name), lambda: drop_database(pg_url, name))


def badge(n: int) -> str:
    return f"BENCH-BADGE-{n:04d}"


def add_pickers(db_url: str, count: int) -> None:
    """P picker users, each a copy of the demo picker's row with its own name and badge hash."""
    import hashlib

    engine = create_engine(db_url)
    rows = [
        {"u": f"bench{n:04d}", "h": hashlib.sha256(badge(n).encode()).hexdigest()}
        for n in range(count)
    ]
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (username, display_name, role, password_hash, badge_hash,"
                " active, created_at) SELECT :u, :u, role, NULL, :h, active, created_at"
                " FROM users WHERE username = :demo"
            ),
            [r | {"demo": DEMO_PICKER} for r in rows],
        )
    engine.dispose()


def make_orders(n: int, seed: int = 12) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    ship_by = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).replace(microsecond=0)
    orders = []
    for i in range(n):
        skus = rng.sample(range(1, SKUS + 1), 3)
        orders.append(
            {
                "external_id": f"SCAN-{i:06d}",
                "channel": "web",
                "priority": "standard",
                "ship_by": ship_by.isoformat(),
                "carrier": "ups",
                "service": "",
                "ship_to": {
                    "name": f"Customer {i}",
                    "company": "",
                    "address1": "1 Main Street",
                    "address2": "",
                    "city": "Springfield",
                    "region": "IL",
                    "postal_code": "62701",
                    "country": "US",
                    "phone": "+1 555 0100",
                    "email": f"c{i}@example.com",
                },
                "lines": [
                    {"line_id": str(k + 1), "sku": f"SKU-{s:05d}", "quantity": rng.randint(1, 3)}
                    for k, s in enumerate(skus)
                ],
                "notes": "",
            }
        )
    return orders


async def csrf_token(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(url) as r:
        page = await r.text()
    found = CSRF_RE.search(page)
    if found is None:
        raise RuntimeError(f"no CSRF token on {url}")
    return found.group(1)


async def post_orders(base: str, n: int) -> Counter[str]:
    statuses: Counter[str] = Counter()
    headers = {"Authorization": f"Bearer {DEMO_API_KEY}"}
    orders = make_orders(n)
    async with aiohttp.ClientSession(headers=headers) as http:
        for i in range(0, n, 1000):
            async with http.post(
                base + "/api/v1/orders/batch", json={"orders": orders[i : i + 1000]}
            ) as r:
                r.raise_for_status()
                for res in (await r.json())["results"]:
                    statuses[str(res["status"])] += 1
    return statuses


async def plan_waves(base: str) -> dict[str, int]:
    """Log in as the demo supervisor, plan every waiting order into waves and release them."""
    # unsafe=True: aiohttp keeps no cookies for IP-address hosts (127.0.0.1) otherwise
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        token = await csrf_token(http, base + "/login")
        form = {"csrf_token": token, "username": SUPERVISOR[0], "password": SUPERVISOR[1]}
        async with http.post(base + "/login", data=form, allow_redirects=False) as r:
            if r.status != 302:
                raise RuntimeError(f"supervisor login answered {r.status}")
        token = await csrf_token(http, base + "/dashboard")
        rule = {"split_by_zone": False, "totes_per_cart": 2, "group_by_cutoff": False}
        async with http.post(
            base + "/waves",
            json={"rule": rule, "release": True},
            headers={"X-CSRFToken": token},
        ) as r:
            body = await r.json()
            if r.status not in (200, 201):
                raise RuntimeError(f"POST /waves answered {r.status}: {body}")
    waves = body["waves"]
    return {"waves": len(waves), "pick_lists": sum(w["pick_lists"] for w in waves)}


async def badge_cookie(base: str, n: int) -> str:
    """Log in by badge; the session cookie the handheld's socket connects with."""
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        token = await csrf_token(http, base + "/login")
        form = {"csrf_token": token, "badge": badge(n)}
        async with http.post(base + "/login", data=form, allow_redirects=False) as r:
            if r.status != 302:
                raise RuntimeError(f"badge login answered {r.status}")
        return "; ".join(f"{c.key}={c.value}" for c in jar)


# --------------------------------------------------------------------------
# The handhelds
# --------------------------------------------------------------------------


@dataclass
class Tally:
    """What the handhelds saw; latencies only for scans sent inside the window."""

    latencies_s: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    next_calls: int = 0
    out_of_work: int = 0
    connect_failures: int = 0
    acked_in_window: int = 0  # good scans whose ack arrived in the window (SQL per scan)


def scan_code(task: dict[str, Any]) -> str:
    gtins = task["sku"].get("gtins") or []
    return gtins[0] if gtins else task["sku"]["code"]


def awaited_tote(task: dict[str, Any]) -> str | None:
    """The tote a task's units in hand wait for (a handheld of an earlier window left them
    there): the handheld shows "scan the tote now", so that is the next scan."""
    return task["tote"] if task.get("tote_scan") and task.get("held_units") else None


def still_open(task: dict[str, Any] | None) -> bool:
    return (
        task is not None
        and task.get("status") in ("pending", "assigned")
        and task["picked_qty"] < task["quantity"]
    )


async def handheld(
    n: int,
    base: str,
    cookie: str,
    clock: dict[str, float],
    interval_s: float | None,
    tally: Tally,
    ready: asyncio.Event,
    connected: list[int],
    window: int = 0,
) -> None:
    sio = socketio.AsyncClient(reconnection=False)
    try:
        await sio.connect(
            base,
            namespaces=[NAMESPACE],
            headers={"Cookie": cookie} if cookie else {},
            transports=["websocket"],
            wait_timeout=60,
        )
    except Exception:  # noqa: BLE001 - counted, the others go on
        tally.connect_failures += 1
        connected.append(n)
        return
    connected.append(n)
    await ready.wait()
    loop = asyncio.get_running_loop()
    start, window_from, window_to = clock["start"], clock["from"], clock["to"]
    next_send = start + (random.random() * interval_s if interval_s else 0.0)
    task: dict[str, Any] | None = None
    tote: str | None = None  # put-to-tote: the item was held, the tote scan books it
    seq = 0
    try:
        while loop.time() < window_to:
            if interval_s:
                await asyncio.sleep(max(0.0, next_send - loop.time()))
                next_send = max(next_send + interval_s, loop.time())
            if task is None:
                ack = await sio.call("task:next", {}, namespace=NAMESPACE, timeout=60)
                tally.next_calls += 1
                task = ack.get("task") if isinstance(ack, dict) else None
                if task is None:
                    tally.out_of_work += 1
                    await asyncio.sleep(0.5)
                    continue
                tote = awaited_tote(task)
            seq += 1
            payload = {
                "client_scan_id": f"b{n}-{window}-{seq}-{os.getpid()}",
                "task_id": task["id"],
                "code": tote or scan_code(task),
                "scanned_at": int(time.time() * 1000),
            }
            sent = loop.time()
            try:
                ack = await sio.call("scan", payload, namespace=NAMESPACE, timeout=60)
            except socketio.exceptions.TimeoutError:
                ack, kind = None, "timeout"
            took = loop.time() - sent
            counted = window_from <= sent < window_to
            if not isinstance(ack, dict):
                kind = "timeout" if ack is None else "bad_ack"
            elif not ack.get("ok"):
                kind = f"refused:{(ack.get('error') or {}).get('code')}"
            elif ack.get("result") != "ok":
                kind = f"result:{ack.get('result')}"
            else:
                kind = ""
            if counted:
                tally.latencies_s.append(took)
                if kind:
                    tally.errors[kind] += 1
            if not kind and window_from <= loop.time() < window_to:
                tally.acked_in_window += 1
            if kind:
                task, tote = None, None  # ask again: the server knows what to do
                continue
            tote = ack.get("await_tote")
            task = ack["task"] if still_open(ack.get("task")) else ack.get("next_task")
    finally:
        await sio.disconnect()


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (NaN when empty)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


async def drive(
    base: str | list[str],
    cookies: list[str],
    rate: float | None,
    warmup_s: float,
    duration_s: float,
    server: Server,
    window: int = 0,
) -> dict[str, Any]:
    """One measured window: the handhelds connect, warm up, are measured for ``duration_s``
    and disconnect. Raw sums, for ``summary`` (one window or several)."""
    loop = asyncio.get_running_loop()
    tally = Tally()
    ready = asyncio.Event()
    connected: list[int] = []
    clock: dict[str, float] = {}
    interval = 1.0 / rate if rate else None
    bases = base if isinstance(base, list) else [base]
    tasks = [
        asyncio.create_task(
            handheld(n, bases[n % len(bases)], c, clock, interval, tally, ready, connected, window)
        )
        for n, c in enumerate(cookies)
    ]
    while len(connected) < len(cookies):
        await asyncio.sleep(0.05)
    now = loop.time()
    clock.update(start=now + 0.2, **{"from": now + 0.2 + warmup_s})
    clock["to"] = clock["from"] + duration_s
    ready.set()
    await asyncio.sleep(max(0.0, clock["from"] - loop.time()))
    load_1m = os.getloadavg()[0]  # the machine may be shared: say how busy it was
    sql0, cpu0, wall0 = server.sql_count(), cpu_s(server.proc.pid), time.perf_counter()
    busy0 = machine_busy()
    await asyncio.sleep(max(0.0, clock["to"] - loop.time()))
    sql1, cpu1, wall1 = server.sql_count(), cpu_s(server.proc.pid), time.perf_counter()
    busy1 = machine_busy()
    await asyncio.gather(*tasks)
    return {
        "handhelds": len(cookies) - tally.connect_failures,
        "asked_per_s": (len(cookies) * rate) if rate else None,
        "latencies_s": tally.latencies_s,
        "errors": tally.errors,
        "connect_failures": tally.connect_failures,
        "next_calls": tally.next_calls,
        "out_of_work": tally.out_of_work,
        "acked": tally.acked_in_window,
        "sql": (sql1 - sql0) if server.count_file else None,
        "duration_s": duration_s,
        "cpu_s": cpu1 - cpu0,
        "busy_s": busy1 - busy0,
        "wall_s": wall1 - wall0,
        "load_1m": load_1m,
    }


def summary(windows: list[dict[str, Any]]) -> dict[str, Any]:
    """What the handhelds saw over the measured windows of one server."""
    lat = sorted(v for w in windows for v in w["latencies_s"])
    errors: Counter[str] = sum((Counter(w["errors"]) for w in windows), Counter())
    scans, duration = len(lat), sum(w["duration_s"] for w in windows)
    acked, wall = sum(w["acked"] for w in windows), sum(w["wall_s"] for w in windows)
    sql = [w["sql"] for w in windows]
    return {
        "handhelds": min(w["handhelds"] for w in windows),
        "scans": scans,
        "scans_per_s": (scans - sum(errors.values())) / duration,
        "asked_per_s": windows[0]["asked_per_s"],
        "p50_ms": percentile(lat, 50) * 1000,
        "p95_ms": percentile(lat, 95) * 1000,
        "p99_ms": percentile(lat, 99) * 1000,
        "max_ms": (lat[-1] * 1000) if lat else math.nan,
        "errors": dict(errors),
        "connect_failures": sum(w["connect_failures"] for w in windows),
        "next_calls": sum(w["next_calls"] for w in windows),
        "out_of_work": sum(w["out_of_work"] for w in windows),
        "sql_per_scan": sum(sql) / acked if acked and None not in sql else None,
        "server_cpu_pct": 100 * sum(w["cpu_s"] for w in windows) / wall,
        # every core's busy time (server, database, clients, anything else) in % of one core
        "machine_cpu_pct": 100 * sum(w["busy_s"] for w in windows) / wall,
        "load_1m": max(w["load_1m"] for w in windows),
    }


def good_per_s(window: dict[str, Any]) -> float:
    lat = window["latencies_s"]
    return (len(lat) - sum(window["errors"].values())) / window["duration_s"]


# --------------------------------------------------------------------------
# One row: the floor server and the echo, same clients, same run
# --------------------------------------------------------------------------


FLAT_OUT_MAX = 1500  # scans/s
FLAT_OUT_WINDOWS = 4  # flat out, the floor and the echo take turns (``run_row``)


def orders_needed(handhelds: int, rate: float | None, seconds: float) -> int:
    """Enough orders that no handheld runs out of work (flat out assumed ≤ FLAT_OUT_MAX scans/s:
    at 150, one process ran the floor out of pick work at ~250 scans/s; at 500, gevent at ~800)."""
    scans = handhelds * rate * seconds if rate else FLAT_OUT_MAX * seconds
    return int(1.5 * scans / UNITS_PER_ORDER) + 2 * handhelds + 20


def run_row(
    db: str,
    pg_url: str,
    handhelds: int,
    rate: float | None,
    duration_s: float,
    warmup_s: float,
    serve: str = "flask",
    processes: int = 1,
    redis_url: str = "",
    windows: int = 1,
) -> dict[str, Any]:
    """The floor server and the echo under the same load. With ``windows`` > 1 the two take
    turns, ``duration_s / windows`` each, the idle one stopped (SIGSTOP): a machine whose speed
    drifts during the run (a shared one does, ±25 % from run to run) slows both alike."""
    workdir = Path(tempfile.mkdtemp(prefix="scanloop-"))
    database = sqlite_database(workdir) if db == "sqlite" else postgresql_database(pg_url)
    server = echo = None
    try:
        t0 = time.perf_counter()
        flask_cli(database.url, "db-upgrade")
        flask_cli(database.url, "demo")
        add_pickers(database.url, handhelds)
        if serve == "prod":
            server = start_prod_servers(database.url, workdir, processes, redis_url)
        else:
            server = start_floor_server(database.url, workdir, serve)
        n_orders = orders_needed(handhelds, rate, duration_s + windows * (warmup_s + 1) + 2)
        statuses = asyncio.run(post_orders(server.base, n_orders))
        planned = asyncio.run(plan_waves(server.base))
        cookies = asyncio.run(_all_cookies(server.base, handhelds))
        setup_s = time.perf_counter() - t0
        print(
            f"  setup {setup_s:.0f} s: {n_orders} orders {dict(statuses)}, "
            f"{planned['waves']} wave(s), {planned['pick_lists']} pick lists",
            flush=True,
        )
        targets = server.bases or server.base
        window_s = duration_s / windows
        floor_windows, echo_windows = [], []
        for w in range(windows):
            floor_windows.append(
                asyncio.run(drive(targets, cookies, rate, warmup_s, window_s, server, w))
            )
            if echo is None:
                echo = start_echo_server(workdir)
            else:
                pause(echo.proc.pid, False)
            pause(server.proc.pid, True)
            echo_windows.append(
                asyncio.run(drive(echo.base, [""] * handhelds, rate, warmup_s, window_s, echo, w))
            )
            pause(server.proc.pid, False)
            print(
                f"  window {w + 1}: floor {good_per_s(floor_windows[-1]):.1f} scans/s, "
                f"echo {good_per_s(echo_windows[-1]):,.0f} round trips/s",
                flush=True,
            )
            if w < windows - 1:
                pause(echo.proc.pid, True)
    finally:
        for s in (server, echo):
            if s is not None:
                pause(s.proc.pid, False)
                s.stop()
        database.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "db": db,
        "serve": serve if serve != "prod" else f"prod x{processes}",
        "handhelds": handhelds,
        "rate": rate,
        "duration_s": duration_s,
        "orders": n_orders,
        "pick_lists": planned["pick_lists"],
        "windows": windows,
        "floor": summary(floor_windows),
        "echo": summary(echo_windows),
        # the floor's scans/s over the echo's round trips/s, window by window
        "of_echo_by_window": [
            round(good_per_s(f) / good_per_s(e), 4) if good_per_s(e) else None
            for f, e in zip(floor_windows, echo_windows, strict=True)
        ],
    }


async def _all_cookies(base: str, handhelds: int) -> list[str]:
    gate = asyncio.Semaphore(16)

    async def one(n: int) -> str:
        async with gate:
            return await badge_cookie(base, n)

    return list(await asyncio.gather(*(one(n) for n in range(handhelds))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--handhelds", type=int, default=None)
    parser.add_argument("--rate", type=float, default=1.0, help="scans/s per handheld when paced")
    parser.add_argument("--flat-out", action="store_true", help="no pacing: next scan on ack")
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before measuring")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("TEST_DATABASE_URL", ""),
        help="PostgreSQL server to create a scratch database on (default: TEST_DATABASE_URL)",
    )
    parser.add_argument(
        "--serve",
        choices=SERVE_MODES,
        default="flask",
        help="flask serve (Werkzeug threading) or the app under one gunicorn gthread/gevent worker",
    )
    parser.add_argument(
        "--processes", type=int, default=1, help="--serve prod: server processes (make serve-prod)"
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("REDIS_URL", ""),
        help="--serve prod with several processes: the Socket.IO message queue",
    )
    parser.add_argument(
        "--windows",
        type=int,
        default=None,
        help="floor and echo take turns in this many windows each (default: 4 flat out, 1 paced)",
    )
    parser.add_argument("--write", action="store_true", help="write docs/benchmarks-scanloop.md")
    args = parser.parse_args()
    if args.db == "postgresql" and not args.pg_url:
        parser.error("--db postgresql needs --pg-url (or TEST_DATABASE_URL)")
    if args.rate <= 0:
        parser.error("--rate must be > 0")
    if args.windows is not None and args.windows < 1:
        parser.error("--windows must be >= 1")
    if args.handhelds is None:  # make bench: the standard rows, written to the doc
        plan = [(p, r) for p, r in STANDARD_ROWS]
        write = True
    else:
        plan = [(args.handhelds, None if args.flat_out else args.rate)]
        write = args.write
    rows = []
    print(TABLE_HEAD, flush=True)
    for handhelds, rate in plan:
        windows = args.windows or (FLAT_OUT_WINDOWS if rate is None else 1)
        row = run_row(
            args.db, args.pg_url, handhelds, rate, args.duration, args.warmup, args.serve,
            args.processes, args.redis_url, windows,
        )  # fmt: skip
        rows.append(row)
        print(markdown_row(row), flush=True)
    if write:
        write_doc(rows, "python -m bench.bench_scanloop " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
