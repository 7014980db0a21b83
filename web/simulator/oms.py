"""The OMS side of the day: orders in through ``/api/v1/orders/batch``, the events feed out.

Orders are drawn from what ``GET /api/v1/inventory`` says can still be promised, so a day of
20,000 orders does not ask for stock the warehouse does not have (an OMS promises from the same
figure). The feed is read from the cursor it had when the day began; each event moves its order's
``OrderTrack``, and an order reaching ``picked`` goes onto the pack queue (the tote arrives at a
station). Every ``event_id`` must appear once, and each event of an order must start where the
one before it ended.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import random
import time
from typing import Any

import aiohttp

from web.simulator.http import SimError, json_call
from web.simulator.state import Day

BATCH = 500
# Only short orders no wave took are left: the supervisor plans every ``wave_every_s``; after
# this many rounds without a move the day ends and the summary asks why they are short.
SHORT_WAIT_ROUNDS = 5


def api(http: aiohttp.ClientSession, day: Day) -> tuple[aiohttp.ClientSession, str]:
    return http, day.config.url.rstrip("/") + "/api/v1"


async def promised_stock(http: aiohttp.ClientSession, base: str) -> dict[str, int]:
    status, body = await json_call(http, "GET", base + "/inventory")
    if status != 200:
        raise SimError(f"GET /api/v1/inventory answered {status}: {body}")
    return {row["sku"]: row["available"] for row in body["inventory"] if row["available"] > 0}


def draw_orders(day: Day, stock: dict[str, int]) -> list[dict[str, Any]]:
    """The day's orders, each 1..max_lines lines of 1-2 units, within the promised stock."""
    cfg = day.config
    rng = random.Random(cfg.seed)
    left = dict(stock)
    skus = sorted(left)
    ship_by = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).replace(microsecond=0)
    orders = []
    for i in range(cfg.orders):
        lines = []
        for k in range(rng.randint(1, cfg.max_lines)):
            for _ in range(20):  # a few tries for a SKU with stock left
                if not skus:
                    break
                sku = skus[rng.randrange(len(skus))]
                if left.get(sku, 0) > 0 and all(ln["sku"] != sku for ln in lines):
                    break
            else:
                continue
            if not skus or left.get(sku, 0) <= 0:
                break
            qty = min(rng.randint(1, 2), left[sku])
            left[sku] -= qty
            if left[sku] == 0:
                skus.remove(sku)
            lines.append({"line_id": str(k + 1), "sku": sku, "quantity": qty})
        if not lines:
            raise SimError(f"the warehouse can promise only {i} orders; ask for fewer")
        orders.append(
            {
                "external_id": f"SIM-{cfg.run_id}-{i:06d}",
                "channel": "simulator",
                "priority": "express" if rng.random() < 0.1 else "standard",
                "ship_by": ship_by.isoformat(),
                "carrier": "ups",
                "ship_to": {
                    "name": f"Customer {i}",
                    "address1": f"{i % 900 + 1} Main Street",
                    "city": "Springfield",
                    "region": "IL",
                    "postal_code": "62701",
                    "country": "US",
                },
                "lines": lines,
            }
        )
    return orders


async def push_orders(http: aiohttp.ClientSession, day: Day, orders: list[dict[str, Any]]) -> None:
    """All at once (in batches), or spread evenly over ``duration_s`` — a batch a second."""
    _, base = api(http, day)
    cfg = day.config
    ticks = max(1, math.ceil(cfg.duration_s)) if cfg.duration_s else 1
    size = BATCH if ticks == 1 else max(1, math.ceil(len(orders) / ticks))
    start = time.monotonic()
    for n, i in enumerate(range(0, len(orders), size)):
        if ticks > 1:
            await asyncio.sleep(max(0.0, start + n - time.monotonic()))
        for j in range(i, min(i + size, len(orders)), BATCH):
            chunk = orders[j : min(j + BATCH, i + size, len(orders))]
            status, body = await json_call(http, "POST", base + "/orders/batch", {"orders": chunk})
            if status != 200:
                raise SimError(f"POST /api/v1/orders/batch answered {status}: {body}")
            for res in body["results"]:
                day.tally.intake[str(res["outcome"])] += 1
                day.tally.intake[f"status:{res['status']}"] += 1
                track = day.orders[res["external_id"]]
                if res["status"] and track.seen == "pushed":
                    track.seen = res["status"]  # the feed will say it too
    day.pushed_all = True


async def feed_end(http: aiohttp.ClientSession, day: Day) -> str:
    """The feed's cursor now: the day's events are the ones after it."""
    _, base = api(http, day)
    cursor = "0"
    while True:
        status, body = await json_call(http, "GET", f"{base}/events?after={cursor}&limit=1000")
        if status != 200:
            raise SimError(f"GET /api/v1/events answered {status}: {body}")
        cursor = body["next_cursor"]
        if not body["has_more"]:
            return cursor


