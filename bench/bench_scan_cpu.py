"""Benchmark: server CPU per scan, in one process, without the network — the figure that stays
put while other work shares the machine (``bench_scanloop`` measures the whole loop, and its
scans/s move with the load average).

    python -m bench.bench_scan_cpu [--scans 2000] [--db-url postgresql+psycopg://…/NAME]

A fresh migrated demo warehouse (SQLite in a temporary directory, or the given PostgreSQL
database, which it empties first), 300 orders planned into waves with carts of 2 totes (so
put-to-tote: an item scan, then the tote scan), then one picker runs ``task:next`` → ``scan``
through the real app (its Socket.IO test client: the handler, the unit of work, the domain events
and the after-commit fan-out all run). Printed: scans, CPU ms per scan (``time.process_time`` of
the whole process: the fan-out thread counts) in the best of 8 rounds, wall ms per scan, SQL
statements per scan.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event

ORDERS = 500
ROUNDS = 8  # the best round's CPU per scan is the figure: other work only ever adds to it


def _build(url: str) -> Any:
    from core.db import make_engine, make_session_factory, unit_of_work
    from migrations import migrate
    from tests.factories import DEFAULT_LINES, add_order, make_test_app, plan_and_release
    from web.demo import load_demo

    migrate.upgrade(url)
    engine = make_engine(url)
    with unit_of_work(make_session_factory(engine)) as s:
        load_demo(s)
    with unit_of_work(make_session_factory(engine)) as s:
        for _ in range(ORDERS):
            add_order(s, DEFAULT_LINES)
        plan_and_release(s, totes_per_cart=2)
    engine.dispose()
    return make_test_app(url)


def run(url: str, scans: int) -> dict[str, float]:
    app = _build(url)
    floor = app.extensions["floor"]
    statements = [0]

    def count(*_args: Any) -> None:
        statements[0] += 1

    event.listen(floor.engine, "before_cursor_execute", count)
    from tests.factories import login

    http = app.test_client()
    login(http, badge="BADGE-PICKER-1")
    sio = floor.socketio.test_client(app, namespace="/floor", flask_test_client=http)
    assert sio.is_connected("/floor"), "the picker could not connect"
    state: dict[str, Any] = {"tote": None, "task": None, "seq": 0}
    rounds = []
    for _ in range(ROUNDS):
        cpu0, wall0, sql0 = time.process_time(), time.perf_counter(), statements[0]
        done = _scan_loop(sio, state, scans // ROUNDS)
        rounds.append(
            (time.process_time() - cpu0, time.perf_counter() - wall0, statements[0] - sql0, done)
        )
    floor.close()
    full = [r for r in rounds if r[3] == scans // ROUNDS]
    if not full:
        raise SystemExit("the floor ran out of work: ask for fewer scans")
    cpu, wall, sql, done = min(full, key=lambda r: r[0] / r[3])
    return {
        "scans": sum(r[3] for r in rounds),
        "cpu_ms": 1000 * cpu / max(done, 1),
        "wall_ms": 1000 * wall / max(done, 1),
        "sql": sql / max(done, 1),
    }


def _scan_loop(sio: Any, state: dict[str, Any], scans: int) -> int:
    done, tote, task, seq = 0, state["tote"], state["task"], state["seq"]
    while done < scans:
        if task is None:
            task = sio.emit("task:next", {}, namespace="/floor", callback=True).get("task")
            if task is None:
                break
        seq += 1
        gtins = task["sku"]["gtins"]
        code = tote or (gtins[0] if gtins else task["sku"]["code"])
        ack = sio.emit(
            "scan",
            {"client_scan_id": f"cpu-{seq}", "task_id": task["id"], "code": code},
            namespace="/floor",
            callback=True,
        )
        if not ack.get("ok") or ack.get("result") != "ok":
            raise SystemExit(f"scan {seq} answered {ack}")
        done += 1
        tote = ack.get("await_tote")
        nxt = ack["task"]
        still = nxt and nxt["status"] == "assigned" and nxt["picked_qty"] < nxt["quantity"]
        task = nxt if still else ack.get("next_task")
    state.update(tote=tote, task=task, seq=seq)
    return done


def _empty(url: str) -> None:
    """Drop everything in the PostgreSQL database's public schema (a re-run starts afresh)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scans", type=int, default=2000)
    parser.add_argument("--db-url", default="", help="PostgreSQL database to use (emptied)")
    args = parser.parse_args()
    if args.db_url:
        _empty(args.db_url)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db_url or f"sqlite:///{Path(tmp) / 'cpu.sqlite3'}"
        r = run(url, args.scans)
    db = "postgresql" if url.startswith("postgresql") else "sqlite"
    print(
        f"| {db} | {r['scans']} | {r['cpu_ms']:.2f} ms | {r['wall_ms']:.2f} ms | {r['sql']:.1f} |"
    )


if __name__ == "__main__":
    main()
