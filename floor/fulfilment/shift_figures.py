"""The day's figures operations managers are judged on, computed from what is stored.

Everything here is derived from three sources, never from counters kept on the side:

* **order timestamps** — ``Order.status_times`` (``{"received": iso, "picked": iso, ...}``, one
  entry per status the order reached, written by ``orders.transitions``);
* **scans** — one ``Scan`` row per barcode read (``user_id``, ``task_id``, ``kind``, ``result``,
  ``scanned_at``);
* **exceptions** — ``FloorException`` rows with their ``reason`` and ``created_at``.

Definitions (the tests in ``tests/dash/test_shift_figures.py`` work a small day out by hand):

``received / picked / packed / shipped``
    orders whose ``status_times`` entry for that status falls inside the day.
``order_to_ship``
    for every order shipped in the day, ``shipped - received`` in seconds; reported as p50 and
    p90 by the **nearest-rank** method: the p-th percentile of n sorted values is the value at
    rank ``ceil(p / 100 * n)`` (1-based), so it is always one of the measured times.
``first_pass_accuracy``
    of the tasks scanned in the day, the share whose *first decisive* scan (``ok`` or a
    mistake, see ``MISTAKES``) was ``ok``. Scans that say nothing about the picker's care
    (``task_closed``, ``not_your_task``, ``pending``, short reports) are not decisive.
``scan_accuracy``
    ``ok / (ok + mistakes)`` over all decisive scans (used per person in ``people``).
``exceptions``
    exceptions opened in the day by reason; ``exception_rate`` is that count per 100 orders
    received in the day (``None`` when no order was received).
``units_by_hour``
    units booked by ``ok`` item scans, per clock hour of the site's day (one bucket per local
    hour: 24, or 23 / 25 on a day the clocks change; ``hour_labels`` names them, ``hour_starts``
    gives where each begins in UTC); a scan of a multi-pack GTIN counts the GTIN's units. On a
    cart of several totes the item scan (``item_held``) names the units and the tote scan after
    it books them: the units count at the item scan (``BOOKING_KINDS``).
    ``lines_by_hour``: distinct tasks those scans hit.

The day is the site's day: midnight to midnight in its time zone (``FLOOR_TIMEZONE``; UTC by
default), whose UTC bounds ``day_bounds`` reads from the zone's rules — 23 or 25 hours on a day
the clocks change, never "start + 24 h". Stored times stay UTC. The pure part (``compute``)
takes plain rows, so it can be tested without a database; ``load`` reads the rows for one day.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Integer, case, cast, distinct, func, literal, select
from sqlalchemy.orm import Session

from core.bulk import among
from core.exception_queue import FloorException
from floor.fulfilment.models import Scan
from floor.site.items import extract_gtin
from floor.site.layout import SkuGtin
from orders.models import Order

MILESTONES = ("received", "picked", "packed", "shipped")
#: Scan results that are the picker's mistake (wrong thing or place, too many units).
MISTAKES = frozenset({"wrong_item", "wrong_location", "over_pick"})
DECISIVE = MISTAKES | {"ok"}
#: Scan kinds whose ``ok`` names the units picked: a plain item scan, and on a cart of several
#: totes the item scan held for its tote (the tote scan that books them carries no units).
BOOKING_KINDS = ("item", "item_held")
_GTIN_CHUNK = 900  # GTINs per query (under SQLite's oldest limit of 999 parameters)
HOUR = dt.timedelta(hours=1)


@dataclass(frozen=True)
class ScanRow:
    """One stored scan, reduced to what the figures need (``units``: booked units, 0 unless an
    ``ok`` item scan)."""

    id: int
    user_id: int | None
    task_id: int | None
    kind: str
    result: str
    scanned_at: dt.datetime
    units: int = 0


@dataclass(frozen=True)
class OrderTimes:
    external_id: str
    times: dict[str, dt.datetime]  # status -> when it was reached


@dataclass
class DayFigures:
    day: dt.date
    start: dt.datetime
    end: dt.datetime
    counts: dict[str, int]
    order_to_ship_s: list[float]
    p50_s: float | None
    p90_s: float | None
    first_pass: tuple[int, int]  # (tasks right first time, tasks scanned)
    scans: tuple[int, int]  # (ok, decisive)
    exceptions: dict[str, int]
    units_by_hour: list[int] = field(default_factory=lambda: [0] * 24)
    lines_by_hour: list[int] = field(default_factory=lambda: [0] * 24)
    zone: dt.tzinfo = dt.UTC  # the site's time zone: the day and its hours are its clock's
    hour_starts: list[dt.datetime] = field(default_factory=list)  # UTC, one per bucket

    @property
    def hour_labels(self) -> list[str]:
        return hour_labels(self.hour_starts, self.zone)

    @property
    def first_pass_accuracy(self) -> float | None:
        right, total = self.first_pass
        return right / total if total else None

    @property
    def scan_accuracy(self) -> float | None:
        ok, total = self.scans
        return ok / total if total else None

    def exception_rate(self) -> dict[str, float | None]:
        """Exceptions per 100 orders received, by reason."""
        received = self.counts["received"]
        return {
            reason: (100.0 * n / received if received else None)
            for reason, n in self.exceptions.items()
        }

    def to_dict(self) -> dict[str, Any]:
        def pct(x: float | None) -> float | None:
            return None if x is None else round(100.0 * x, 1)

        return {
            "day": self.day.isoformat(),
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "orders": dict(self.counts),
            "order_to_ship": {
                "count": len(self.order_to_ship_s),
                "p50_s": self.p50_s,
                "p90_s": self.p90_s,
            },
            "first_pass_accuracy_pct": pct(self.first_pass_accuracy),
            "first_pass": {"right": self.first_pass[0], "tasks": self.first_pass[1]},
            "scan_accuracy_pct": pct(self.scan_accuracy),
            "exceptions": {
                "total": sum(self.exceptions.values()),
                "by_reason": dict(sorted(self.exceptions.items())),
                "per_100_orders": {
                    k: (None if v is None else round(v, 2))
                    for k, v in sorted(self.exception_rate().items())
                },
            },
            "units_by_hour": list(self.units_by_hour),
            "lines_by_hour": list(self.lines_by_hour),
            "units": sum(self.units_by_hour),
            "timezone": zone_name(self.zone),
            "hour_labels": self.hour_labels,
            "hour_starts": [h.isoformat() for h in self.hour_starts],
        }


# --------------------------------------------------------------------------
# Pure computations
# --------------------------------------------------------------------------


def zone_name(zone: dt.tzinfo) -> str:
    """``America/Chicago`` for a ``ZoneInfo``; ``UTC`` for ``datetime.UTC``."""
    return str(getattr(zone, "key", None) or zone)


def local_midnight(day: dt.date, zone: dt.tzinfo = dt.UTC) -> dt.datetime:
    """The first instant of ``day`` in ``zone``, in UTC. Where the clocks jump over midnight
    (00:00 does not exist) that is the first time the day has: zoneinfo reads a missing time
    with the offset before the jump (``fold=0``), which is the instant the jump happens."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=zone).astimezone(dt.UTC)


