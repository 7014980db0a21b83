"""Benchmark of the supervisor's live dashboard during a simulated run: 200 handhelds picking
from 50 released waves (~5,000 open tasks) while a dashboard is open.

Run from the repository root::

    python -m bench.bench_dashboard                    # SQLite; writes docs/benchmarks-dashboard.md
    python -m bench.bench_dashboard --pg URL           # PostgreSQL (a database it may fill)
    python -m bench.bench_dashboard --both --pg URL    # both, one summary table (~1.5 min)
    python -m bench.bench_dashboard --both --pg URL --earlier-scans 50000   # later in the day
    python -m bench.bench_dashboard --seconds 10 --no-write --screens

Setup (not timed): a fresh migrated database with the demo warehouse, 200 picker accounts,
~1,650 reserved orders of ~3 lines waved into >= 50 waves (<= 33 orders a wave) and released.

The run: a real server (werkzeug, Flask-SocketIO threading mode) on a free port; two
python-socketio supervisor clients, one on the coalesced feed (``dashboard:live``, what the page
uses) and one left on the per-event ``dashboard`` room (what an API client sees); ``--workers``
threads play the 200 handhelds round-robin through the same services and unit of work as the
socket handlers (``next_task``, ``confirm_scan`` with the SKU code, 5 % wrong items first), each
followed by ``DashboardLive.touch()`` as ``web.picking_sockets`` does.

Measured: the snapshot a dashboard loads (``GET /dashboard/state``, median of 5, before and
after the run), the time one live flush takes to compute (people + projections, and figures),
the messages per second each supervisor client receives, the scans per second achieved, and
**change → dashboard**: a third supervisor client, in its own process (a browser is not in
the server's process; here it would wait for the GIL behind the handheld threads), joins
``dashboard:live`` and notes when each ``dashboard.live`` message arrives and each picker's
count of decisive scans in it; each handheld thread notes when its scan's transaction committed
(the moment the real socket handler would send the ack). A scan's delay is the time from its
commit to the first message whose people table counts it (``time.monotonic`` is one clock
for both processes); p50 / p95 / max over every decisive scan of the run, and scans never shown
(none expected: the watcher stays 2.5 s after the run). ``--earlier-scans N`` first stores N
scans earlier in the shift (a busy day's later hour; rows only). ``--both`` runs SQLite, then
PostgreSQL, and prints one summary table.
``--screens`` saves screenshots of the dashboard in headless Chromium during the run under
docs/screenshots/.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import math
import multiprocessing
import os
import random
import re
import statistics
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import requests
import socketio
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.exc import OperationalError
from werkzeug.serving import make_server

from core.actors import Actor
from core.db import make_engine, make_session_factory, unit_of_work, utcnow
from core.users import Role, User
from floor.fulfilment import dashboard as floor_dashboard
from floor.fulfilment.models import PickTask, Scan
from floor.fulfilment.picking.scans import PickError, confirm_scan, next_task
from floor.fulfilment.shift_figures import DECISIVE
from floor.fulfilment.states import TaskStatus
from floor.fulfilment.waves.planning import RuleSpec, plan_waves, release_wave
from floor.site.layout import Location, LocationType, Sku
from floor.site.stock import Stock
from migrations import migrate
from orders.allocation import reserve_orders
from orders.models import Order, OrderLine
from orders.transitions import record_received
from web.demo import load_demo

DOC = Path("docs/benchmarks-dashboard.md")
MARK = "<!-- bench_dashboard writes its last run below this line -->"
SCREENS = Path("docs/screenshots")
SEED = 7
PICKERS = 200


def earlier_scans(sessions: Any, pickers: list[Actor], n: int) -> None:
    """``n`` scans of the same pickers earlier in the shift (the shift so far, from the UTC
    day's start to a minute ago): 95 % ok item scans of SKU codes, 5 % wrong items, on the floor's
    tasks. Rows only (tasks and stock untouched): what the dashboard's aggregates read later in a
    busy day."""
    if n <= 0:
        return
    rng = random.Random(SEED + 1)
    now = utcnow()
    start = floor_dashboard.shift_start(now)
    span = max((now - start).total_seconds() - 60, 1.0)
    with unit_of_work(sessions) as s:
        tasks = s.execute(select(PickTask.id, Sku.code).join(Sku, Sku.id == PickTask.sku_id)).all()
        rows = []
        for i in range(n):
            task_id, code = rng.choice(tasks)
            wrong = rng.random() < 0.05
            rows.append(
                {
                    "client_scan_id": f"earlier-{i}",
                    "user_id": pickers[i % len(pickers)].user_id,
                    "task_id": task_id,
                    "raw": "SKU-00000" if wrong else code,
                    "kind": "item",
                    "result": "wrong_item" if wrong else "ok",
                    "scanned_at": start + dt.timedelta(seconds=rng.random() * span),
                    "received_at": now,
                }
            )
        for at in range(0, n, 5000):
            s.execute(insert(Scan), rows[at : at + 5000])


def setup(url: str, n_orders: int) -> tuple[Any, list[Actor], dict[str, int]]:
    migrate.upgrade(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    rng = random.Random(SEED)
    with unit_of_work(sessions) as s:
        load_demo(s)
        faces = select(Location.id).where(Location.type == LocationType.pick_face)
        s.execute(update(Stock).where(Stock.location_id.in_(faces)).values(on_hand=100_000))
        for n in range(PICKERS):
            s.add(
                User(username=f"bench-p{n:03d}", display_name=f"Picker {n:03d}", role=Role.picker)
            )
    with unit_of_work(sessions) as s:
        sku_ids = s.scalars(select(Sku.id).order_by(Sku.code)).all()
        base = utcnow().replace(microsecond=0)
        cutoffs = [base + dt.timedelta(minutes=m) for m in (45, 90, 150, 240)]
        batch = []
        for n in range(n_orders):
            order = Order(
                external_id=f"DB-{n:05d}",
                ship_by=rng.choice(cutoffs),
                carrier="demo",
                ship_to={"name": "bench"},
                content_hash="0" * 64,
            )
            for i, sku in enumerate(sorted(rng.sample(sku_ids, rng.randint(2, 4))), 1):
                order.lines.append(
                    OrderLine(line_id=str(i), sku_id=sku, quantity=rng.randint(1, 2))
                )
            s.add(order)
            record_received(s, order, Actor.system())
            batch.append(order)
        s.flush()
        reserve_orders(s, batch, Actor.system())
    with unit_of_work(sessions) as s:
        sup = s.scalars(select(User).where(User.username == "sam")).one()
        actor = Actor(sup.username, Role.supervisor, sup.id)
        plan = plan_waves(s, RuleSpec(max_orders=33, split_by_zone=False), actor)
        for w in plan.waves:
            release_wave(s, w.id, actor)
        pickers = [
            Actor(u.username, Role.picker, u.id)
            for u in s.scalars(select(User).where(User.username.like("bench-p%")).order_by(User.id))
        ]
        shape = {
            "waves": len(plan.waves),
            "open_tasks": s.scalar(
                select(func.count(PickTask.id)).where(
                    PickTask.status.in_([TaskStatus.pending, TaskStatus.assigned])
                )
            ),
        }
    engine.dispose()
    return sessions, pickers, shape


def analyze(url: str) -> None:
    """PostgreSQL: gather statistics. A running server's tables have them (autovacuum analyzes
    within a minute of a wave's release); a database filled a second ago has none, and the
    planner then bitmap-ANDs ix_pick_tasks_status per pick list (people's held lists: 56 ms ->
    4 ms once analyzed)."""
    engine = make_engine(url, isolation_level="AUTOCOMMIT")
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("ANALYZE"))
    engine.dispose()


class Server:
    def __init__(self, app: Any) -> None:
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()


def supervisor_client(url: str, live: bool) -> tuple[Any, requests.Session, Counter[str], list]:
    http = requests.Session()
    token = re.search(r'name="csrf_token" value="([^"]+)"', http.get(url + "/login").text)
    assert token
    http.post(
        url + "/login",
        data={"csrf_token": token.group(1), "username": "sam", "password": "supervisor-demo"},
        allow_redirects=False,
    )
    cookie = "; ".join(f"{c.name}={c.value}" for c in http.cookies)
    sio = socketio.Client(reconnection=False)
    got: Counter[str] = Counter()
    stamps: list[float] = []

    @sio.on("*", namespace="/floor")
    def _any(event: str, *_args: Any) -> None:
        got[event] += 1
        stamps.append(time.monotonic())

    sio.connect(url, namespaces=["/floor"], headers={"Cookie": cookie}, transports=["websocket"])
    if live:
        sio.call("dashboard:live", {}, namespace="/floor", timeout=5)
    return sio, http, got, stamps


def watch_live(url: str, ready: Any, stop: Any, out: Any) -> None:
    """The open dashboard, in its own process (as a browser would be; in this process it would
    wait for the GIL behind the handheld threads): joins ``dashboard:live`` and notes, per
    ``dashboard.live`` message, when it arrived (``time.monotonic``, the same clock system-wide)
    and each picker's count of decisive scans in its people table."""
    sio, _http, _got, _stamps = supervisor_client(url, live=False)
    seen: list[tuple[float, dict[int, int], float, int]] = []

    @sio.on("dashboard.live", namespace="/floor")
    def _live(body: dict[str, Any]) -> None:
        at, wall = time.monotonic(), time.time()
        live = body.get("live")
        if live is None:  # today's figures, in a message of their own
            return
        read = dt.datetime.fromisoformat(live["generated_at"]).timestamp()
        counts = {p["user_id"]: p["scans"]["decisive"] for p in live.get("people", [])}
        size = len(json.dumps(body, separators=(",", ":")))
        seen.append((at, counts, wall - read, size))  # age: from the flush's read to arrival

    sio.call("dashboard:live", {}, namespace="/floor", timeout=5)
    ready.set()
    stop.wait(600)
    sio.disconnect()
    out.put(seen)


def change_delays(
    acks: list[tuple[int, float, str]],
    seen: list[tuple[float, dict[int, int], float, int]],
    base: dict[int, int],
) -> tuple[list[float], int]:
    """Per decisive scan (its commit is a change in the picker's row), the time from its commit
    to the first ``dashboard.live`` message whose people table counts it; and how many scans no
    message reflected before the watcher stopped."""
    seen = sorted(seen, key=lambda m: m[0])
    delays: list[float] = []
    missed = 0
    done: Counter[int] = Counter()
    for uid, acked, result in acks:
        if result not in DECISIVE:
            continue
        done[uid] += 1
        want = base.get(uid, 0) + done[uid]
        hit = next((at for at, counts, *_ in seen if counts.get(uid, 0) >= want), None)
        if hit is None:
            missed += 1
        else:
            delays.append(hit - acked)
    return delays, missed


def decisive_counts(sessions: Any) -> dict[int, int]:
    """Each user's decisive scans of the shift so far (what the people table counts)."""
    since = floor_dashboard.shift_start(utcnow())
    with unit_of_work(sessions) as s:
        rows = s.execute(
            select(Scan.user_id, func.count(Scan.id))
            .where(Scan.scanned_at >= since, Scan.result.in_(DECISIVE))
            .group_by(Scan.user_id)
        ).all()
    return {uid: n for uid, n in rows if uid is not None}


def nearest_rank(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


def snapshot_ms(http: requests.Session, url: str, n: int = 5) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = http.get(url + "/dashboard/state")
        r.raise_for_status()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def handhelds(
    sessions: Any,
    live: Any,
    pickers: list[Actor],
    seconds: float,
    workers: int,
    acks: list[tuple[int, float, str]] | None = None,
) -> dict:
    """Play the handhelds; ``acks`` gets ``(user id, monotonic time the commit returned, result)``
    per committed scan, in each user's order (a user's scans run in one thread)."""
    stop = time.monotonic() + seconds
    counts: Counter[str] = Counter()
    lock = threading.Lock()
    seq = itertools.count()

    def work(mine: list[Actor]) -> None:
        rng = random.Random(hash(mine[0].name))
        for actor in itertools.cycle(mine):
            if time.monotonic() >= stop:
                return
            try:
                with unit_of_work(sessions) as s:
                    task = next_task(s, actor)
                    if task is None:
                        continue
                    sku = s.scalar(select(Sku.code).where(Sku.id == task.sku_id)) or ""
                    code = "SKU-00000" if rng.random() < 0.05 else sku
                    out = confirm_scan(s, actor, task.id, code, f"bench-{next(seq)}")
                    result = out.result
                acked = time.monotonic()  # committed: the handheld's ack would go out now
                if acks is not None:
                    acks.append((actor.user_id, acked, result))
            except (PickError, OperationalError):
                result = "retry"
            live.touch()
            with lock:
                counts[result] += 1

    groups = [pickers[i::workers] for i in range(workers)]
    threads = [threading.Thread(target=work, args=(g,), daemon=True) for g in groups]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return dict(counts)


def per_second(stamps: list[float], start: float, end: float) -> tuple[float, int]:
    inside = [t for t in stamps if start <= t < end]
    buckets = Counter(int(t - start) for t in inside)
    return len(inside) / (end - start), max(buckets.values(), default=0)


def screenshots(url: str, stop: threading.Event) -> list[str]:
    from playwright.sync_api import sync_playwright

    from tests.browser import ARGS, CHROMIUM

    SCREENS.mkdir(parents=True, exist_ok=True)
    saved = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.goto(url + "/login")
        page.fill("#username", "sam")
        page.fill("#password", "supervisor-demo")
        page.click("#password-form button[type=submit]")
        page.wait_for_selector("body[data-live]")
        page.wait_for_timeout(6000)
        for name, clip in (("dashboard-run.png", None), ("dashboard-people.png", "#people-panel")):
            path = SCREENS / name
            if clip:
                page.locator(clip).screenshot(path=str(path))
            else:
                page.screenshot(path=str(path), full_page=False)
            saved.append(str(path))
        page.locator("button[data-drill]").first.click()
        page.wait_for_selector("#drill:not([hidden])")
        page.locator("#drill").screenshot(path=str(SCREENS / "dashboard-drill.png"))
        page.locator("#figures").screenshot(path=str(SCREENS / "dashboard-figures.png"))
        saved += [str(SCREENS / "dashboard-drill.png"), str(SCREENS / "dashboard-figures.png")]
        browser.close()
    stop.set()
    return saved


def run(url: str, args: Any, label: str) -> dict[str, Any]:
    from app import create_app

    t0 = time.perf_counter()
    sessions, pickers, shape = setup(url, args.orders)
    earlier_scans(sessions, pickers, args.earlier_scans)
    analyze(url)
    shape["earlier_scans"] = args.earlier_scans
    setup_s = time.perf_counter() - t0
    app = create_app({"database_url": url, "secret_key": "bench", "TESTING": True})
    ctx = app.extensions["floor"]
    server = Server(app)
    try:
        live_sio, http, live_got, live_stamps = supervisor_client(server.url, live=True)
        raw_sio, _h, raw_got, raw_stamps = supervisor_client(server.url, live=False)
        mp = multiprocessing.get_context("spawn")
        ready, stop_watch, watched = mp.Event(), mp.Event(), mp.Queue()
        watcher = mp.Process(
            target=watch_live, args=(server.url, ready, stop_watch, watched), daemon=True
        )
        watcher.start()
        if not ready.wait(60):
            raise RuntimeError("the dashboard watcher did not join dashboard:live")
        before_ms = snapshot_ms(http, server.url)
        with unit_of_work(ctx.sessions) as s:
            t1 = time.perf_counter()
            floor_dashboard.live_state(s)
            live_ms = 1000 * (time.perf_counter() - t1)
            t1 = time.perf_counter()
            floor_dashboard.figures(s)
            figures_ms = 1000 * (time.perf_counter() - t1)
        shots: list[str] = []
        done = threading.Event()
        if args.screens:
            shooter = threading.Thread(
                target=lambda: shots.extend(screenshots(server.url, done)), daemon=True
            )
            shooter.start()
        base = decisive_counts(ctx.sessions)
        acks: list[tuple[int, float, str]] = []
        start = time.monotonic()
        flushes0 = ctx.live.flushes
        scans = handhelds(ctx.sessions, ctx.live, pickers, args.seconds, args.workers, acks)
        end = time.monotonic()
        if args.screens:
            done.wait(60)
        time.sleep(2.5)  # the last changes' flush (and the trailing figures one) arrive
        stop_watch.set()
        seen = watched.get(timeout=30)
        watcher.join(10)
        delays, missed = change_delays(acks, seen, base)
        during = [m for m in seen if start <= m[0] < end]
        gaps = [b[0] - a[0] for a, b in itertools.pairwise(during)]
        ages = [m[2] for m in during]
        sizes = [m[3] for m in during]
        after_ms = snapshot_ms(http, server.url)
        with unit_of_work(ctx.sessions) as s:
            t1 = time.perf_counter()
            floor_dashboard.live_state(s)
            live_after_ms = 1000 * (time.perf_counter() - t1)
            t1 = time.perf_counter()
            figs = floor_dashboard.figures(s)
            figures_after_ms = 1000 * (time.perf_counter() - t1)
        live_rate, live_peak = per_second(live_stamps, start, end)
        raw_rate, raw_peak = per_second(raw_stamps, start, end)
        live_sio.disconnect()
        raw_sio.disconnect()
    finally:
        ctx.live.cancel()
        server.stop()
    total_scans = sum(v for k, v in scans.items() if k != "retry")
    return {
        "label": label,
        "setup_s": setup_s,
        "shape": shape,
        "seconds": end - start,
        "scans": scans,
        "scans_per_s": total_scans / (end - start),
        "snapshot_before_ms": before_ms,
        "snapshot_after_ms": after_ms,
        "live_ms": live_ms,
        "live_after_ms": live_after_ms,
        "figures_ms": figures_ms,
        "figures_after_ms": figures_after_ms,
        "flushes": ctx.live.flushes - flushes0,
        "last_flush_ms": 1000 * ctx.live.last_flush_s,
        "live_rate": live_rate,
        "live_peak": live_peak,
        "live_events": dict(live_got),
        "raw_rate": raw_rate,
        "raw_peak": raw_peak,
        "raw_events": dict(raw_got),
        "units_today": figs["units"],
        "screens": shots,
        "delays": delays,
        "missed": missed,
        "gap_max_s": max(gaps, default=None),
        "age_p50_s": nearest_rank(ages, 50),
        "age_max_s": max(ages, default=None),
        "kb_per_message": sum(sizes) / max(1, len(sizes)) / 1000,
    }


def _ms(seconds: float | None) -> str:
    return "–" if seconds is None else f"{1000 * seconds:.0f} ms"


def _delays(r: dict[str, Any]) -> str:
    d = r["delays"]
    if not d:
        return "no scan reflected"
    within = sum(1 for x in d if x <= 1.0)
    return (
        f"p50 {_ms(nearest_rank(d, 50))}, p95 {_ms(nearest_rank(d, 95))}, max {_ms(max(d))}; "
        f"{100 * within / len(d):.1f} % within 1 s; {r['missed']} never shown"
    )


def table(results: list[dict[str, Any]]) -> list[str]:
    """The one summary table the command prints last."""
    out = [
        "| backend | scans stored before | snapshot before / after | live state after"
        " | dashboard msgs/s (max in 1 s) | change → dashboard p50 / p95 / max | within 1 s"
        " | scans/s in the run |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        d = r["delays"]
        out.append(
            f"| {r['label']} | {r['shape']['earlier_scans']:,}"
            f" | {r['snapshot_before_ms']:.0f} / {r['snapshot_after_ms']:.0f} ms"
            f" | {r['live_after_ms']:.0f} ms | {r['live_rate']:.2f} ({r['live_peak']})"
            f" | {_ms(nearest_rank(d, 50))} / {_ms(nearest_rank(d, 95))} / "
            f"{_ms(max(d, default=None))}"
            f" | {100 * sum(1 for x in d if x <= 1.0) / max(1, len(d)):.1f} %"
            f" ({r['missed']} never) | {r['scans_per_s']:.1f} |"
        )
    return out


def render(results: list[dict[str, Any]], args: Any) -> str:
    out = [
        "# Benchmark: the live dashboard during a simulated run",
        "",
        "`python -m bench.bench_dashboard` (part of `make bench`); the method is in the module's"
        " docstring. 200 simulated handhelds, one open dashboard on the coalesced feed and one"
        " API client on the per-event room.",
        "",
    ]
    for r in results:
        sh = r["shape"]
        out += [
            f"## {r['label']}",
            "",
            f"- floor: {sh['waves']} released waves, {sh['open_tasks']} open tasks, "
            f"{PICKERS} pickers, {sh['earlier_scans']} scans stored earlier in the shift "
            f"(setup {r['setup_s']:.0f} s, not timed)",
            f"- run: {r['seconds']:.1f} s, {args.workers} handheld threads, "
            f"{r['scans_per_s']:.1f} scans/s ({r['scans']}); {r['units_today']} units booked today",
            f"- snapshot `GET /dashboard/state` (median of 5): {r['snapshot_before_ms']:.0f} ms "
            f"before the run, {r['snapshot_after_ms']:.0f} ms after",
            f"- live state (people + projections): {r['live_ms']:.0f} ms before, "
            f"{r['live_after_ms']:.0f} ms after; figures: {r['figures_ms']:.0f} ms before, "
            f"{r['figures_after_ms']:.0f} ms after; last flush in the run "
            f"{r['last_flush_ms']:.0f} ms",
            f"- open dashboard (`dashboard:live`): **{r['live_rate']:.2f} messages/s**, at most "
            f"{r['live_peak']} in any one second ({r['flushes']} flushes; {r['live_events']}); "
            f"{r['kb_per_message']:.0f} kB a message as JSON (mean)",
            f"- per-event room `dashboard`, for comparison: {r['raw_rate']:.1f} events/s, "
            f"at most {r['raw_peak']} in one second ({r['raw_events']})",
            f"- change → open dashboard (a scan's commit → the first `dashboard.live` message whose"
            f" people table counts it, {len(r['delays'])} decisive scans): "
            f"**{_delays(r)}**; longest gap between two messages during the run "
            f"{_ms(r['gap_max_s'])}; a message's state was {_ms(r['age_p50_s'])} old when it"
            f" arrived (median; max {_ms(r['age_max_s'])}: the flush's reads, the emit, the"
            " socket)",
        ]
        if r["screens"]:
            out.append("- screenshots: " + ", ".join(f"`{p}`" for p in r["screens"]))
        out.append("")
    load = os.getloadavg()
    out += ["## Summary", ""] + table(results) + [""]
    out.append(
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores; load average when"
        f" the run ended: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1 / 5 / 15 min); the"
        " handheld threads and the server share one process, the open dashboard is another."
    )
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=1650)
    parser.add_argument(
        "--earlier-scans",
        type=int,
        default=0,
        help="scans stored earlier in the shift before the run (a later hour of a busy day)",
    )
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--pg", default=os.environ.get("BENCH_PG_URL", ""))
    parser.add_argument(
        "--both", action="store_true", help="SQLite, then PostgreSQL at --pg (one table)"
    )
    parser.add_argument("--screens", action="store_true", help="save screenshots (chromium)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    results = []
    if args.both and not args.pg:
        parser.error("--both needs --pg URL (or BENCH_PG_URL)")
    with tempfile.TemporaryDirectory() as tmp:
        if args.both or not args.pg:
            results.append(run(f"sqlite:///{tmp}/bench.sqlite3", args, "SQLite"))
        if args.pg:
            from bench.bench_waves import _fresh_pg

            results.append(run(_fresh_pg(args.pg, "floor_bench_dashboard"), args, "PostgreSQL"))
    report = render(results, args)
    print(report)
    if not args.no_write:
        kept = DOC.read_text().split(MARK)[0] if DOC.exists() else ""
        DOC.write_text(kept + MARK + "\n\n" + report.split("\n", 2)[2] if kept else report)
        print(f"written to {DOC}" + (" (below the notes, which are kept)" if kept else ""))


if __name__ == "__main__":
    main()
