"""The dashboard's coalesced feed (web/live.py): a change is never held back behind the trailing
flush that brings the figures up to date, and flushes keep their pace."""

from __future__ import annotations

import threading
import time
from functools import partial
from typing import Any

import pytest

from core.actors import Actor
from core.db import make_engine, make_session_factory, read_only, unit_of_work
from core.events import DomainEvent, resolve
from floor.fulfilment import dashboard as floor_dashboard
from floor.fulfilment.waves import progress
from floor.fulfilment.waves.planning import RuleSpec, plan_waves, release_wave
from floor.fulfilment.waves.progress import _summary_of
from tests.factories import OMS_AUTH, add_order, order_payload, socket_for
from web.live import DashboardLive, with_summaries


@pytest.fixture
def readers(db_url):
    engine = make_engine(db_url)
    yield make_session_factory(read_only(engine))
    engine.dispose()


class Inbox:
    def __init__(self) -> None:
        self.got: list[tuple[float, dict[str, Any]]] = []
        self.arrived = threading.Condition()

    def emit(self, _name: str, body: dict[str, Any], _room: str) -> None:
        with self.arrived:
            self.got.append((time.monotonic(), body))
            self.arrived.notify_all()

    def wait_for(self, n: int, timeout: float) -> None:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.got) >= n, timeout), self.got


def test_a_change_is_not_held_back_by_the_trailing_figures_flush(readers):
    inbox = Inbox()
    live = DashboardLive(inbox.emit, readers, interval=0.3, delay=0.01, figures_every=30.0)
    try:
        live.touch()
        inbox.wait_for(2, 10)  # the first flush: the live state, then the figures
        live.touch()
        inbox.wait_for(3, 10)  # no figures: the trailing flush for them is 30 s away
        changed = time.monotonic()
        live.touch()
        inbox.wait_for(4, 10)
        (_, first), (_, figures), (_, second), (t3, third) = inbox.got
        assert "live" in first and "figures" not in first
        assert set(figures) == {"events", "figures"} and figures["events"] == []
        assert "figures" not in second and "figures" not in third
        assert t3 - changed < 5.0  # was: held until the figures were due (30 s here)
    finally:
        live.cancel()


def test_a_busy_floor_gets_one_message_per_interval(readers):
    inbox = Inbox()
    live = DashboardLive(inbox.emit, readers, interval=0.3, delay=0.01, figures_every=30.0)
    try:
        # A change every 10 ms for at least 1.5 s, and on until two live messages came (a
        # loaded machine computes the state slowly): never more than one per interval.
        start = time.monotonic()
        while time.monotonic() - start < 1.5 or _live(inbox) < 2:
            assert time.monotonic() - start < 30, inbox.got
            live.touch()
            time.sleep(0.01)
        elapsed = time.monotonic() - start
        assert 2 <= _live(inbox) <= elapsed / 0.3 + 1
    finally:
        live.cancel()


def _live(inbox: Inbox) -> int:
    with inbox.arrived:
        return sum(1 for _, b in inbox.got if "live" in b)


def test_no_change_no_message(readers):
    inbox = Inbox()
    live = DashboardLive(inbox.emit, readers, interval=0.05, delay=0.01, figures_every=0.1)
    try:
        live.touch()
        inbox.wait_for(2, 10)
        time.sleep(0.5)
        assert len(inbox.got) == 2  # the first flush had the figures: nothing trails it
    finally:
        live.cancel()


def test_with_no_page_listening_nothing_is_computed_and_a_new_listener_gets_the_state(readers):
    inbox = Inbox()
    listening = [False]
    live = DashboardLive(
        inbox.emit,
        readers,
        interval=0.05,
        delay=0.01,
        figures_every=30.0,
        watched=lambda: listening[0],
    )
    try:
        live.add([DomainEvent("order.status", {"order": "NOBODY-1"})])
        live.touch()
        time.sleep(0.3)
        assert inbox.got == [] and live.flushes == 0
        listening[0] = True
        live.touch()  # what joining the room does
        inbox.wait_for(1, 10)
        assert "live" in inbox.got[0][1] and inbox.got[0][1]["events"] == []
    finally:
        live.cancel()


def test_a_dashboard_socket_gets_the_state_on_joining_and_every_change_after(app, live_server):
    """Through the real server: no page, no flush; the page's socket joins ``dashboard:live``
    and gets the live state at once, then the next order's event."""
    floor = app.extensions["floor"]
    oms = app.test_client()
    assert (
        oms.post("/api/v1/orders", json=order_payload("LIVE-W-1"), headers=OMS_AUTH).status_code
        == 201
    )
    time.sleep(0.4)
    assert floor.live.flushes == 0, "nobody listens: nothing to compute"
    page = socket_for(
        live_server.url, listen=["dashboard.live"], username="sam", password="supervisor-demo"
    )
    try:
        assert page.call("dashboard:live", namespace="/floor", timeout=10)["ok"]
        first = page.wait_for("dashboard.live", 10)[0]
        assert "live" in first
        r = oms.post("/api/v1/orders", json=order_payload("LIVE-W-2"), headers=OMS_AUTH)
        assert r.status_code == 201
        deadline = time.monotonic() + 10
        while "LIVE-W-2" not in str(page.received["dashboard.live"]):
            assert time.monotonic() < deadline, page.received["dashboard.live"]
            time.sleep(0.05)
    finally:
        page.disconnect()


def test_wave_progress_takes_the_board_summary(sessions, readers, monkeypatch):
    """A ``wave.progress`` snapshot of a wave on the board goes out with the board's summary,
    exactly what resolving it on its own gives."""
    # One clock for both summaries: read a moment apart, their seconds to the cut-off once
    # straddled a second (a fresh-clone CI run: 97288962 against 97288961).
    frozen = progress.utcnow()
    monkeypatch.setattr(progress, "utcnow", lambda: frozen)
    with unit_of_work(sessions) as s:
        add_order(s, external_id="LIVE-1")
        system = Actor.system()
        plan = plan_waves(s, RuleSpec(), system)
        wave_id = plan.waves[0].id
        release_wave(s, wave_id, system)
    with unit_of_work(readers) as s:
        board = floor_dashboard.board_waves(s)
        sent = with_summaries(
            [
                DomainEvent(
                    "wave.progress", {"id": wave_id}, ("dashboard",), partial(_summary_of, wave_id)
                )
            ],
            board,
        )
        alone = resolve(
            [
                DomainEvent(
                    "wave.progress", {"id": wave_id}, ("dashboard",), partial(_summary_of, wave_id)
                )
            ],
            s,
        )
    assert sent[0].snapshot is None and sent[0].data["id"] == wave_id
    assert sent[0].data == alone[0].data
