"""Live and light: open dashboards get at most one live message every ``INTERVAL`` (0.6 s) and
one with the figures every ``FIGURES_EVERY`` (5 s), however busy the floor, and every change
reaches them within a second.

Every committed domain event still goes to the rooms it names (``web.sockets.emitter``): API
clients and tests listening on ``dashboard`` see each ``order.status`` or ``wave.progress``. The
dashboard page, though, moves from room ``dashboard`` to ``dashboard:live`` (socket event
``dashboard:live``) and there receives one ``dashboard.live`` message per flush:

    {"events": [{"name", "data"}, ...],   # the dashboard events since the last flush,
                                          # wave.progress kept only the latest per wave,
                                          # order.status with its feed position "seq"
     "live": {"people", "projections", "generated_at"}}   # dashboard.live_state

and, at most every ``FIGURES_EVERY`` seconds, right after one of those, a message of its own
with today's figures: ``{"events": [], "figures": {...}}``.

A flush begins ``DELAY`` after the first change, but never sooner than ``INTERVAL`` after the
previous flush began; flushes run one at a time; no change, no message and no timer thread. A
change made just after a flush read the floor waits at most ``INTERVAL`` plus one flush and
the socket (40-100 ms idle; up to ~0.4 s with 200 handhelds busy on 2 cores: the people table
and the figures are SQL aggregates), so ``INTERVAL`` is 0.6 s, not 1 s: at 0.75 s the slowest
change took 1.1-1.2 s on PostgreSQL in ``bench/bench_dashboard.py``, at 0.6 s 0.8-0.9 s.

With no dashboard page listening (``watched``: nobody in the room in this process, and no
message queue through which a page on another process could listen) nothing is computed: at
200 handhelds the people table alone is a few per cent of the server's CPU. A page that starts
listening gets a flush at once.

The figures (the heaviest part: ~0.3 s with 50,000 scans in the day) follow a flush at most
every ``FIGURES_EVERY`` seconds, in their own message after the live one, so they never delay a
change; a flush that left them out sets a timer for when they are due, so the page never keeps
stale figures — and a change arriving meanwhile pulls that timer in rather than waiting for it
(it used to wait, up to 5 s). Changes are the committed events and ``touch()`` (a scan that
published nothing, such as a wrong item, still moves a person's accuracy and idle time). The
flush reads through a read-only session (``core.db.read_only``: on SQLite it never queues behind
the handhelds' writer lock). ``bench/bench_dashboard.py`` measures the messages per second and
the delay from a scan's commit to the message that shows it.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from core.db import unit_of_work, utcnow
from core.events import DomainEvent, resolve
from floor.fulfilment import dashboard as floor_dashboard
from orders.outbox import positions

log = logging.getLogger(__name__)

ROOM = "dashboard:live"
EVENT = "dashboard.live"
INTERVAL = 0.6
DELAY = 0.1
FIGURES_EVERY = 5.0


def with_summaries(events: list[DomainEvent], board: list[dict[str, Any]]) -> list[DomainEvent]:
    """``wave.progress`` snapshots (``core.events.publish_snapshot``) of waves on the board take
    the board's summary (``board_waves`` read them all in one query) instead of one query each
    in ``resolve``: with 200 handhelds nearly every open wave moves between two flushes."""
    known = {w["id"]: w for w in board}
    return [
        DomainEvent(ev.name, known[ev.data["id"]], ev.rooms)
        if ev.snapshot is not None and ev.name == "wave.progress" and ev.data["id"] in known
        else ev
        for ev in events
    ]


def with_positions(events: list[DomainEvent], session: Session) -> list[dict[str, Any]]:
    """The events as the page gets them, each ``order.status`` with its feed position
    (``seq``, one query for all of them): the page counts a move only if its last snapshot
    (``floor.fulfilment.dashboard.snapshot``, whose ``seq`` says up to where it counted) did
    not already. Without it a move committed just before a (re)connected page read its
    snapshot, and sent in the flush just after, was counted twice."""
    wanted = [
        ev.data["event_id"] for ev in events if ev.name == "order.status" and "event_id" in ev.data
    ]
    at = positions(session, wanted) if wanted else {}
    out = []
    for ev in events:
        data = ev.data
        if ev.name == "order.status" and data.get("event_id") in at:
            data = {**data, "seq": at[data["event_id"]]}
        out.append({"name": ev.name, "data": data})
    return out


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
        watched: Callable[[], bool] = lambda: True,
        zone: dt.tzinfo = dt.UTC,
    ) -> None:
        self.emit = emit
        self.zone = zone  # the site's time zone: "today" and "this shift" are its day
        self.watched = watched  # is a dashboard page listening? (False: nothing to compute)
        self.sessions = sessions
        self.interval = interval
        self.delay = delay
        self.figures_every = figures_every
        self._lock = threading.Lock()
        self._events: list[DomainEvent] = []
        self._waves: dict[Any, DomainEvent] = {}
        self._timer: threading.Timer | None = None
        self._due = 0.0  # when the pending timer fires (time.monotonic)
        self._generation = 0  # of the pending timer
        self._running = threading.Lock()  # one flush at a time
        self._last_start = -interval  # when the last flush began
        self._last_figures = -figures_every
        self.flushes = 0
        self.last_flush_s = 0.0  # how long the last flush took to compute

    def add(self, events: list[DomainEvent]) -> None:
        """Take the committed events meant for the dashboard; schedule a flush."""
        mine = [ev for ev in events if "dashboard" in ev.rooms]
        if not mine or not self.watched():
            return
        with self._lock:
            for ev in mine:
                if ev.name == "wave.progress" and "id" in ev.data:
                    self._waves[ev.data["id"]] = ev
                else:
                    self._events.append(ev)
            self._schedule()

    def touch(self) -> None:
        """Something changed that published no event (e.g. a wrong-item scan), or a page
        started listening (it gets the live state at once)."""
        if not self.watched():
            return
        with self._lock:
            self._schedule()

    def _schedule(self, not_before: float = 0.0) -> None:
        """Have a flush run at the earliest moment allowed: ``delay`` from now and ``interval``
        after the previous flush began (and not before ``not_before``). A timer already set for
        that moment or sooner is kept; one set for later (the trailing figures flush) is
        replaced, so it never holds a change back. Called with ``_lock`` held."""
        now = time.monotonic()
        at = max(now + self.delay, self._last_start + self.interval, not_before)
        if self._timer is not None:
            if self._due <= at:
                return
            self._timer.cancel()
        self._generation += 1
        self._due = at
        self._timer = threading.Timer(at - now, self.flush, kwargs={"generation": self._generation})
        self._timer.daemon = True
        self._timer.start()

    def flush(self, generation: int | None = None) -> None:
        """Compute the live state and send it with the events collected so far (``generation``:
        the timer that calls it; a timer replaced meanwhile does nothing). Flushes run one at a
        time, so messages leave in the order their states were read."""
        with self._running:
            with self._lock:
                if generation is not None and generation != self._generation:
                    return
                events = self._events + list(self._waves.values())
                self._events, self._waves = [], {}
                self._timer = None
                self._last_start = time.monotonic()
                with_figures = self._last_start - self._last_figures >= self.figures_every
                if with_figures:
                    self._last_figures = self._last_start
                else:  # a trailing flush brings the figures up to date once they are due
                    self._schedule(self._last_figures + self.figures_every)
            started = time.perf_counter()
            try:
                with unit_of_work(self.sessions) as s:
                    now = utcnow()
                    board = floor_dashboard.board_waves(s, now)  # every wave's bar, one query
                    ready = resolve(with_summaries(events, board), s)
                    body: dict[str, Any] = {
                        "events": with_positions(ready, s),
                        "live": floor_dashboard.live_state(s, now, board, self.zone),
                    }
            except Exception:  # the database went away (shutdown); the next change tries again
                log.warning("dashboard live state failed", exc_info=True)
                return
            self.last_flush_s = time.perf_counter() - started
            self.flushes += 1
            self.emit(EVENT, body, ROOM)
            if not with_figures:
                return
            try:  # after the change went out: the figures never hold it back
                with unit_of_work(self.sessions) as s:
                    figures = floor_dashboard.figures(s, now, self.zone)
            except Exception:
                log.warning("dashboard figures failed", exc_info=True)
                return
            self.emit(EVENT, {"events": [], "figures": figures}, ROOM)

    def cancel(self) -> None:
        with self._lock:
            self._generation += 1  # a timer that already fired finds itself replaced
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