def take_event(day: Day, ev: dict[str, Any]) -> None:
    day.events_seen += 1
    if ev["event_id"] in day.event_ids:
        day.duplicate_events += 1
        day.tally.problem(f"event {ev['event_id']} ({ev['type']}) twice in the feed")
        return
    day.event_ids.add(ev["event_id"])
    track = day.orders.get(ev["order"])
    if track is None or ev["to"] is None:
        return
    if ev["from"] is not None and track.seen not in ("pushed", ev["from"]):
        track.broken_chain += 1
        day.tally.problem(f"{ev['order']}: event {ev['from']}→{ev['to']} after {track.seen}")
    track.seen = ev["to"]
    day.last_progress = time.monotonic()
    if ev["to"] == "waved":
        track.waved = True
    elif ev["to"] == "shipped":
        track.shipped_events += 1
    elif ev["to"] == "picked" and not track.queued_for_packing:
        track.queued_for_packing = True
        day.pack_queue.put_nowait(ev["order"])


async def tail_events(http: aiohttp.ClientSession, day: Day, cursor: str) -> str:
    """Follow the feed until the day is over; returns the last cursor."""
    _, base = api(http, day)
    while True:
        status, body = await json_call(http, "GET", f"{base}/events?after={cursor}&limit=1000")
        if status != 200:
            day.tally.problem(f"GET /api/v1/events answered {status}")
            await asyncio.sleep(1.0)
            continue
        for ev in body["events"]:
            take_event(day, ev)
        cursor = body["next_cursor"]
        quiet_s = time.monotonic() - day.last_progress
        if day.all_done() or (
            day.only_short_left() and quiet_s > SHORT_WAIT_ROUNDS * day.config.wave_every_s
        ):
            day.finished.set()
        if day.finished.is_set() and not body["has_more"]:
            return cursor
        if time.monotonic() - day.last_progress > day.config.stall_s and day.pushed_all:
            day.stalled = True
            day.finished.set()
        if not body["has_more"]:
            await asyncio.sleep(0.3)


async def drain_events(http: aiohttp.ClientSession, day: Day, cursor: str) -> None:
    """The feed's last events, once every actor has stopped (a carton closed at the very end)."""
    _, base = api(http, day)
    while True:
        status, body = await json_call(http, "GET", f"{base}/events?after={cursor}&limit=1000")
        if status != 200:
            raise SimError(f"GET /api/v1/events answered {status}: {body}")
        for ev in body["events"]:
            take_event(day, ev)
        cursor = body["next_cursor"]
        if not body["has_more"]:
            return


async def final_orders(http: aiohttp.ClientSession, day: Day, since: str) -> dict[str, Any]:
    """Every order of the day as ``GET /api/v1/orders`` shows it at the end."""
    _, base = api(http, day)
    found: dict[str, Any] = {}
    cursor = ""
    while True:
        params = {"updated_since": since, "limit": "500"} | ({"cursor": cursor} if cursor else {})
        async with http.get(base + "/orders", params=params) as r:
            if r.status != 200:
                raise SimError(f"GET /api/v1/orders answered {r.status}: {await r.text()}")
            body = await r.json()
        for o in body["orders"]:
            if o["external_id"] in day.orders:
                found[o["external_id"]] = o
        cursor = body.get("next_cursor") or ""
        if not cursor:
            return found


def short_without_stock(day: Day, final: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The day's short orders that no wave took and that hold nothing reserved: they wait for
    stock (the candidates ``unreservable`` checks against what can be promised now)."""
    return {
        ext: o
        for ext, o in final.items()
        if o["status"] == "short"
        and ext in day.orders
        and not day.orders[ext].waved
        and o.get("missing")
        and not any(ln.get("reserved") for ln in o.get("lines", []))
    }


def cannot_promise(
    candidates: dict[str, dict[str, Any]], available: dict[str, int]
) -> dict[str, dict[str, int]]:
    """Of ``candidates``, those whose every missing line is more than the warehouse can promise:
    ``{external id: {sku: available}}``."""
    return {
        ext: {m["sku"]: available.get(m["sku"], 0) for m in o["missing"]}
        for ext, o in candidates.items()
        if all(available.get(m["sku"], 0) < m["missing"] for m in o["missing"])
    }


async def unreservable(
    http: aiohttp.ClientSession, day: Day, final: dict[str, Any]
) -> dict[str, dict[str, int]]:
    """Short orders no wave took, with nothing reserved, whose every missing line the warehouse
    cannot promise now either (``GET /api/v1/inventory``): short for want of stock, not lost.
    On a day with short picks this happens: a picker's "empty" writes the location's stock off,
    and orders that arrive later find nothing to reserve."""
    _, base = api(http, day)
    candidates = short_without_stock(day, final)
    skus = sorted({m["sku"] for o in candidates.values() for m in o["missing"]})
    available: dict[str, int] = {}
    for i in range(0, len(skus), 100):
        status, body = await json_call(
            http, "GET", f"{base}/inventory?sku={','.join(skus[i : i + 100])}"
        )
        if status != 200:
            raise SimError(f"GET /api/v1/inventory answered {status}: {body}")
        available |= {row["sku"]: row["available"] for row in body["inventory"]}
    return cannot_promise(candidates, available)