def day_bounds(day: dt.date, zone: dt.tzinfo = dt.UTC) -> tuple[dt.datetime, dt.datetime]:
    """``[start, end)`` in UTC of ``day`` as the site's clock runs it: from its midnight to the
    next one (23 or 25 hours when the clocks change that day). ``OverflowError`` for a day whose
    bounds are not datetimes (the last day of year 9999)."""
    return local_midnight(day, zone), local_midnight(day + dt.timedelta(days=1), zone)


def site_day(now: dt.datetime, zone: dt.tzinfo = dt.UTC) -> dt.date:
    """The site's date at the instant ``now`` (aware)."""
    return now.astimezone(zone).date()


_QUARTER = dt.timedelta(minutes=15)  # every zone's offset (since 1972) is a multiple of this


@functools.lru_cache(maxsize=64)
def hour_starts(day: dt.date, zone: dt.tzinfo = dt.UTC) -> tuple[dt.datetime, ...]:
    """Where each clock hour of the site's ``day`` begins, in UTC: the day's start, then every
    instant the site's clock reads HH:00. 24 of them; 23 on the day the clocks go forward (the
    skipped hour has no bucket), 25 on the day they go back (the repeated hour has two)."""
    start, end = day_bounds(day, zone)
    out = [start]
    at = start + _QUARTER
    while at < end:
        local = at.astimezone(zone)
        if local.minute == 0 and local.second == 0:
            out.append(at)
        at += _QUARTER
    return tuple(out)


def hour_labels(starts: Sequence[dt.datetime], zone: dt.tzinfo = dt.UTC) -> list[str]:
    """``HH:00`` on the site's clock for each hour start; an hour the clocks repeat (the day
    they go back) is told apart by the zone's abbreviation: ``01:00 CDT``, ``01:00 CST``."""
    local = [s.astimezone(zone) for s in starts]
    plain = [t.strftime("%H:00") for t in local]
    twice = {p for p in plain if plain.count(p) > 1}
    return [f"{p} {t.tzname()}" if p in twice else p for p, t in zip(plain, local, strict=True)]


