"""SIGKILL the real server (``flask --app app serve``) in the middle of webhook delivery, start
it again on the same database: every event still reaches the OMS, once per event id, in order
per order."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.db import make_engine, make_session_factory, unit_of_work
from orders.outbox import OutboxEvent, OutboxStatus
from sync.sandbox import Chaos, OmsReceiver
from tests.factories import SECRET, free_port, make_events, wait_healthy

ROOT = Path(__file__).resolve().parents[2]
ORDERS, PER_ORDER = 40, 4
TOTAL = ORDERS * PER_ORDER


def start(db_url: str, port: int, oms_url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "FLOOR_DATABASE_URL": db_url,
        "FLOOR_PORT": str(port),
        "FLOOR_SECRET_KEY": "kill-test",
        "FLOOR_OMS_WEBHOOK_URL": oms_url,
        "FLOOR_OMS_WEBHOOK_SECRET": SECRET,
        "FLOOR_WEBHOOK_TIMEOUT_S": "1",
        "FLOOR_WEBHOOK_BATCH": "8",
        "FLOOR_WEBHOOK_CONCURRENCY": "8",
        "FLOOR_WEBHOOK_BACKOFF_BASE_S": "0.2",
        "FLOOR_TRACKING_POLL_S": "0",
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "app", "serve"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def counts(sessions) -> dict:
    with unit_of_work(sessions) as s:
        return dict(
            s.execute(select(OutboxEvent.status, func.count()).group_by(OutboxEvent.status)).all()
        )


def in_flight(sessions) -> int:
    """Events claimed by a delivery round that has not finished."""
    with unit_of_work(sessions) as s:
        return s.scalar(select(func.count()).where(OutboxEvent.claim_token.is_not(None))) or 0


@pytest.mark.slow
def test_sigkill_mid_delivery_loses_nothing(sqlite_url, tmp_path):
    engine = make_engine(sqlite_url)
    sessions = make_session_factory(engine)
    make_events(sessions, ORDERS, PER_ORDER)
    with unit_of_work(sessions) as s:
        order_of = {e.event_id: e.aggregate_id for e in s.scalars(select(OutboxEvent))}
        expected = [e for e in s.scalars(select(OutboxEvent.event_id).order_by(OutboxEvent.id))]
    oms = OmsReceiver(SECRET, Chaos(delay_s=0.05)).start()
    port = free_port()
    log = tmp_path / "serve.log"
    proc = start(sqlite_url, port, oms.url, log)
    try:
        wait_healthy(port, proc)
        # Kill while a delivery round holds claims (posts in flight). A round is short and the
        # worker ticks every second, so poll closely; if the round ended in the instant between
        # the poll and the kill, start again and try once more.
        for attempt in range(5):
            if attempt:
                proc = start(sqlite_url, port, oms.url, log)
                wait_healthy(port, proc)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and (
                len(oms.accepted) < TOTAL // 4 or in_flight(sessions) == 0
            ):
                time.sleep(0.005)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            if in_flight(sessions) > 0:
                break
        at_kill = counts(sessions)
        assert 0 < at_kill.get(OutboxStatus.delivered, 0) < TOTAL, at_kill
        assert in_flight(sessions) > 0, "the kill did not land in the middle of a delivery round"

        proc = start(sqlite_url, port, oms.url, log)
        wait_healthy(port, proc)
        deadline = time.monotonic() + 90
        while counts(sessions) != {OutboxStatus.delivered: TOTAL}:
            assert time.monotonic() < deadline, (counts(sessions), log.read_text()[-2000:])
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        oms.stop()
        engine.dispose()
    assert oms.counters["bad_signature"] == 0
    assert len(oms.accepted_ids) == TOTAL == len(oms.accepted)
    assert oms.out_of_order == []
    by_order: dict[str, list[str]] = {}
    for ev in oms.accepted:
        by_order.setdefault(ev["order"], []).append(ev["event_id"])
    want: dict[str, list[str]] = {}
    for event_id in expected:
        want.setdefault(order_of[event_id], []).append(event_id)
    assert by_order == want
    assert "Traceback" not in log.read_text()
