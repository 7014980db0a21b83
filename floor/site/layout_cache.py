"""What a scan needs to know about the layout, from memory: locations, SKU codes, GTINs.

A scan compares the scanned text with its task's location code, check code, SKU code and GTINs
and shows them on the handheld. Those rows change when the site is set up, not per scan, yet
reading them cost ~10 of a scan's SQL statements. This module keeps what it has read, per
database (keyed by the engine's connection pool), for at most ``TTL_S`` seconds:

* **Changes in this process** through the ORM (``Aisle``, ``Location``, ``Sku``, ``SkuGtin``
  inserted, updated or deleted) drop the cache at the flush and again after the commit, so a
  reader that refilled it between the two cannot keep what was not committed yet.
* **Changes made elsewhere** (another server process, raw SQL, a bulk ``update()`` on these
  tables) are seen within ``TTL_S``: the cache is rebuilt from scratch when it is that old.
  Code that bulk-updates layout tables in this process calls ``invalidate()``.
* It holds at most ``MAX_ENTRIES`` entries (unknown codes are remembered too, so a stream of
  garbage scans cannot grow it without bound): when full it starts again.

Only identity and display fields are cached; stock, minimums and ``active`` flags, which
decide what happens, are always read from the database.
"""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, object_session

from core.writer_lock import after_durable_commit
from floor.site.items import extract_gtin
from floor.site.layout import Aisle, Location, Sku, SkuGtin

TTL_S = 30.0
MAX_ENTRIES = 200_000
_CHANGED = "floor.layout_changed"


@dataclass(frozen=True, slots=True)
class LocationView:
    id: int
    code: str
    aisle: str | None
    bay: Any
    level: Any
    slot: Any
    check_code: str | None


@dataclass(frozen=True, slots=True)
class SkuView:
    id: int
    code: str
    name: str
    gtins: tuple[str, ...]


class _Cache:
    def __init__(self) -> None:
        self.born = time.monotonic()
        self.entries: dict[tuple[str, Any], Any] = {}


_caches: weakref.WeakKeyDictionary[Any, _Cache] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def invalidate() -> None:
    """Forget everything (every database): the next reads go to the database."""
    with _lock:
        _caches.clear()


def _cache(session: Session) -> _Cache:
    pool = session.get_bind().engine.pool
    cache = _caches.get(pool)
    if cache is None or time.monotonic() - cache.born > TTL_S or len(cache.entries) > MAX_ENTRIES:
        with _lock:
            cache = _caches[pool] = _Cache()
    return cache


def _cached(session: Session, key: tuple[str, Any], load: Any) -> Any:
    cache = _cache(session)
    try:
        return cache.entries[key]
    except KeyError:
        value = load()
        cache.entries[key] = value
        return value


def location(session: Session, location_id: int) -> LocationView:
    def load() -> LocationView:
        row = session.execute(
            select(
                Location.id,
                Location.code,
                Aisle.code,
                Location.bay,
                Location.level,
                Location.slot,
                Location.check_code,
            )
            .outerjoin(Aisle, Aisle.id == Location.aisle_id)
            .where(Location.id == location_id)
        ).one()
        return LocationView(*row)

    return _cached(session, ("loc", location_id), load)


def location_code(session: Session, code: str) -> str | None:
    """The code of the location whose code is ``code`` (any case), or None."""
    key = code.upper()
    return _cached(
        session,
        ("loc_code", key),
        lambda: session.scalar(select(Location.code).where(func.upper(Location.code) == key)),
    )


def sku(session: Session, sku_id: int) -> SkuView:
    def load() -> SkuView:
        code, name = session.execute(select(Sku.code, Sku.name).where(Sku.id == sku_id)).one()
        gtins = session.scalars(
            select(SkuGtin.gtin).where(SkuGtin.sku_id == sku_id).order_by(SkuGtin.id)
        ).all()
        return SkuView(sku_id, code, name, tuple(gtins))

    return _cached(session, ("sku", sku_id), load)


def identify_item(session: Session, code: str) -> tuple[int | None, int]:
    """``floor.site.items.identify_item`` from the cache: (sku id, units per scan)."""

    def load() -> tuple[int | None, int]:
        gtin = extract_gtin(code)
        if gtin is not None:
            row = session.execute(
                select(SkuGtin.sku_id, SkuGtin.units).where(SkuGtin.gtin == gtin)
            ).first()
            if row is not None:
                return row[0], max(1, row[1])
        sku_id = session.scalar(select(Sku.id).where(func.upper(Sku.code) == code.upper()))
        return (sku_id, 1) if sku_id is not None else (None, 0)

    return _cached(session, ("item", code.strip()), load)


# --------------------------------------------------------------------------
# Invalidation on ORM writes in this process
# --------------------------------------------------------------------------


def _changed(_mapper: Any, _connection: Any, target: Any) -> None:
    invalidate()
    session = object_session(target)
    if session is not None:
        session.info[_CHANGED] = True


for _cls in (Aisle, Location, Sku, SkuGtin):
    for _name in ("after_insert", "after_update", "after_delete"):
        event.listen(_cls, _name, _changed)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    # The flush dropped the cache; a reader may have refilled it from the old rows before our
    # COMMIT. Drop it again now that the change is visible to everyone.
    if session.info.pop(_CHANGED, False):
        after_durable_commit(session, invalidate)
