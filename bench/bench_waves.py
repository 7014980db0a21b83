"""Benchmark of wave planning on the real database: 10,000 orders (~30,000 lines) into waves and
routed pick lists, and batching's total walk against first-come-first-served on the demo floor.

Run from the repository root::

    python -m bench.bench_waves                   # SQLite; writes docs/benchmarks-waves.md
    python -m bench.bench_waves --pg URL          # also on PostgreSQL (a database it may fill)
    python -m bench.bench_waves --orders 2000 --no-write

Setup (not timed): a fresh migrated database with the demo warehouse (12 aisles, 3 zones,
pack station as depot), pick-face stock raised so every line can be reserved, orders of 1-5
lines (mean 3) over the 300 SKUs with a skewed popularity, 4 carrier cut-offs, 15 % express,
each reserved and allocated. Timed: ``plan_waves`` with the demo's default rule
(cut-off windows, express first, zone split, <= 200 orders a wave, 8 totes a cart) in one
transaction, commit included: candidate query, grouping, batching, exact routing of every
pick list, insert of every task, and the ``waved`` transition (with its outbox event) of every
order.

Batching vs FCFS: for every wave and zone of the plan, the same orders batched by
``batch_orders`` (seed-and-grow) and by ``batch_fcfs`` (arrival order, same cart size); every
list routed with ``route_optimal``; total walk in metres.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.engine import make_url

from core.actors import Actor
from core.db import make_engine, make_session_factory, unit_of_work
from floor.fulfilment.models import PickList, PickTask, WaveRule
from floor.fulfilment.waves.batching import BatchOrder, batch_fcfs, batch_orders
from floor.fulfilment.waves.planning import RuleSpec, plan_waves
from floor.site.geometry import geometry
from floor.site.layout import Location, LocationType, Sku
from floor.site.routing import route_optimal
from floor.site.stock import Stock
from migrations import migrate
from orders.allocation import reserve_orders
from orders.models import Order, OrderLine
from orders.states import Priority
from orders.transitions import record_received
from web.demo import load_demo

DOC = Path("docs/benchmarks-waves.md")
SEED = 42


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def setup(url: str, n_orders: int) -> tuple[Any, int]:
    """Migrate, load the demo, add ``n_orders`` reserved orders. Returns (factory, lines)."""
    migrate.upgrade(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    rng = random.Random(SEED)
    with unit_of_work(sessions) as s:
        load_demo(s)
        faces = select(Location.id).where(Location.type == LocationType.pick_face)
        s.execute(update(Stock).where(Stock.location_id.in_(faces)).values(on_hand=10_000))
    with unit_of_work(sessions) as s:
        sku_ids = s.scalars(select(Sku.id).order_by(Sku.code)).all()
    weights = [1 / (rank + 1) ** 0.7 for rank in range(len(sku_ids))]
    base = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)
    cutoffs = [base + dt.timedelta(hours=h) for h in (2, 4, 5, 7)]
    actor = Actor.system()
    lines = 0
    for start in range(0, n_orders, 1000):
        with unit_of_work(sessions) as s:
            batch = []
            for n in range(start, min(start + 1000, n_orders)):
                k = min(5, max(1, round(rng.gauss(3, 1.2))))
                skus = set()
                while len(skus) < k:
                    skus.add(rng.choices(sku_ids, weights)[0])
                order = Order(
                    external_id=f"B-{n:06d}",
                    ship_by=rng.choice(cutoffs),
                    carrier="demo",
                    priority=Priority.express if rng.random() < 0.15 else Priority.standard,
                    ship_to={"name": "bench"},
                    content_hash="0" * 64,
                )
                for i, sku in enumerate(sorted(skus), 1):
                    qty = 1 if rng.random() < 0.7 else rng.randint(2, 4)
                    order.lines.append(OrderLine(line_id=str(i), sku_id=sku, quantity=qty))
                lines += k
                s.add(order)
                record_received(s, order, actor)
                batch.append(order)
            s.flush()
            reserve_orders(s, batch, actor)
    return sessions, lines


def time_plan(sessions: Any, spec: RuleSpec) -> tuple[float, dict[str, Any]]:
    actor = Actor("bench")
    t0 = time.perf_counter()
    with unit_of_work(sessions) as s:
        result = plan_waves(s, spec, actor)
        wave_ids = result.wave_ids
    elapsed = time.perf_counter() - t0
    phases = dict(result.timings)
    phases["commit"] = elapsed - sum(phases.values())
    with unit_of_work(sessions) as s:
        lists = s.scalar(select(func.count(PickList.id)).where(PickList.wave_id.in_(wave_ids)))
        tasks = s.scalar(
            select(func.count(PickTask.id)).join(PickList).where(PickList.wave_id.in_(wave_ids))
        )
        orders = s.scalar(select(func.count(Order.id)).where(Order.wave_id.in_(wave_ids)))
    return elapsed, {
        "waves": len(wave_ids),
        "lists": lists,
        "tasks": tasks,
        "orders": orders,
        "phases": phases,
    }


def batching_vs_fcfs(sessions: Any, spec: RuleSpec) -> dict[str, Any]:
    """Re-batch each (wave, zone) pool of the stored plan both ways and route every list."""
    with unit_of_work(sessions) as s:
        geo = geometry(s)
        rows = s.execute(
            select(PickList.wave_id, PickList.zone_id, OrderLine.order_id, PickTask.location_id)
            .join(PickTask, PickTask.pick_list_id == PickList.id)
            .join(OrderLine, OrderLine.id == PickTask.order_line_id)
            .order_by(OrderLine.order_id, PickTask.id)
        ).all()
        stored = s.scalar(select(func.sum(PickList.route_length_m))) or 0.0
    pools: dict[tuple, dict[int, list]] = defaultdict(lambda: defaultdict(list))
    for wave_id, zone_id, order_id, loc in rows:
        pools[(wave_id, zone_id)][order_id].append(geo.pick(loc))
    totals = {"seed": 0.0, "fcfs": 0.0, "seed_lists": 0, "fcfs_lists": 0}
    timing = {"seed": 0.0, "fcfs": 0.0}
    for pool in pools.values():
        orders = [BatchOrder(oid, tuple(picks), 1) for oid, picks in sorted(pool.items())]
        by_key = {o.key: o for o in orders}
        for name, fn in (("seed", batch_orders), ("fcfs", batch_fcfs)):
            t0 = time.perf_counter()
            kwargs: dict[str, Any] = {"totes_per_cart": spec.totes_per_cart}
            if name == "seed":
                kwargs["big_order_picks"] = spec.big_order_picks
            batches = fn(geo.layout, orders, **kwargs)
            timing[name] += time.perf_counter() - t0
            for keys in batches:
                picks = [p for k in keys for p in by_key[k].picks]
                totals[name] += route_optimal(geo.layout, picks).length_m
            totals[f"{name}_lists"] += len(batches)
    return {**totals, "stored": stored, "timing": timing}


def run(url: str, n_orders: int, spec: RuleSpec, label: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    sessions, lines = setup(url, n_orders)
    setup_s = time.perf_counter() - t0
    load = os.getloadavg()[0]
    elapsed, counts = time_plan(sessions, spec)
    walk = batching_vs_fcfs(sessions, spec)
    sessions.kw["bind"].dispose()
    return {
        "label": label,
        "orders": n_orders,
        "lines": lines,
        "setup_s": setup_s,
        "plan_s": elapsed,
        "load": load,
        **counts,
        "walk": walk,
    }


def _fresh_pg(url: str, name: str) -> str:
    admin = make_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--pg", default=os.environ.get("BENCH_PG_URL", ""))
    parser.add_argument(
        "--pg-db",
        default="floor_bench_waves",
        help="database the PostgreSQL run drops and re-creates (next to the one in --pg)",
    )
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine_url = f"sqlite:///{tmp}/bench.sqlite3"
        spec = _default_rule()
        results = [run(engine_url, args.orders, spec, "SQLite")]
        zone_free = RuleSpec(split_by_zone=False)
        results.append(
            run(f"sqlite:///{tmp}/bench2.sqlite3", args.orders, zone_free, "SQLite, no zone split")
        )
    if args.pg:
        results.append(run(_fresh_pg(args.pg, args.pg_db), args.orders, spec, "PostgreSQL"))
    load = os.getloadavg()
    report = render(results, spec)
    report += (
        f"\nLoad average when the run ended: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} "
        "(1 / 5 / 15 min; other work on the same 2 cores inflates the times above).\n"
    )
    print(report)
    if not args.no_write:
        DOC.write_text(report)
        print(f"written to {DOC}")


def _default_rule() -> RuleSpec:
    """The demo's default rule (what a fresh site plans with)."""
    defaults = {c.name: c.default.arg for c in WaveRule.__table__.columns if c.default is not None}
    return RuleSpec.parse(
        {k: v for k, v in defaults.items() if k in RuleSpec.__dataclass_fields__ and k != "name"}
        | {"name": "Default"}
    )