def hour_index(starts: Sequence[dt.datetime], when: dt.datetime) -> int:
    """The bucket of ``when`` (inside the day) among the day's ``hour_starts``."""
    return bisect.bisect_right(starts, when) - 1


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile: the value at rank ``ceil(p/100 * n)`` of the sorted values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100.0 * len(ordered)))
    return ordered[rank - 1]


def first_pass(scans: Iterable[ScanRow]) -> tuple[int, int]:
    """(tasks whose first decisive scan was ok, tasks with a decisive scan)."""
    first: dict[int, ScanRow] = {}
    for s in scans:
        if s.task_id is None or s.result not in DECISIVE:
            continue
        seen = first.get(s.task_id)
        if seen is None or (s.scanned_at, s.id) < (seen.scanned_at, seen.id):
            first[s.task_id] = s
    return sum(1 for s in first.values() if s.result == "ok"), len(first)


def scan_tally(scans: Iterable[ScanRow]) -> tuple[int, int]:
    """(ok scans, decisive scans)."""
    ok = total = 0
    for s in scans:
        if s.result in DECISIVE:
            total += 1
            ok += s.result == "ok"
    return ok, total


def compute(
    day: dt.date,
    orders: Iterable[OrderTimes],
    scans: Iterable[ScanRow],
    exceptions: Iterable[tuple[str, dt.datetime]],
    zone: dt.tzinfo = dt.UTC,
) -> DayFigures:
    """The day's figures from plain rows (rows outside the day are ignored); ``day`` is a date
    on the site's clock (``zone``)."""
    start, end = day_bounds(day, zone)
    starts = hour_starts(day, zone)

    def inside(t: dt.datetime | None) -> bool:
        return t is not None and start <= t < end

    counts = dict.fromkeys(MILESTONES, 0)
    to_ship: list[float] = []
    for o in orders:
        for m in MILESTONES:
            counts[m] += inside(o.times.get(m))
        shipped, received = o.times.get("shipped"), o.times.get("received")
        if inside(shipped) and received is not None:
            assert shipped is not None
            to_ship.append((shipped - received).total_seconds())
    day_scans = [s for s in scans if inside(s.scanned_at)]
    units = [0] * len(starts)
    lines: dict[int, set[int]] = defaultdict(set)
    for s in day_scans:
        if s.result == "ok" and s.kind in BOOKING_KINDS:
            h = hour_index(starts, s.scanned_at)
            units[h] += s.units
            if s.task_id is not None:
                lines[h].add(s.task_id)
    reasons = Counter(reason for reason, at in exceptions if inside(at))
    return DayFigures(
        day=day,
        start=start,
        end=end,
        counts=counts,
        order_to_ship_s=sorted(to_ship),
        p50_s=percentile(to_ship, 50),
        p90_s=percentile(to_ship, 90),
        first_pass=first_pass(day_scans),
        scans=scan_tally(day_scans),
        exceptions=dict(reasons),
        units_by_hour=units,
        lines_by_hour=[len(lines[h]) for h in range(len(starts))],
        zone=zone,
        hour_starts=list(starts),
    )


# --------------------------------------------------------------------------
# Reading the rows
# --------------------------------------------------------------------------


def parse_time(value: Any) -> dt.datetime | None:
    if not value:
        return None
    when = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


@functools.lru_cache(maxsize=100_000)
def _gtin_of(raw: str) -> str | None:
    """The GTIN in a scanned code (parsing is pure, and the slow part: remembered)."""
    return extract_gtin(raw)


