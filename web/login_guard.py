"""Throttled logins: failed attempts are counted per account and per client address, and a key
that has failed too often is locked for a while.

Only *failures* count, so a floor full of people logging in at shift start is never slowed. The
limits are several moving windows at once (``FLOOR_LOGIN_LIMIT_USER`` = ``5/minute;20/hour``,
``FLOOR_LOGIN_LIMIT_ADDRESS`` = ``20/minute;100/hour``): a few typos cost a minute, a guessing
run soon costs an hour — a back-off — and every lock expires by itself, so nobody can lock an
account or the floor for good; the worst an attacker can do to one account is keep it locked by
failing 20 times an hour, which the audit trail (``login.failed``) shows.

The counters live in the ``limits`` library's storage (the engine under Flask-Limiter): memory by
default (one process), Redis when FLOOR_REDIS_URL is set, so that every server process shares
them. Flask-Limiter itself counts *requests* per route; here the unit is a *failed login* keyed by
the account it aimed at, which its decorator model does not express.

An attempt is let through with ``begin`` and counted with ``end``: while its secret is checked it
counts as a failure already (``in flight``), so forty guesses sent at once cannot all pass the
check before the first of them is counted (they did: the per-account limit of 5 let 40 through).
The in-flight count is per process; with several processes a burst gets at most one window's
worth per process before the shared counters lock it.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from dataclasses import dataclass

from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter


@dataclass(frozen=True)
class Lock:
    """A refused attempt: which key is locked and for how many more seconds."""

    scope: str  # "user" | "address"
    retry_after_s: int


class ThrottleUnavailable(Exception):
    """The limiter's store (Redis, FLOOR_REDIS_URL) did not answer: the attempt is refused, as
    no limit could be checked (a login page says so; it is no crash)."""


class LoginGuard:
    def __init__(self, storage_uri: str, per_user: str, per_address: str) -> None:
        options = {"key_prefix": "floor-login"} if storage_uri.startswith("redis") else {}
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_uri, **options))
        self._per_user = parse_many(per_user) if per_user else []
        self._per_address = parse_many(per_address) if per_address else []
        self._mutex = threading.Lock()
        self._in_flight: Counter[tuple[str, str]] = Counter()  # (scope, key): attempts checking

    def _keys(self, address: str, user_id: int | None) -> list[tuple[str, RateLimitItem, str]]:
        keys = [("address", item, address) for item in self._per_address]
        if user_id is not None:
            keys += [("user", item, str(user_id)) for item in self._per_user]
        return keys

    def locked(self, address: str, user_id: int | None = None) -> Lock | None:
        """The lock that refuses this attempt before the secret is even checked, or None."""
        for scope, item, key in self._keys(address, user_id):
            cost = self._in_flight[(scope, key)] + 1
            try:
                if self._limiter.test(item, scope, key, cost=cost):
                    continue
                reset = self._limiter.get_window_stats(item, scope, key).reset_time
            except Exception as exc:  # noqa: BLE001 - redis' errors, whatever the client raises
                raise ThrottleUnavailable(type(exc).__name__) from exc
            return Lock(scope, max(1, math.ceil(reset - time.time())))
        return None

    def reachable(self) -> bool:
        """Whether the limiter's store answers (/healthz)."""
        try:
            return bool(self._limiter.storage.check())
        except Exception:  # noqa: BLE001
            return False

    def begin(self, address: str, user_id: int | None = None) -> Lock | None:
        """Let one attempt through (None), counted as in flight until its ``end``, or refuse it
        with the lock. Checking and counting are one step, so concurrent attempts take turns."""
        with self._mutex:
            lock = self.locked(address, user_id)
            if lock is None:
                self._in_flight.update(self._counted(address, user_id))
            return lock

    def end(self, address: str, user_id: int | None = None, *, failed: bool) -> None:
        """The attempt ``begin`` let through is over: count it when it ``failed``."""
        with self._mutex:
            try:
                if failed:
                    self.failed(address, user_id)
            finally:  # a store that failed to count must not leave the attempt in flight for
                # good: each leaked one raised the account's cost until it was locked out
                for counted in self._counted(address, user_id):
                    self._in_flight[counted] -= 1
                    if self._in_flight[counted] <= 0:
                        del self._in_flight[counted]

    def _counted(self, address: str, user_id: int | None) -> set[tuple[str, str]]:
        """The (scope, key) pairs an attempt counts against (once each, whatever its windows)."""
        return {(scope, key) for scope, _, key in self._keys(address, user_id)}

    def failed(self, address: str, user_id: int | None = None) -> None:
        """Count one failed attempt against the address and, when known, the account."""
        for scope, item, key in self._keys(address, user_id):
            try:
                self._limiter.hit(item, scope, key)
            except Exception as exc:  # noqa: BLE001
                raise ThrottleUnavailable(type(exc).__name__) from exc
