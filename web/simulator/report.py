"""The end of the day: a summary a person reads (or ``--json`` a test reads) and its verdict.

*Lost*: an order of the day that is not shipped and not stopped for a reason the day itself gave
(held, short after its wave, or short with nothing the warehouse can still reserve for it — the
day's short picks write off what a location was said to lack), an order shipped without a
``shipped`` event, an event that does not follow the one before it. *Doubled*: an event id twice
in the feed, a second ``shipped`` event, a second package or SSCC for one order, an SSCC on two
orders, a second label job.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from web.simulator.state import SHIPPED, Day, percentile


def _ms(values: list[float]) -> dict[str, float | None]:
    def one(q: float) -> float | None:
        v = percentile(values, q)
        return None if math.isnan(v) else round(v * 1000, 1)

    return {"p50": one(50), "p95": one(95), "p99": one(99), "max": one(100)}


def summarise(
    day: Day,
    final: dict[str, Any],
    db: dict[str, Any] | None,
    elapsed_s: float,
    no_stock: dict[str, dict[str, int]] | None = None,
) -> dict[str, Any]:
    """``no_stock``: short orders no wave took because nothing could be reserved for them
    (``oms.unreservable``) — stopped for a reason of the day, like a short after its wave."""
    t = day.tally
    no_stock = no_stock or {}
    statuses = Counter(o["status"] for o in final.values())
    missing_from_api = sorted(set(day.orders) - set(final))
    not_shipped = {ext: o["status"] for ext, o in final.items() if o["status"] not in SHIPPED}
    explained = {
        ext: st
        for ext, st in not_shipped.items()
        if st == "on_hold"
        or (st == "short" and (day.orders[ext].waved or ext in no_stock))
        or st == "canceled"
    }
    lost_orders = sorted(set(not_shipped) - set(explained)) + missing_from_api
    shipped = [ext for ext, o in final.items() if o["status"] in SHIPPED]
    no_event = [ext for ext in shipped if day.orders[ext].shipped_events == 0]
    twice = [ext for ext, tr in day.orders.items() if tr.shipped_events > 1]
    packages = {ext: [p["sscc"] for p in o.get("packages", [])] for ext, o in final.items()}
    multi_pkg = [ext for ext, ss in packages.items() if len(ss) > 1]
    all_ssccs = Counter(s for ss in packages.values() for s in ss)
    dup_sscc = sorted(s for s, n in all_ssccs.items() if n > 1)
    closed_twice = [ext for ext, ss in t.sscc_by_order.items() if len(ss) > 1]
    broken = sum(tr.broken_chain for tr in day.orders.values())
    scans_ok = t.scans.get("ok", 0)
    lost = {
        "orders_not_shipped": lost_orders,
        "orders_shipped_without_event": no_event,
        "events_out_of_order": broken,
    }
    doubled = {
        "events_twice": day.duplicate_events,
        "orders_shipped_twice": twice,
        "orders_with_two_packages": multi_pkg,
        "orders_closed_twice": closed_twice,
        "duplicate_sscc": dup_sscc,
    }
    if db is not None:
        lost["reservations_left_over"] = db["reservations_left_on_shipped_orders"]
        lost["stock_reserved_mismatch"] = db["stock_rows_reserved_mismatch"]
        doubled["packages_with_two_label_jobs"] = db["packages_with_two_label_jobs"]
    clean = not any(lost.values()) and not any(doubled.values()) and not day.stalled
    return {
        "ok": clean,
        "config": {
            k: getattr(day.config, k)
            for k in (
                "url",
                "orders",
                "pickers",
                "packers",
                "duration_s",
                "wrong_scan_rate",
                "short_rate",
                "offline",
                "run_id",
            )
        },
        "elapsed_s": round(elapsed_s, 1),
        "stalled": day.stalled,
        "orders": {
            "pushed": len(day.orders),
            "intake": dict(t.intake),
            "shipped": len(shipped),
            "shipped_once": len(shipped) - len(twice),
            "by_status": dict(statuses),
            "stopped_with_reason": explained,
            "short_without_stock": len(no_stock),
        },
        "waves": {"planned_and_released": t.waves, "pick_lists": t.pick_lists},
        "scans": {
            "ok": scans_ok,
            "wrong_item_caught": t.scans.get("wrong_item", 0),
            "unexpected": {k: v for k, v in t.scans.items() if k.startswith("unexpected")},
            "per_s": round(scans_ok / elapsed_s, 1) if elapsed_s else None,
            "scan_to_ack_ms": _ms(t.latencies_s),
            "acks_lost_and_resent": dict(t.acks_lost),
            "offline_queued": t.offline_queued,
            "replays_sent": t.replays_sent,
            "replays_acknowledged": t.replays_acknowledged,
        },
        "exceptions": {"short_picks": dict(t.shorts), "opened": dict(t.exceptions)},
        "packing": {
            **dict(t.pack),
            "close_ms": _ms(t.close_latencies_s),
            "labels_fetched": t.labels_fetched,
        },
        "events": {"seen": day.events_seen, "distinct": len(day.event_ids)},
        "database_checks": db if db is not None else "not checked (another server's database)",
        "lost": lost,
        "doubled": doubled,
        "problems": t.problems[:20],
    }


def _count(x: Any) -> int:
    return len(x) if isinstance(x, list | dict) else int(x)


def render(s: dict[str, Any]) -> str:
    o, sc, pk = s["orders"], s["scans"], s["packing"]
    lat, close = sc["scan_to_ack_ms"], pk["close_ms"]
    lines = [
        f"Simulated day {s['config']['run_id']}: {o['pushed']} orders, "
        f"{s['config']['pickers']} pickers, {s['config']['packers']} packers, "
        f"{s['elapsed_s']:.0f} s" + (" — STALLED" if s["stalled"] else ""),
        f"  orders   shipped {o['shipped']} of {o['pushed']} (once: {o['shipped_once']}); "
        f"by status {o['by_status']}; short with no stock to reserve {o['short_without_stock']}",
        f"  waves    {s['waves']['planned_and_released']} released, "
        f"{s['waves']['pick_lists']} pick lists",
        f"  scans    {sc['ok']} ok ({sc['per_s']}/s), {sc['wrong_item_caught']} wrong items "
        f"caught, unexpected {sc['unexpected'] or 0}; offline queued {sc['offline_queued']}, "
        f"replays {sc['replays_acknowledged']}/{sc['replays_sent']} answered 'replayed'; "
        f"acks lost and resent {sc['acks_lost_and_resent'] or 0}",
        f"  latency  scan→ack p50 {lat['p50']} / p95 {lat['p95']} / p99 {lat['p99']} ms "
        f"(max {lat['max']}); pack close p50 {close['p50']} / p95 {close['p95']} ms",
        f"  shorts   {s['exceptions']['short_picks'] or 0}; "
        f"exceptions opened {s['exceptions']['opened'] or 0}",
        f"  packing  {pk.get('closed', 0)} cartons closed, {pk.get('verified', 0)} units "
        f"verified, {pk.get('wrong_caught', 0)} wrong items caught, "
        f"{pk['labels_fetched']} labels",
        f"  events   {s['events']['seen']} read, {s['events']['distinct']} distinct",
        "  lost     " + ", ".join(f"{k} {_count(v)}" for k, v in s["lost"].items()),
        "  doubled  " + ", ".join(f"{k} {_count(v)}" for k, v in s["doubled"].items()),
    ]
    if isinstance(s["database_checks"], str):
        lines.append(f"  database {s['database_checks']}")
    for p in s["problems"][:10]:
        lines.append(f"  ! {p}")
    lines.append(
        "OK: every order shipped once, nothing lost or doubled."
        if s["ok"]
        else "NOT OK: see lost/doubled above."
    )
    return "\n".join(lines)
