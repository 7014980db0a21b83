"""What the live dashboard reads at each flush (the people table, the day's figures) comes from
the scans' time index alone: a busy day's tens of thousands of scans are never read row by row
from the table (SQLite: every statement on ``scans`` runs on the covering index)."""

from __future__ import annotations

import re

import pytest

from core.db import unit_of_work, utcnow
from floor.fulfilment import dashboard as floor_dashboard
from floor.fulfilment import people as floor_people
from floor.fulfilment.picking.scans import next_task
from tests.factories import (
    DEFAULT_LINES,
    actor_for,
    add_order,
    pick_scan,
    plan_and_release,
    statements_run,
)


def test_the_people_and_the_days_figures_read_the_scans_from_the_time_index_alone(sessions):
    engine = sessions.kw["bind"]
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL chooses index-only scans by its visibility map and statistics")
    with unit_of_work(sessions) as s:
        for _ in range(4):
            add_order(s, DEFAULT_LINES)
        plan_and_release(s)
    with unit_of_work(sessions) as s:
        picker = actor_for(s, "pat")
        for n in range(3):
            task = next_task(s, picker)
            pick_scan(s, picker, task.id, task.sku.code, f"plan-{n}")
            pick_scan(s, picker, task.id, "NOT-A-CODE", f"plan-wrong-{n}")

    def dashboard() -> None:
        with unit_of_work(sessions) as s:
            now = utcnow()
            rows = floor_people.people(s, now, floor_dashboard.shift_start(now))
            assert any(r["scans"]["decisive"] for r in rows)  # the scans were found
            floor_dashboard.figures(s, now)

    statements = [
        (sql, params)
        for sql, params, _many in statements_run(engine, dashboard)
        if re.search(r"\bFROM scans\b", sql)
    ]
    assert len(statements) >= 4, statements  # people: stats, codes, last places; figures
    with engine.connect() as conn:
        for statement, params in statements:
            plan = "\n".join(
                str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)
            )
            on_scans = [line for line in plan.splitlines() if re.search(r"\bscans\b", line)]
            assert on_scans, plan
            for line in on_scans:
                assert "COVERING INDEX ix_scans_scanned_at_covering" in line, (statement, plan)
