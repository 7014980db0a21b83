"""The webhook delivery loop: claim due events, post them, record what happened.

Order per order: only the *oldest undelivered* event of an order is ever eligible, so an order's
events reach the OMS one after another in creation order. A dead letter keeps holding back the
later events of its order until a supervisor redelivers it (it goes first again) or skips it
(audited); events of other orders keep flowing. Parallelism is across orders only.

Claims are leases: claiming an event counts the attempt, stamps a ``claim_token`` and moves
``next_attempt_at`` past the longest a round can take. The HTTP posts run *outside* any database
transaction; the results are written afterwards, only where the token still matches. A worker
killed mid-delivery loses nothing: its leases expire and the events are sent again (at least
once; receivers de-duplicate by event id). Two workers never claim the same event: PostgreSQL
locks the candidates ``FOR UPDATE SKIP LOCKED``; SQLite has one writer at a time
(``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import datetime as dt
import math
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import requests
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from core.db import is_postgres, unit_of_work, utcnow
from core.settings import Settings
from orders.outbox import UNDELIVERED, OutboxEvent, OutboxStatus
from sync.deadline_http import deadline_session
from sync.webhooks import (
    UNREACHABLE,
    Outcome,
    RetryPolicy,
    apply_outcome,
    attempt,
    encode_body,
    event_body,
)

Clock = Callable[[], dt.datetime]


@dataclass(frozen=True)
class DeliveryConfig:
    url: str
    secret: str
    timeout_s: float = 5.0
    concurrency: int = 8
    batch: int = 64
    policy: RetryPolicy = field(default_factory=RetryPolicy)

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliveryConfig:
        return cls(
            url=settings.oms_webhook_url,
            secret=settings.oms_webhook_secret,
            timeout_s=settings.webhook_timeout_s,
            concurrency=max(1, settings.webhook_concurrency),
            batch=max(1, settings.webhook_batch),
            policy=RetryPolicy.from_settings(settings),
        )

    @property
    def lease_s(self) -> float:
        """Longest a round can take: every wave of parallel posts timing out, plus a margin."""
        waves = math.ceil(self.batch / self.concurrency)
        return waves * (self.timeout_s + 1.0) + 5.0


@dataclass(frozen=True)
class Claim:
    cursor: int
    event_id: str
    order: str
    token: str
    body: bytes


@dataclass
class DeliveryStats:
    rounds: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0

    def add(self, counts: Counter[str]) -> None:
        self.rounds += 1
        self.delivered += counts["delivered"]
        self.retried += counts["retry"]
        self.dead += counts["dead"]


def claim_due(session: Session, now: dt.datetime, limit: int, lease_s: float) -> list[Claim]:
    """Lease up to ``limit`` due events, at most one per order: each order's oldest undelivered."""
    # Each order's oldest undelivered event, found in one pass over the backlog (the
    # undelivered events) so the plan does not depend on table statistics.
    heads = (
        select(func.min(OutboxEvent.id))
        .where(OutboxEvent.status.in_(UNDELIVERED))
        .group_by(OutboxEvent.aggregate, OutboxEvent.aggregate_id)
    )
    stmt = (
        select(OutboxEvent)
        .where(
            OutboxEvent.id.in_(heads),
            OutboxEvent.status == OutboxStatus.pending,
            OutboxEvent.next_attempt_at <= now,
        )
        .order_by(OutboxEvent.id)
        .limit(limit)
    )
    if is_postgres(session):
        stmt = stmt.with_for_update(skip_locked=True, of=OutboxEvent)
    events = session.scalars(stmt).all()
    token = str(uuid.uuid4())
    until = now + dt.timedelta(seconds=lease_s)
    claims = []
    for ev in events:
        ev.attempts += 1
        ev.claim_token = token
        ev.last_attempt_at = now
        ev.next_attempt_at = until
        claims.append(
            Claim(ev.id, ev.event_id, ev.aggregate_id, token, encode_body(event_body(ev)))
        )
    return claims


