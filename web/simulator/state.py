"""What a simulated day is asked to do (``SimConfig``) and what it has seen so far (``Day``)."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import Counter
from dataclasses import dataclass, field

# Where an order stops moving: shipped (and later delivered by the carrier), canceled, held by a
# short-pick policy, or short after its wave when nothing of it could be picked.
TERMINAL = frozenset({"shipped", "delivered", "canceled", "on_hold"})
SHIPPED = frozenset({"shipped", "delivered"})


@dataclass(frozen=True)
class SimConfig:
    url: str = "http://127.0.0.1:5000"
    api_key: str = ""
    orders: int = 100
    pickers: int = 5
    packers: int = 1
    duration_s: float | None = None  # orders arrive evenly over this many seconds; None = at once
    wrong_scan_rate: float = 0.02  # of item scans, one wrong item first
    short_rate: float = 0.01  # of tasks, reported short
    offline: int = 1  # handhelds that drop off the Wi-Fi once, queue and replay
    offline_s: float = 2.0
    max_lines: int = 3  # lines per order: 1..max_lines, 1-2 units each
    cart: int = 4  # totes per cart (orders per pick list)
    wave_every_s: float = 2.0
    think_s: float = 0.0  # a picker's pause between scans (0 = as fast as the acks come)
    stall_s: float = 60.0  # stop when nothing has moved for this long
    admin: tuple[str, str] = ("ada", "admin-demo")
    supervisor: tuple[str, str] = ("sam", "supervisor-demo")
    run_id: str = ""
    seed: int = 12
    progress: bool = True


@dataclass
class OrderTrack:
    """One of the day's orders as the events feed shows it."""

    seen: str = "pushed"  # the state the feed (or the intake answer) last showed
    waved: bool = False
    shipped_events: int = 0
    broken_chain: int = 0  # an event whose ``from`` is not the previous ``to`` (one went missing)
    queued_for_packing: bool = False

    @property
    def done(self) -> bool:
        return self.seen in TERMINAL or (self.seen == "short" and self.waved)


@dataclass
class Tally:
    """Counts kept by the actors (a single asyncio thread: no locks needed)."""

    scans: Counter[str] = field(default_factory=Counter)  # ok, wrong_item, unexpected:<result>
    latencies_s: list[float] = field(default_factory=list)  # scan → ack, online scans
    shorts: Counter[str] = field(default_factory=Counter)  # by reason
    exceptions: Counter[str] = field(default_factory=Counter)  # what the server opened, by kind
    acks_lost: Counter[str] = field(default_factory=Counter)  # resent on a new connection
    offline_queued: int = 0
    replays_sent: int = 0
    replays_acknowledged: int = 0  # answered ``replayed: true`` and changed nothing
    pack: Counter[str] = field(default_factory=Counter)  # opened, verified, wrong, closed, …
    close_latencies_s: list[float] = field(default_factory=list)
    sscc_by_order: dict[str, list[str]] = field(default_factory=dict)
    labels_fetched: int = 0
    waves: int = 0
    pick_lists: int = 0
    intake: Counter[str] = field(default_factory=Counter)  # created/unchanged/… and statuses
    problems: list[str] = field(default_factory=list)  # first few surprises, for the reader

    def problem(self, text: str) -> None:
        if len(self.problems) < 50:
            self.problems.append(text)


@dataclass
class Day:
    config: SimConfig
    orders: dict[str, OrderTrack] = field(default_factory=dict)
    tally: Tally = field(default_factory=Tally)
    pack_queue: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    pushed_all: bool = False
    event_ids: set[str] = field(default_factory=set)
    duplicate_events: int = 0
    events_seen: int = 0
    last_progress: float = field(default_factory=time.monotonic)
    started: float = field(default_factory=time.monotonic)
    stalled: bool = False
    item_codes: set[str] = field(default_factory=set)  # GTINs seen, for wrong scans

    def shipped(self) -> int:
        return sum(1 for t in self.orders.values() if t.seen in SHIPPED)

    def all_done(self) -> bool:
        return self.pushed_all and all(t.done for t in self.orders.values())

    def only_short_left(self) -> bool:
        """Every order has stopped but some short ones no wave took: the warehouse had nothing
        to reserve for them (the day's own short picks can write a location's stock off). The
        summary checks that through the API before it calls them anything but lost."""
        return self.pushed_all and all(
            t.done or (t.seen == "short" and not t.waved) for t in self.orders.values()
        )


async def pause(event: asyncio.Event, seconds: float) -> None:
    """Sleep up to ``seconds``, waking at once when ``event`` is set (the day is over)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (NaN when empty)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]
