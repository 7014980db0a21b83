"""The routing geometry of the real floor: a ``routing.Layout`` built from the database, and
the mapping of rack locations to ``routing.Pick`` points.

* Aisles come from ``aisles`` (``x_m``, ``y_front_m``, ``y_back_m``), sorted by x; the layout's
  front and back cross aisles are the common ``y_front_m`` / ``y_back_m``. When aisles differ in
  extent the block is normalised to the outermost cross aisles (``exact`` is then False: the DP
  is exact for that normalised block, an approximation of the real one).
* The depot is the pack area: the first active pack-station location (by code) projected onto
  the front cross aisle; without one, the x of the first aisle.
* A location is pickable when it has an aisle; its point is (aisle index, ``y_m`` clamped into
  the aisle). Staging lanes, docks and pack stations have no aisle and are never picked.
* Zone pick lists need no layout of their own: a shortest tour never walks an aisle without
  picks, so routing a zone's picks over the whole block is routing within the zone's aisles,
  with the depot still at the pack area.

The geometry is cached per process and database URL; call ``invalidate()`` after editing the
layout (aisles or locations) in the same process. Each lookup re-checks a cheap fingerprint
(counts and coordinate sums), so a layout changed by another process is noticed too.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from floor.site.layout import Aisle, Location, LocationType
from floor.site.routing import Layout, Pick


@dataclass(frozen=True)
class Point:
    """Where a location sits on the routing graph."""

    aisle: int  # index into Layout.aisle_x
    y: float
    zone_id: int


@dataclass(frozen=True)
class FloorGeometry:
    layout: Layout
    points: dict[int, Point]  # location id -> point (locations with an aisle only)
    aisle_codes: tuple[str, ...]  # aisle code per layout index
    exact: bool  # True when every aisle spans the same cross aisles

    def pick(self, location_id: int, key: object = None) -> Pick:
        """The routing point of a location; KeyError for a location without an aisle."""
        p = self.points[location_id]
        return Pick(p.aisle, p.y, key)

    def is_pickable(self, location_id: int) -> bool:
        return location_id in self.points

    def picks(self, items: Iterable[tuple[int, object]]) -> list[Pick]:
        """``(location_id, key)`` pairs to picks, in the same order."""
        return [self.pick(loc, key) for loc, key in items]


_cache: dict[str, tuple[tuple, FloorGeometry]] = {}
_lock = threading.Lock()


def _fingerprint(session: Session) -> tuple:
    aisles = session.execute(
        select(
            func.count(Aisle.id),
            func.coalesce(func.sum(Aisle.x_m + Aisle.y_front_m + Aisle.y_back_m), 0),
        )
    ).one()
    locs = session.execute(
        select(
            func.count(Location.id),
            func.coalesce(func.max(Location.id), 0),
            func.coalesce(func.sum(Location.x_m + Location.y_m), 0),
            func.coalesce(func.sum(func.coalesce(Location.aisle_id, 0)), 0),
        )
    ).one()
    return (*aisles, *locs)


def _key(session: Session) -> str:
    return session.get_bind().engine.url.render_as_string(hide_password=True)


def invalidate() -> None:
    with _lock:
        _cache.clear()


def geometry(session: Session) -> FloorGeometry:
    """The floor's routing geometry (cached; see the module docstring)."""
    key = _key(session)
    fp = _fingerprint(session)
    with _lock:
        hit = _cache.get(key)
        if hit is not None and hit[0] == fp:
            return hit[1]
    geo = build(session)
    with _lock:
        _cache[key] = (fp, geo)
    return geo


def build(session: Session) -> FloorGeometry:
    """Build the geometry from the database (no cache)."""
    aisles = session.execute(
        select(Aisle.id, Aisle.code, Aisle.x_m, Aisle.y_front_m, Aisle.y_back_m).order_by(
            Aisle.x_m, Aisle.number
        )
    ).all()
    if not aisles:
        raise ValueError("the floor has no aisles: nothing can be routed")
    y_front = min(a.y_front_m for a in aisles)
    y_back = max(a.y_back_m for a in aisles)
    exact = all(a.y_front_m == y_front and a.y_back_m == y_back for a in aisles)
    xs: list[float] = []
    index: dict[int, int] = {}
    for a in aisles:
        if xs and a.x_m <= xs[-1]:
            raise ValueError(f"aisle {a.code} shares x = {a.x_m} m with another aisle")
        index[a.id] = len(xs)
        xs.append(float(a.x_m))
    depot_x = session.scalar(
        select(Location.x_m)
        .where(Location.type == LocationType.pack_station, Location.active.is_(True))
        .order_by(Location.code)
        .limit(1)
    )
    # A pack station at x = 0 m is a pack station at 0 m: only a missing one falls back.
    depot = (float(xs[0] if depot_x is None else depot_x), float(y_front))
    layout = Layout(tuple(xs), float(y_front), float(y_back), depot)
    points: dict[int, Point] = {}
    for loc_id, aisle_id, y, zone_id in session.execute(
        select(Location.id, Location.aisle_id, Location.y_m, Location.zone_id).where(
            Location.aisle_id.is_not(None)
        )
    ):
        points[loc_id] = Point(index[aisle_id], min(max(float(y), y_front), y_back), zone_id)
    return FloorGeometry(layout, points, tuple(a.code for a in aisles), exact)