def record_outcomes(
    session: Session,
    results: list[tuple[Claim, Outcome]],
    policy: RetryPolicy,
    now: dt.datetime,
    rng: random.Random | None = None,
) -> Counter[str]:
    """Write each attempt's result, unless the claim was lost (lease expired and re-claimed)."""
    by_cursor = {c.cursor: (c, o) for c, o in results}
    counts: Counter[str] = Counter()
    events = session.scalars(select(OutboxEvent).where(OutboxEvent.id.in_(list(by_cursor))))
    for ev in events:
        claim, outcome = by_cursor[ev.id]
        if ev.claim_token != claim.token or ev.status != OutboxStatus.pending:
            counts["lost"] += 1
            continue
        apply_outcome(session, ev, outcome, policy, now, rng)
        counts[outcome.kind if ev.status != OutboxStatus.dead else "dead"] += 1
    if counts["delivered"]:
        counts["woken"] = wake_unreachable(session, now)
    return counts


def wake_unreachable(session: Session, now: dt.datetime) -> int:
    """The OMS answered: events that wait only because no connection could be made (refused,
    connect time-out) are due again now instead of at the end of their back-off. Events that
    got an HTTP error, a read time-out or a dropped connection keep their back-off (and any
    Retry-After): those may be about the event itself."""
    result = session.execute(
        update(OutboxEvent)
        .where(
            OutboxEvent.status == OutboxStatus.pending,
            OutboxEvent.claim_token.is_(None),
            OutboxEvent.attempts > 0,
            OutboxEvent.last_status_code.is_(None),
            OutboxEvent.last_error.startswith(UNREACHABLE, autoescape=True),
            OutboxEvent.next_attempt_at > now,
        )
        .values(next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


class _HttpPool:
    """A thread pool whose threads each keep one ``requests.Session`` (keep-alive)."""

    def __init__(self, size: int, url: str) -> None:
        self.url = url
        self.executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="webhook")
        self._local = threading.local()
        self._all: list[requests.Session] = []
        self._lock = threading.Lock()

    def http(self) -> requests.Session:
        s = getattr(self._local, "http", None)
        if s is None:
            s = deadline_session()  # an attempt's time-out bounds the whole exchange
            # Proxy settings (incl. NO_PROXY) are read from the environment once per thread,
            # not on every post.
            s.proxies = dict(requests.utils.get_environ_proxies(self.url))
            s.trust_env = False
            self._local.http = s
            with self._lock:
                self._all.append(s)
        return s

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        for s in self._all:
            s.close()


def deliver_round(
    sessions: sessionmaker[Session],
    cfg: DeliveryConfig,
    pool: _HttpPool,
    *,
    clock: Clock = utcnow,
    rng: random.Random | None = None,
) -> Counter[str] | None:
    """One round: claim, post in parallel, record. None when nothing was due."""
    with unit_of_work(sessions) as s:
        claims = claim_due(s, clock(), cfg.batch, cfg.lease_s)
    if not claims:
        return None

    def post(claim: Claim) -> Outcome:
        return attempt(
            pool.http(),
            cfg.url,
            cfg.secret,
            claim.event_id,
            claim.body,
            timeout_s=cfg.timeout_s,
            now=clock(),
        )

    outcomes = list(pool.executor.map(post, claims))
    with unit_of_work(sessions) as s:
        return record_outcomes(
            s, list(zip(claims, outcomes, strict=True)), cfg.policy, clock(), rng
        )


def deliver_due(
    sessions: sessionmaker[Session],
    cfg: DeliveryConfig,
    *,
    clock: Clock = utcnow,
    rng: random.Random | None = None,
    time_budget_s: float = 30.0,
    max_rounds: int | None = None,
) -> DeliveryStats:
    """Deliver rounds until nothing is due, the time budget is spent or ``max_rounds`` ran."""
    stats = DeliveryStats()
    if not cfg.url:
        return stats
    pool = _HttpPool(cfg.concurrency, cfg.url)
    started = time.monotonic()
    try:
        while max_rounds is None or stats.rounds < max_rounds:
            counts = deliver_round(sessions, cfg, pool, clock=clock, rng=rng)
            if counts is None:
                break
            stats.add(counts)
            if time.monotonic() - started > time_budget_s:
                break
    finally:
        pool.close()
    return stats
