"""OMS webhooks: the body and signature of a delivery, what one attempt's result means, when to
try again (exponential back-off with jitter, honouring Retry-After), dead letters, and
redelivery by hand.

Delivery is at least once: an attempt that timed out may still have reached the OMS, so the same
event can arrive twice; receivers de-duplicate by ``X-Floor-Event-Id``. Events of one order are
delivered one after another (see ``sync/worker.py``), so the OMS sees them in order.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import hmac
import json
import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.actors import Actor
from core.audit import audit
from core.db import is_postgres, utcnow
from core.errors import CoreErrorCode, FloorError
from core.events import publish
from core.exception_queue import (
    EXCEPTION_MACHINE,
    ExceptionReason,
    ExceptionStatus,
    FloorException,
)
from core.settings import Settings
from orders.models import Order
from orders.outbox import OUTBOX_MACHINE, OutboxEvent, OutboxStatus, event_json
from sync.deadline_http import DeadlineExceeded, post_within
from sync.errors import SyncErrorCode

EVENT_ID_HEADER = "X-Floor-Event-Id"
TIMESTAMP_HEADER = "X-Floor-Timestamp"
SIGNATURE_HEADER = "X-Floor-Signature"
RETRYABLE_STATUS = frozenset({408, 429})
MAX_RETRY_AFTER_S = 3600.0
USER_AGENT = "floor-server-webhooks/1"
# Prefix of last_error when no connection could be made at all (the OMS is down or unreachable).
UNREACHABLE = "unreachable: "


# --------------------------------------------------------------------------- body and signature


def event_body(ev: OutboxEvent) -> dict[str, Any]:
    """The body of a delivery: exactly one item of ``GET /api/v1/events`` (``event_json``)."""
    return event_json(ev)


def encode_body(body: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON; the signature covers exactly these bytes."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`` with the shared secret."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    now: float | None = None,
    tolerance_s: float = 300,
) -> bool:
    """What a receiver does: recompute, compare in constant time, refuse stale timestamps."""
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False
    if now is not None and abs(now - ts) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, ts, body), signature or "")


def headers_for(event_id: str, body: bytes, secret: str, timestamp: int) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_ID_HEADER: event_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }


# --------------------------------------------------------------------------- one attempt

Kind = Literal["delivered", "retry", "dead"]


@dataclass(frozen=True)
class Outcome:
    kind: Kind
    status_code: int | None = None
    error: str = ""
    retry_after_s: float | None = None


def parse_retry_after(value: str | None, now: dt.datetime) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    # ASCII digits only: http.client reads header bytes as Latin-1, and "²" (0xB2) is a
    # digit to str.isdigit() that float() refuses.
    if value.isascii() and value.isdigit():
        return min(float(value), MAX_RETRY_AFTER_S)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return min(max((when - now).total_seconds(), 0.0), MAX_RETRY_AFTER_S)


def classify(status_code: int, headers: Mapping[str, str], now: dt.datetime) -> Outcome:
    """2xx delivered; 408/429/5xx retried (Retry-After honoured); anything else is final,
    except a 1xx: http.client hands any interim answer but 100 back as the answer (a "102
    Processing" or "103 Early Hints" before the real one), and it says nothing about the
    outcome - tried again, not a dead letter."""
    if 200 <= status_code < 300:
        return Outcome("delivered", status_code)
    if status_code < 200:
        return Outcome("retry", status_code, f"HTTP {status_code}: an interim answer, no outcome")
    if status_code in RETRYABLE_STATUS or status_code >= 500:
        return Outcome(
            "retry",
            status_code,
            f"HTTP {status_code}",
            parse_retry_after(headers.get("Retry-After"), now),
        )
    return Outcome("dead", status_code, f"HTTP {status_code} (not retried)")


def attempt(
    http: requests.Session,
    url: str,
    secret: str,
    event_id: str,
    body: bytes,
    *,
    timeout_s: float,
    now: dt.datetime,
) -> Outcome:
    """POST one event once and say what the result means. Never raises for network trouble."""
    timestamp = int(now.timestamp())
    try:
        # The whole exchange within the time-out, and the answer's body never read: a receiver
        # that trickles its headers or streams an endless body holds nothing but this attempt.
        resp = post_within(
            http,
            url,
            timeout_s,
            data=body,
            headers=headers_for(event_id, body, secret, timestamp),
            timeout=(min(timeout_s, 3.0), timeout_s),
            allow_redirects=False,
        )
    except requests.ConnectTimeout:
        return Outcome("retry", None, f"{UNREACHABLE}could not connect within {timeout_s:g} s")
    except DeadlineExceeded:
        return Outcome("retry", None, f"timed out: no complete answer within {timeout_s:g} s")
    except requests.Timeout:
        return Outcome("retry", None, f"timed out after {timeout_s:g} s")
    except requests.ConnectionError as exc:
        text = str(exc)
        if any(m in text for m in ("Connection refused", "Failed to establish", "Name or service")):
            return Outcome("retry", None, f"{UNREACHABLE}{_short(exc)}")
        return Outcome("retry", None, f"connection failed: {_short(exc)}")
    except requests.RequestException as exc:
        return Outcome("retry", None, f"request failed: {_short(exc)}")
    with resp:
        return classify(resp.status_code, resp.headers, now)


_MARKERS = (
    "Connection refused",
    "Connection reset",
    "Read timed out",
    "Remote end closed",
    "Name or service not known",
    "Temporary failure in name resolution",
    "No route to host",
    "Network is unreachable",
)


def _short(exc: BaseException) -> str:
    """The reason an attempt failed, for ``last_error`` (the /sync page shows it). urllib3's text
    carries the request's path and query ("Max retries exceeded with url: /hooks?token=…"):
    the webhook URL's query often carries the OMS's credential, which the page shows as ``***``."""
    text = str(exc)
    for marker in _MARKERS:
        if marker in text:
            return marker
    return re.sub(r"with url: \S+", "with url: ***", text)[:200]


# --------------------------------------------------------------------------- retry policy


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 25
    base_s: float = 2.0
    max_s: float = 900.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            settings.webhook_max_attempts,
            settings.webhook_backoff_base_s,
            settings.webhook_backoff_max_s,
        )

    def backoff_s(self, attempts: int, rng: random.Random | None = None) -> float:
        """Exponential back-off with "equal jitter": half fixed, half random, capped."""
        rng = rng or random
        ceiling = min(self.max_s, self.base_s * 2 ** max(attempts - 1, 0))
        return ceiling / 2 + rng.uniform(0, ceiling / 2)

    def delay_s(self, outcome: Outcome, attempts: int, rng: random.Random | None = None) -> float:
        if outcome.retry_after_s is not None:
            # The receiver said when: never earlier; a little jitter so a crowd does not return
            # in the same millisecond.
            rng = rng or random
            return outcome.retry_after_s + rng.uniform(0, min(1.0, self.base_s))
        return self.backoff_s(attempts, rng)


# --------------------------------------------------------------------------- recording results


def apply_outcome(
    session: Session,
    ev: OutboxEvent,
    outcome: Outcome,
    policy: RetryPolicy,
    now: dt.datetime,
    rng: random.Random | None = None,
) -> OutboxStatus:
    """Record one attempt's outcome on its event (``ev.attempts`` already counts it)."""
    ev.claim_token = None
    ev.last_attempt_at = now
    ev.last_status_code = outcome.status_code
    if outcome.kind == "delivered":
        OUTBOX_MACHINE.move(ev, OutboxStatus.delivered)
        ev.delivered_at = now
        ev.next_attempt_at = None
        ev.last_error = ""
        return ev.status
    ev.last_error = outcome.error
    if outcome.kind == "dead" or ev.attempts >= policy.max_attempts:
        why = outcome.error
        if outcome.kind == "retry":
            why = f"gave up after {ev.attempts} attempts; last: {outcome.error}"
        dead_letter(session, ev, now, why)
        return ev.status
    ev.next_attempt_at = now + dt.timedelta(seconds=policy.delay_s(outcome, ev.attempts, rng))
    return ev.status


def dead_letter(session: Session, ev: OutboxEvent, now: dt.datetime, why: str) -> None:
    """Park the event (it blocks later events of its order) and tell the supervisor."""
    OUTBOX_MACHINE.move(ev, OutboxStatus.dead)
    ev.dead_at = now
    ev.next_attempt_at = None
    ev.last_error = why
    order_id = session.scalar(select(Order.id).where(Order.external_id == ev.aggregate_id))
    session.add(
        FloorException(
            reason=ExceptionReason.webhook_dead,
            order_id=order_id,
            subject=f"webhook {ev.type} for {ev.aggregate_id}",
            message=f"Event {ev.event_id} was not delivered to the OMS: {why}",
            details={
                "event_id": ev.event_id,
                "cursor": ev.id,
                "order": ev.aggregate_id,
                "type": ev.type,
                "status_code": ev.last_status_code,
                "attempts": ev.attempts,
            },
        )
    )
    publish(
        session,
        "outbox.dead",
        {"event_id": ev.event_id, "order": ev.aggregate_id, "type": ev.type, "error": why},
    )


# --------------------------------------------------------------------------- supervisor actions


class OutboxActionError(FloorError):
    """A refused dead-letter action (409 unless the raise says otherwise)."""


def _resolve_exceptions(
    session: Session, events: Iterable[OutboxEvent], actor: Actor, resolution: str
) -> None:
    ids = {ev.event_id for ev in events}
    if not ids:
        return
    now = utcnow()
    for exc in session.scalars(
        select(FloorException).where(
            FloorException.reason == ExceptionReason.webhook_dead,
            FloorException.status == ExceptionStatus.open,
        )
    ):
        if (exc.details or {}).get("event_id") in ids:
            EXCEPTION_MACHINE.move(exc, ExceptionStatus.resolved)
            exc.resolved_at = now
            exc.resolved_by_id = actor.user_id
            exc.resolution = resolution


def _dead_events(session: Session, cursors: Iterable[int] | None) -> list[OutboxEvent]:
    """The dead letters among ``cursors`` (all of them when None). A cursor that names no event
    at all is refused as not found (404), naming it: "only dead letters" would suggest it
    exists."""
    if cursors is not None:
        cursors = list(cursors)
        known = set(session.scalars(select(OutboxEvent.id).where(OutboxEvent.id.in_(cursors))))
        missing = sorted(set(cursors) - known)
        if missing:
            raise OutboxActionError(
                CoreErrorCode.not_found,
                "no webhook event " + ", ".join(f"#{c}" for c in missing),
                404,
            )
    stmt = select(OutboxEvent).where(OutboxEvent.status == OutboxStatus.dead)
    if cursors is not None:
        stmt = stmt.where(OutboxEvent.id.in_(list(cursors)))
    if is_postgres(session):
        # Locked, in id order: a redelivery and a skip of the same letter at once both read it
        # dead, both were answered done, and the later commit decided whether it was sent.
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return list(session.scalars(stmt.order_by(OutboxEvent.id)))


def redeliver(
    session: Session, actor: Actor, cursors: Iterable[int] | None = None, *, reason: str = ""
) -> list[str]:
    """Put dead letters back in the queue (all of them when ``cursors`` is None), with fresh
    attempts. Returns their event ids; writes one audit entry."""
    if cursors is not None:
        cursors = list(cursors)
    events = _dead_events(session, cursors)
    if cursors is not None and len(events) != len(set(cursors)):
        raise OutboxActionError(SyncErrorCode.not_dead, "only dead letters can be redelivered")
    now = utcnow()
    for ev in events:
        OUTBOX_MACHINE.move(ev, OutboxStatus.pending)
        ev.attempts = 0
        ev.next_attempt_at = now
        ev.dead_at = None
        ev.claim_token = None
    ids = [ev.event_id for ev in events]
    if events:
        _resolve_exceptions(session, events, actor, f"redelivered by {actor.name}")
        audit(
            session,
            actor,
            "webhook.redeliver",
            entity="outbox_event",
            entity_id=events[0].id if len(events) == 1 else "",
            reason=reason,
            details={"event_ids": ids, "all": cursors is None},
        )
        publish(session, "outbox.redelivered", {"event_ids": ids})
    return ids


def skip(session: Session, actor: Actor, cursor: int, *, reason: str) -> str:
    """Give up on one dead letter for good so later events of its order can flow (audited)."""
    if not reason.strip():
        raise OutboxActionError(SyncErrorCode.reason_required, "say why the event is skipped", 422)
    events = _dead_events(session, [cursor])
    if not events:
        raise OutboxActionError(SyncErrorCode.not_dead, "only dead letters can be skipped")
    ev = events[0]
    OUTBOX_MACHINE.move(ev, OutboxStatus.skipped)
    ev.next_attempt_at = None
    _resolve_exceptions(session, [ev], actor, f"skipped by {actor.name}: {reason}")
    audit(
        session,
        actor,
        "webhook.skip",
        entity="outbox_event",
        entity_id=ev.id,
        reason=reason,
        details={"event_id": ev.event_id, "order": ev.aggregate_id, "type": ev.type},
    )
    publish(session, "outbox.skipped", {"event_id": ev.event_id, "order": ev.aggregate_id})
    return ev.event_id
