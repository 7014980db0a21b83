"""Live and light: open dashboards get at most one message a second, however busy the floor.

Every committed domain event still goes to the rooms it names (``web.sockets.emitter``): API
clients and tests listening on ``dashboard`` see each ``order.status`` or ``wave.progress``. The
dashboard page, though, moves from room ``dashboard`` to ``dashboard:live`` (socket event
``dashboard:live``) and there receives one ``dashboard.live`` message per flush:

    {"events": [{"name", "data"}, ...],   # the dashboard events since the last flush,
                                          # wave.progress kept only the latest per wave
     "live": {"people", "projections", "generated_at"},   # dashboard.live_state
     "figures": {...}}                    # today's figures, at most every FIGURES_EVERY s

A flush happens ``DELAY`` after the first change, but never sooner than ``INTERVAL`` after the
previous one; no change, no message and no timer thread. The figures (the heaviest part) ride
along at most every ``FIGURES_EVERY`` seconds; a flush that left them out schedules one more
flush for when they are due, so the page never keeps stale figures. Changes are the committed
events and ``touch()`` (a scan that published nothing, such as a wrong item, still moves a person's
accuracy and idle time). With 200 handhelds scanning, an open dashboard therefore receives one
message a second (``bench/bench_dashboard.py`` measures it).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from core.db import unit_of_work
from core.events import DomainEvent, resolve
from floor.fulfilment import dashboard as floor_dashboard

log = logging.getLogger(__name__)

ROOM = "dashboard:live"
EVENT = "dashboard.live"
INTERVAL = 1.0
DELAY = 0.1
FIGURES_EVERY = 5.0


class DashboardLive:
    """Collects dashboard events and flushes them, with the live state, at most once per
    ``interval`` seconds (see the module docstring)."""

    def __init__(
        self,
        emit: Callable[[str, dict[str, Any], str], None],
        sessions: sessionmaker[Session],
        *,
        interval: float = INTERVAL,
        delay: float = DELAY,
        figures_every: float = FIGURES_EVERY,
    ) -> None:
        self.emit = emit
        self.sessions = sessions
        self.interval = interval
        self.delay = delay
        self.figures_every = figures_every
        self._lock = threading.Lock()
        self._events: list[DomainEvent] = []
        self._waves: dict[Any, DomainEvent] = {}
        self._timer: threading.Timer | None = None
        self._last_flush = 0.0
        self._last_figures = 0.0
        self.flushes = 0
        self.last_flush_s = 0.0  # how long the last flush took to compute

    def add(self, events: list[DomainEvent]) -> None:
        """Take the committed events meant for the dashboard; schedule a flush."""
        mine = [ev for ev in events if "dashboard" in ev.rooms]
        if not mine:
            return
        with self._lock:
            for ev in mine:
                if ev.name == "wave.progress" and "id" in ev.data:
                    self._waves[ev.data["id"]] = ev
                else:
                    self._events.append(ev)
            self._schedule()

    def touch(self) -> None:
        """Something changed that published no event (e.g. a wrong-item scan)."""
        with self._lock:
            self._schedule()

    def _schedule(self, at_least: float = 0.0) -> None:
        if self._timer is not None:
            return
        wait = max(self.delay, at_least, self._last_flush + self.interval - time.monotonic())
        self._timer = threading.Timer(wait, self.flush)
        self._timer.daemon = True
        self._timer.start()

    def flush(self) -> None:
        with self._lock:
            events = self._events + list(self._waves.values())
            self._events, self._waves = [], {}
            self._timer = None
            self._last_flush = time.monotonic()
            with_figures = self._last_flush - self._last_figures >= self.figures_every
            if with_figures:
                self._last_figures = self._last_flush
            else:  # a trailing flush brings the figures up to date once they are due
                self._schedule(self._last_figures + self.figures_every - self._last_flush)
        started = time.perf_counter()
        try:
            with unit_of_work(self.sessions) as s:
                body: dict[str, Any] = {
                    "events": [{"name": ev.name, "data": ev.data} for ev in resolve(events, s)],
                    "live": floor_dashboard.live_state(s),
                }
                if with_figures:
                    body["figures"] = floor_dashboard.figures(s)
        except Exception:  # the database went away (shutdown); the next change tries again
            log.warning("dashboard live state failed", exc_info=True)
            return
        self.last_flush_s = time.perf_counter() - started
        self.flushes += 1
        self.emit(EVENT, body, ROOM)
        with self._lock:  # the next message comes at least ``interval`` after this one
            self._last_flush = time.monotonic()

    def cancel(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
