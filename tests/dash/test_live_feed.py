"""The dashboard's coalesced feed (web/live.py): a change is never held back behind the trailing
flush that brings the figures up to date, and flushes keep their pace."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from core.db import make_engine, make_session_factory, read_only
from web.live import DashboardLive


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
        until = time.monotonic() + 1.5
        while time.monotonic() < until:  # a change every 10 ms
            live.touch()
            time.sleep(0.01)
        inbox.wait_for(1, 10)
        live_messages = [b for _, b in inbox.got if "live" in b]
        assert 2 <= len(live_messages) <= 1.5 / 0.3 + 1
    finally:
        live.cancel()


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