class UnitsOf:
    """Units an ``ok`` item scan booked, from its raw code: a GTIN's ``units`` (a multi-pack
    counts them), at least 1; 1 for anything else (a SKU code, an unknown code) — what
    ``floor.site.items.identify_item`` gives, floored at 1. ``prime`` reads the units of many
    codes in one query; each distinct code is looked up once per instance."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.cache: dict[str, int] = {}

    def prime(self, raws: Iterable[str]) -> None:
        gtins = {raw: _gtin_of(raw) for raw in set(raws) if raw not in self.cache}
        wanted = sorted({g for g in gtins.values() if g is not None})
        units: dict[str, int] = {}
        for at in range(0, len(wanted), _GTIN_CHUNK):
            chunk = wanted[at : at + _GTIN_CHUNK]
            units.update(
                self.session.execute(
                    select(SkuGtin.gtin, SkuGtin.units).where(
                        among(self.session, SkuGtin.gtin, chunk)
                    )
                ).all()
            )
        for raw, gtin in gtins.items():
            self.cache[raw] = max(1, units.get(gtin, 1)) if gtin is not None else 1

    def __call__(self, raw: str) -> int:
        if raw not in self.cache:
            self.prime([raw])
        return self.cache[raw]


def load_scans(
    session: Session, start: dt.datetime, end: dt.datetime, units: UnitsOf | None = None
) -> list[ScanRow]:
    units = units or UnitsOf(session)
    rows = session.execute(
        select(
            Scan.id, Scan.user_id, Scan.task_id, Scan.kind, Scan.result, Scan.scanned_at, Scan.raw
        ).where(Scan.scanned_at >= start, Scan.scanned_at < end)
    ).all()
    units.prime(r.raw for r in rows if r.result == "ok" and r.kind in BOOKING_KINDS)
    return [
        ScanRow(
            r.id,
            r.user_id,
            r.task_id,
            r.kind,
            r.result,
            r.scanned_at,
            units(r.raw) if r.result == "ok" and r.kind in BOOKING_KINDS else 0,
        )
        for r in rows
    ]


def load_orders(session: Session, start: dt.datetime) -> list[OrderTimes]:
    """Orders touched since ``start`` (every transition bumps ``updated_at``)."""
    rows = session.execute(
        select(Order.external_id, Order.status_times, Order.created_at).where(
            Order.updated_at >= start
        )
    ).all()
    out = []
    for external_id, times, created_at in rows:
        parsed = {k: t for k, v in (times or {}).items() if (t := parse_time(v)) is not None}
        parsed.setdefault("received", created_at)
        out.append(OrderTimes(external_id, parsed))
    return out


def _count_if(cond: Any) -> Any:
    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)


def _hour_bucket(session: Session, column: Any, starts: Sequence[dt.datetime]) -> Any:
    """The hour bucket (index into ``starts``, the day's ``hour_starts``) of a stored timestamp
    of the day, in SQL, the same on SQLite and PostgreSQL. A day of 24 hours that each begin on
    a UTC hour (UTC itself, and whole-hour zones on a day without a clock change) groups by the
    UTC hour shifted by the day's start, as cheap as it was; any other day (23 or 25 hours, a
    half-hour zone) by a ``CASE`` over the hours' UTC bounds (measured: the grouping query takes
    about as long on SQLite, up to a third longer on PostgreSQL, with 60,000 scans)."""
    even = all(
        s.minute == 0 and s.second == 0 and s.microsecond == 0 and (s - starts[0]) == HOUR * i
        for i, s in enumerate(starts)
    )
    if even and len(starts) == 24:
        if session.get_bind().dialect.name == "postgresql":
            utc_hour = cast(func.extract("hour", func.timezone("UTC", column)), Integer)
        else:
            utc_hour = cast(func.strftime("%H", column), Integer)  # SQLite stores UTC, no offset
        return (utc_hour - starts[0].hour + 24) % 24
    if len(starts) == 1:
        # A day the clocks skip whole (Pacific/Apia, 30 December 2011: from 23:59:59 on the
        # 29th to 00:00 on the 31st) has no length and one bucket, 0 (a CASE needs a WHEN).
        return literal(0, Integer)
    return case(*((column < bound, i) for i, bound in enumerate(starts[1:])), else_=len(starts) - 1)


@dataclass(frozen=True)
class ScanFigures:
    first_pass: tuple[int, int]
    scans: tuple[int, int]
    units_by_hour: list[int]
    lines_by_hour: list[int]


def scan_figures(
    session: Session,
    start: dt.datetime,
    end: dt.datetime,
    hours: Sequence[dt.datetime] | None = None,
) -> ScanFigures:
    """What ``compute`` derives from the scans of ``[start, end)`` (one day), aggregated in the
    database instead of reading every scan: first-pass accuracy (each task's first decisive scan
    by ``(scanned_at, id)``), ok/decisive scans, units and lines by hour of the day (a multi-pack
    GTIN counts its units, ``UnitsOf``). ``hours``: where each hour bucket begins (the site's
    ``hour_starts``; by default every 60 minutes from ``start``)."""
    if hours is None:
        hours = [start + HOUR * i for i in range(math.ceil((end - start) / HOUR))]
    window = (Scan.scanned_at >= start, Scan.scanned_at < end)
    booked = (Scan.result == "ok") & Scan.kind.in_(BOOKING_KINDS)
    ranked = (
        select(
            Scan.result,
            func.row_number()
            .over(partition_by=Scan.task_id, order_by=(Scan.scanned_at, Scan.id))
            .label("rank"),
        )
        .where(*window, Scan.task_id.is_not(None), Scan.result.in_(DECISIVE))
        .subquery()
    )
    right, tasks = session.execute(
        select(_count_if(ranked.c.result == "ok"), func.count()).where(ranked.c.rank == 1)
    ).one()
    ok, decisive = session.execute(
        select(_count_if(Scan.result == "ok"), _count_if(Scan.result.in_(DECISIVE))).where(*window)
    ).one()
    hour = _hour_bucket(session, Scan.scanned_at, hours).label("hour")
    units, lines = [0] * len(hours), [0] * len(hours)
    for h, n, distinct_tasks in session.execute(
        select(hour, func.count(Scan.id), func.count(distinct(Scan.task_id)))
        .where(*window, booked)
        .group_by(hour)
    ):
        units[h] += n
        lines[h] = distinct_tasks
    units_of = UnitsOf(session)
    units_of.prime(session.scalars(select(Scan.raw).where(*window, booked).distinct()))
    multi = {raw: n for raw, n in units_of.cache.items() if n > 1}
    if multi:
        for h, raw, n in session.execute(
            select(hour, Scan.raw, func.count(Scan.id))
            .where(*window, booked, among(session, Scan.raw, multi))
            .group_by(hour, Scan.raw)
        ):
            units[h] += n * (multi[raw] - 1)
    return ScanFigures((right, tasks), (ok, decisive), units, lines)


def load(session: Session, day: dt.date, zone: dt.tzinfo = dt.UTC) -> DayFigures:
    """The figures of one day of the site (``day`` on the clock of ``zone``), read from the
    database (the scans aggregated there: ``scan_figures``; ``compute`` gives the same from the
    rows, see the tests)."""
    start, end = day_bounds(day, zone)
    exceptions = session.execute(
        select(FloorException.reason, FloorException.created_at).where(
            FloorException.created_at >= start, FloorException.created_at < end
        )
    ).all()
    fig = compute(
        day, load_orders(session, start), [], [(r.value, at) for r, at in exceptions], zone
    )
    sf = scan_figures(session, start, end, fig.hour_starts)
    fig.first_pass, fig.scans = sf.first_pass, sf.scans
    fig.units_by_hour, fig.lines_by_hour = sf.units_by_hour, sf.lines_by_hour
    return fig


def csv_rows(fig: DayFigures) -> list[list[Any]]:
    """The day as ``figure, value`` rows (then the hourly table), for the CSV export."""
    d = fig.to_dict()
    rows: list[list[Any]] = [["figure", "value"], ["day", d["day"]], ["timezone", d["timezone"]]]
    rows += [[f"orders_{m}", d["orders"][m]] for m in MILESTONES]
    rows += [
        ["order_to_ship_count", d["order_to_ship"]["count"]],
        ["order_to_ship_p50_s", _blank(d["order_to_ship"]["p50_s"])],
        ["order_to_ship_p90_s", _blank(d["order_to_ship"]["p90_s"])],
        ["first_pass_accuracy_pct", _blank(d["first_pass_accuracy_pct"])],
        ["scan_accuracy_pct", _blank(d["scan_accuracy_pct"])],
        ["exceptions_total", d["exceptions"]["total"]],
    ]
    for reason, n in d["exceptions"]["by_reason"].items():
        rows.append([f"exceptions_{reason}", n])
        rows.append(
            [
                f"exceptions_{reason}_per_100_orders",
                _blank(d["exceptions"]["per_100_orders"][reason]),
            ]
        )
    rows.append(["units", d["units"]])
    rows.append([])
    # The hour on the site's clock (the day's, whose zone is the "timezone" row above), then
    # the counts, then where that hour begins in UTC (a day the clocks change has 23 or 25 rows).
    rows.append(["hour_local", "units", "lines", "hour_start_utc"])
    rows += [
        [label, units, lines, start.strftime("%Y-%m-%dT%H:%M:%SZ")]
        for label, units, lines, start in zip(
            fig.hour_labels, d["units_by_hour"], d["lines_by_hour"], fig.hour_starts, strict=True
        )
    ]
    return rows


def _blank(value: Any) -> Any:
    return "" if value is None else value