def render(results: list[dict[str, Any]], spec: RuleSpec) -> str:
    out = [
        "## Waves: planning and batching on the real database",
        "",
        "Command: `python -m bench.bench_waves` (from the repository root; `--pg URL` adds "
        "PostgreSQL, in a database `--pg-db NAME` it drops and re-creates).",
        f"Machine: {os.cpu_count()} CPUs (nproc), {_cpu()}, Python {platform.python_version()}. "
        f"Date: {dt.date.today().isoformat()}.",
        "",
        "Demo floor (12 aisles of 30 m in 3 zones, depot at pack station PACK-01 on the front "
        "cross aisle). Orders of 1-5 lines (mean 3), skewed SKU popularity, 4 cut-offs, 15 % "
        f"express. Rule: cut-off window {spec.cutoff_window_min} min, express first, "
        f"<= {spec.max_orders} orders / {spec.max_lines} lines / {spec.max_units} units a wave, "
        f"{spec.totes_per_cart} totes a cart, own list from {spec.big_order_picks} picks.",
        "",
        "Timed: `plan_waves` in one transaction with its commit (candidates, grouping, "
        "batching, exact Ratliff-Rosenthal routing of every list, one task per reservation, "
        "`waved` transition + outbox event per order). Goal: under 10 s for 10,000 orders.",
        "",
        "How it is written: pick lists, tasks and outbox events are bulk inserts "
        "(`core.bulk.insert_rows`: `COPY` on PostgreSQL, one DBAPI executemany on SQLite), "
        "the 10,000 orders move to `waved` with `orders.transitions.transition_many` (one "
        "`UPDATE … FROM unnest(…)` on PostgreSQL, one executemany on SQLite, plus the bulk "
        "event insert). On PostgreSQL `store_tasks` is mostly the server checking the 7 "
        "foreign keys of each of the 30,000 task rows.",
        "",
        "Before (2026-11-23, one `transition` and ORM flush per order, ORM pick lists): "
        "SQLite 8.60 s, SQLite without zone split 7.34 s, PostgreSQL 10.43 s (load average "
        "~2.4); the order updates and their outbox events alone took 3.2 s (SQLite) and 5.0 s "
        "(PostgreSQL) to flush.",
        "",
        "| database | orders | lines | waves | pick lists | tasks | plan + route + store, s "
        "| phases, s | load avg (1 min) before |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for r in results:
        phases = ", ".join(f"{k} {v:.2f}" for k, v in r["phases"].items())
        out.append(
            f"| {r['label']} | {r['orders']:,} | {r['lines']:,} | {r['waves']} | {r['lists']:,} "
            f"| {r['tasks']:,} | {r['plan_s']:.2f} | {phases} | {r['load']:.2f} |"
        )
    out += [
        "",
        "Batching vs first-come-first-served: the same orders of every (wave, zone) pool, "
        "batched by `batch_orders` (seed-and-grow over aisle footprints) and by `batch_fcfs` "
        "(arrival order), same cart size, every list routed optimally.",
        "",
        "| plan | pick lists seed / FCFS | total walk seed, m | total walk FCFS, m | "
        "seed vs FCFS | batching time seed / FCFS, ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        w = r["walk"]
        out.append(
            f"| {r['label']} | {w['seed_lists']:,} / {w['fcfs_lists']:,} | {w['seed']:,.0f} | "
            f"{w['fcfs']:,.0f} | {100 * (w['seed'] / w['fcfs'] - 1):+.1f} % | "
            f"{1000 * w['timing']['seed']:.0f} / {1000 * w['timing']['fcfs']:.0f} |"
        )
    out += [
        "",
        "The planner stores the seed-and-grow result: its stored total route length equals the "
        "seed column "
        + ", ".join(f"({r['label']}: {r['walk']['stored']:,.0f} m)" for r in results)
        + ".",
        "",
    ]
    return "\n".join(out)


if __name__ == "__main__":
    main()
