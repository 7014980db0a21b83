"""Reconciliation: what has not reached the OMS yet, what never will without a person (dead
letters), and orders stuck in one status longer than a threshold."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.db import utcnow
from orders.models import Order
from orders.outbox import OutboxEvent, OutboxStatus, event_cursor
from orders.states import OPEN_STATUSES, OrderStatus

# Statuses an order may sit in for long without anyone having to act (waiting for the carrier).
WATCHED = tuple(sorted(OPEN_STATUSES - {OrderStatus.on_hold}))


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def event_row(ev: OutboxEvent) -> dict[str, Any]:
    return {
        "cursor": event_cursor(ev),
        "event_id": ev.event_id,
        "type": ev.type,
        "order": ev.aggregate_id,
        "status": ev.status.value,
        "created_at": _iso(ev.created_at),
        "attempts": ev.attempts,
        "next_attempt_at": _iso(ev.next_attempt_at),
        "last_attempt_at": _iso(ev.last_attempt_at),
        "last_status_code": ev.last_status_code,
        "last_error": ev.last_error,
        "dead_at": _iso(ev.dead_at),
    }


def _events(session: Session, status: OutboxStatus, limit: int) -> dict[str, Any]:
    count, oldest = session.execute(
        select(func.count(), func.min(OutboxEvent.created_at)).where(OutboxEvent.status == status)
    ).one()
    rows = session.scalars(
        select(OutboxEvent)
        .where(OutboxEvent.status == status)
        .order_by(OutboxEvent.id)
        .limit(limit)
    ).all()
    return {"count": count, "oldest_at": _iso(oldest), "events": [event_row(e) for e in rows]}


def stuck_orders(
    session: Session, now: dt.datetime, stuck_after_min: int, limit: int = 200
) -> dict[str, Any]:
    cutoff = now - dt.timedelta(minutes=stuck_after_min)
    # status_since >= created_at, so orders created after the cutoff cannot be stuck yet.
    candidates = session.execute(
        select(Order.external_id, Order.status, Order.status_times, Order.created_at)
        .where(Order.status.in_(WATCHED), Order.created_at < cutoff)
        .order_by(Order.created_at)
    ).all()
    out = []
    for external_id, status, times, created_at in candidates:
        raw = (times or {}).get(status.value)
        since = dt.datetime.fromisoformat(raw) if raw else created_at
        if since < cutoff:
            out.append(
                {
                    "order": external_id,
                    "status": status.value,
                    "since": since.isoformat(),
                    "minutes": int((now - since).total_seconds() // 60),
                }
            )
    out.sort(key=lambda r: r["since"])
    return {"count": len(out), "threshold_min": stuck_after_min, "orders": out[:limit]}


def reconciliation(
    session: Session,
    *,
    stuck_after_min: int,
    now: dt.datetime | None = None,
    limit: int = 200,
) -> dict[str, Any]:
    now = now or utcnow()
    return {
        "generated_at": now.isoformat(),
        "unacknowledged": _events(session, OutboxStatus.pending, limit),
        "dead_letters": _events(session, OutboxStatus.dead, limit),
        "stuck_orders": stuck_orders(session, now, stuck_after_min, limit),
    }
