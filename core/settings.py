"""Configuration from the environment (documented in README.md → Configuration)."""

from __future__ import annotations

import math
import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.errors import CoreErrorCode, FloorError


class SettingsError(FloorError):
    """A FLOOR_* variable with a value the server must not start with. Its message is one line:
    the variable, the value (never a secret's) and what is allowed."""

    code = CoreErrorCode.invalid
    http_status = 500


@dataclass(frozen=True)
class Settings:
    database_url: str = ""  # FLOOR_DATABASE_URL; "" = SQLite under instance/
    secret_key: str = ""  # FLOOR_SECRET_KEY; "" = random per process (dev only)
    host: str = "127.0.0.1"  # FLOOR_HOST
    port: int = 5000  # FLOOR_PORT
    oms_api_key: str = ""  # FLOOR_OMS_API_KEY (accepted as bearer token when set)
    redis_url: str = ""  # FLOOR_REDIS_URL (Socket.IO message queue)
    oms_webhook_url: str = ""  # FLOOR_OMS_WEBHOOK_URL
    oms_webhook_secret: str = ""  # FLOOR_OMS_WEBHOOK_SECRET
    max_body_bytes: int = 8 * 1024 * 1024  # FLOOR_MAX_BODY_BYTES
    run_scheduler: bool = False  # FLOOR_RUN_SCHEDULER (serve turns it on); one leader runs it
    # FLOOR_ASYNC_MODE: Socket.IO's async mode: threading (make run), gevent (gunicorn -k
    # gevent, make serve-prod); "" = gevent when gevent has patched the stdlib, else threading
    async_mode: str = ""
    # Upstream sync (docs/api.md → Webhooks)
    webhook_timeout_s: float = 5.0  # FLOOR_WEBHOOK_TIMEOUT_S: per delivery attempt
    webhook_max_attempts: int = 25  # FLOOR_WEBHOOK_MAX_ATTEMPTS: then dead letter
    webhook_backoff_base_s: float = 2.0  # FLOOR_WEBHOOK_BACKOFF_BASE_S: first retry delay
    webhook_backoff_max_s: float = 900.0  # FLOOR_WEBHOOK_BACKOFF_MAX_S: longest retry delay
    webhook_concurrency: int = 8  # FLOOR_WEBHOOK_CONCURRENCY: parallel posts (across orders)
    webhook_batch: int = 64  # FLOOR_WEBHOOK_BATCH: events claimed per round
    stuck_after_min: int = 120  # FLOOR_STUCK_AFTER_MIN: reconciliation threshold
    gs1_company_prefix: str = "0614141"  # FLOOR_GS1_COMPANY_PREFIX (SSCCs)
    sscc_extension_digit: int = 0  # FLOOR_SSCC_EXTENSION_DIGIT
    carrier_urls: str = ""  # FLOOR_CARRIER_URLS: "name=http://host:port/base,..." (HTTP carriers)
    carrier_api_key: str = ""  # FLOOR_CARRIER_API_KEY: bearer key for HTTP carriers
    tracking_poll_s: int = 300  # FLOOR_TRACKING_POLL_S: 0 = no tracking polls
    eod_close_at: str = ""  # FLOOR_EOD_CLOSE_AT: "HH:MM" (UTC) auto end-of-day close; "" = by hand
    demo_delivery_min: float = 2.0  # FLOOR_DEMO_DELIVERY_MIN: demo carrier delivers after this
    # Security (docs/security.md)
    demo: bool = False  # FLOOR_DEMO: `serve` loads the demo warehouse into an empty database
    allowed_origins: str = ""  # FLOOR_ALLOWED_ORIGINS: "https://a,https://b" besides our own
    secure_cookies: bool = False  # FLOOR_SECURE_COOKIES: cookies only over HTTPS (behind TLS)
    trusted_proxies: int = 0  # FLOOR_TRUSTED_PROXIES: reverse proxies whose X-Forwarded-* count
    login_limit_user: str = "5/minute;20/hour"  # FLOOR_LOGIN_LIMIT_USER: failures per account
    login_limit_address: str = "20/minute;100/hour"  # FLOOR_LOGIN_LIMIT_ADDRESS: per address
    sqlite_synchronous: str = "FULL"  # FLOOR_SQLITE_SYNCHRONOUS: FULL (durable) or NORMAL
    server_cpu: str = "auto"  # FLOOR_SERVER_CPU: auto | off | N (core.affinity)
    # Printing (README → Configuration; printing/)
    printers: str = ""  # FLOOR_PRINTERS: "NAME=URI,..." (tcp://, cups://, file:///); "" = virtual
    site_address: str = (  # FLOOR_SITE_ADDRESS: ship-from, "name|line1|line2|city|region|zip|cc"
        "Floor Demo Warehouse|1 Dock Road||Springfield|IL|62701|US"
    )
    print_timeout_s: float = 5.0  # FLOOR_PRINT_TIMEOUT_S: connect/send time-out per attempt
    print_max_attempts: int = 8  # FLOOR_PRINT_MAX_ATTEMPTS: unreachable this often -> failed
    print_backoff_base_s: float = 1.0  # FLOOR_PRINT_BACKOFF_BASE_S: first retry delay
    print_backoff_max_s: float = 60.0  # FLOOR_PRINT_BACKOFF_MAX_S: longest retry delay
    print_poll_s: float = 1.0  # FLOOR_PRINT_POLL_S: worker tick (held jobs re-check ~HS)
    # Station devices (devices/config.py documents the entries)
    scanners: str = ""  # FLOOR_SCANNERS: "PACK-01=serial:///dev/ttyACM0?baud=9600&suffix=cr,..."
    scales: str = ""  # FLOOR_SCALES: "PACK-01=serial:///dev/ttyUSB0?suffix=crlf,..."
    run_devices: bool = False  # FLOOR_RUN_DEVICES: open the serial ports (serve turns it on)
    # The floor
    location_confirm: str = "off"  # FLOOR_LOCATION_CONFIRM: off | scan | check_digits
    timezone: str = "UTC"  # FLOOR_TIMEZONE: the site's time zone for times on pages (IANA name)
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name == "extra":
                continue
            name = f"FLOOR_{f.name.upper()}"
            raw = env.get(name)
            if raw is None or raw == "":
                continue
            if f.type in ("int", int):
                values[f.name] = _int(name, raw, *_INT_RANGES[f.name])
            elif f.type in ("float", float):
                values[f.name] = _float(name, raw, *_FLOAT_RANGES[f.name])
            elif f.type in ("bool", bool):
                values[f.name] = _bool(name, raw)
            else:
                check = _TEXT_CHECKS.get(f.name)
                if check is not None and (why := check(raw)) is not None:
                    shown = name if f.name in _SECRET_TEXT else f"{name}={raw[:80]!r}"
                    raise SettingsError(message=f"{shown}: {why}")
                # A checked value is used as checked: FLOOR_TIMEZONE=" Europe/Berlin" passed
                # the check but fell back to UTC where it was used (ZoneInfo(" Europe/Berlin")).
                value = raw.strip() if check is not None else raw
                values[f.name] = _FOLD.get(f.name, str)(value)  # "Threading" passed, then
                # Socket.IO refused it: a choice is stored as it is compared
        settings = cls(**values)
        for low, high, why in _ORDERED:
            if getattr(settings, low) > getattr(settings, high):
                raise SettingsError(message=why)
        return settings

    def with_overrides(self, overrides: Mapping[str, Any] | None) -> Settings:
        if not overrides:
            return self
        known = {f.name for f in fields(self)}
        mine = {k: v for k, v in overrides.items() if k in known}
        extra = {k: v for k, v in overrides.items() if k not in known}
        return replace(self, **mine, extra={**self.extra, **extra})

    def origins(self) -> list[str]:
        return [o.strip() for o in self.allowed_origins.split(",") if o.strip()]

    def effective_secret_key(self) -> str:
        return self.secret_key or secrets.token_hex(32)


# Allowed ranges of the numeric settings (inclusive): a value outside is refused at start-up.
# 0 is a value: it is allowed only where it means something (the README says what).
_INT_RANGES: dict[str, tuple[int, int]] = {
    "port": (1, 65535),
    "max_body_bytes": (1024, 1 << 40),
    "webhook_max_attempts": (1, 1000),
    "webhook_concurrency": (1, 256),
    "webhook_batch": (1, 10_000),
    "stuck_after_min": (1, 525_600),
    "sscc_extension_digit": (0, 9),
    "tracking_poll_s": (0, 86_400),  # 0 = no tracking polls
    "trusted_proxies": (0, 16),
    "print_max_attempts": (1, 1000),
}
_FLOAT_RANGES: dict[str, tuple[float, float, bool]] = {  # (low, high, low allowed)
    "webhook_timeout_s": (0, 600, False),
    "webhook_backoff_base_s": (0, 86_400, False),
    "webhook_backoff_max_s": (0, 86_400, False),
    "demo_delivery_min": (0, 525_600, True),
    "print_timeout_s": (0, 600, False),
    "print_backoff_base_s": (0, 86_400, False),
    "print_backoff_max_s": (0, 86_400, False),
    "print_poll_s": (0, 3600, False),
}
_ORDERED = (
    (
        "webhook_backoff_base_s",
        "webhook_backoff_max_s",
        "FLOOR_WEBHOOK_BACKOFF_BASE_S must not exceed FLOOR_WEBHOOK_BACKOFF_MAX_S",
    ),
    (
        "print_backoff_base_s",
        "print_backoff_max_s",
        "FLOOR_PRINT_BACKOFF_BASE_S must not exceed FLOOR_PRINT_BACKOFF_MAX_S",
    ),
)
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _int(name: str, raw: str, low: int, high: int) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise SettingsError(message=f"{name}={raw[:40]!r}: a whole number from {low} to {high}")
    return value


def _float(name: str, raw: str, low: float, high: float, low_ok: bool) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        value = math.nan
    fits = low <= value <= high if low_ok else low < value <= high
    if not fits:  # nan and inf fail here too
        what = f"from {low:g}" if low_ok else f"more than {low:g}"
        raise SettingsError(message=f"{name}={raw[:40]!r}: a number {what} up to {high:g}")
    return value


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SettingsError(message=f"{name}={raw[:40]!r}: one of 1, true, yes, on / 0, false, no, off")


def _http_url(raw: str) -> str | None:
    try:
        parts = urlsplit(raw.strip())
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        return "an http:// or https:// URL with a host"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "an http:// or https:// URL with a host"
    return None


def _database_url(raw: str) -> str | None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        make_url(raw.strip()).get_dialect()
    except (ArgumentError, NoSuchModuleError, ValueError):
        return "a database URL: sqlite:///PATH or postgresql+psycopg://USER@HOST:5432/DB"
    return None


def _redis_url(raw: str) -> str | None:
    try:
        parts = urlsplit(raw.strip())
        parts.port  # noqa: B018
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("redis", "rediss", "unix"):
        return "a redis://HOST:6379/0, rediss:// or unix:// URL"
    return None


def _choice(*allowed: str, fold: Callable[[str], str] = str.lower) -> Callable[[str], str | None]:
    def check(raw: str) -> str | None:
        return None if fold(raw.strip()) in allowed else "one of " + ", ".join(allowed)

    return check


def _eod(raw: str) -> str | None:
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", raw.strip())
    if m is None or int(m[1]) > 23 or int(m[2]) > 59:
        return "a time HH:MM (UTC), 00:00 to 23:59"
    return None


def _zone(raw: str) -> str | None:
    try:
        ZoneInfo(raw.strip())
    except (ZoneInfoNotFoundError, ValueError):
        return "an IANA time zone name such as UTC or Europe/Berlin"
    return None


def _gs1_prefix(raw: str) -> str | None:
    if not re.fullmatch(r"\d{7,10}", raw.strip()):
        return "a GS1 company prefix: 7 to 10 digits"
    return None


def _limits(raw: str) -> str | None:
    from limits import parse_many

    try:
        items = parse_many(raw)
    except ValueError:
        items = []
    if not items or any(item.amount < 1 for item in items):
        return "rate limits such as 5/minute;20/hour (each at least 1)"
    return None


def _origins(raw: str) -> str | None:
    for item in (o.strip() for o in raw.split(",")):
        if not item:
            continue
        parts = urlsplit(item.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path:
            return f"origins such as https://desk.example:8443, comma-separated (not {item[:60]!r})"
    return None


def _carrier_urls(raw: str) -> str | None:
    items = [i.strip() for i in raw.split(",") if i.strip()]
    for n, item in enumerate(items, 1):
        name, sep, url = item.partition("=")
        if not sep or not name.strip() or _http_url(url) is not None:
            return f"entry {n} is not NAME=http://host:port/base (entries comma-separated)"
    return None


def _bearer_key(raw: str) -> str | None:
    # The key a client sends is stripped (web/api.py); a configured " key\n" (an env file's
    # trailing space, a pasted line break) matched no request, while it still closed the demo
    # key and the banner said "set".
    if raw != raw.strip() or not raw.isprintable():
        return "spaces or line breaks around it, or control characters (a key is sent without)"
    return None


def _site_address(raw: str) -> str | None:
    # printing.labels.site_address reads it; every label's ship-from comes from it.
    parts = [p.strip() for p in raw.split("|")]
    name, line1, _line2, city, _region, _postcode, country = (parts + [""] * 7)[:7]
    if (
        len(parts) > 7
        or not (name and line1 and city)
        or not (len(country) == 2 and country.isascii() and country.isalpha())
    ):
        return "name|line1|line2|city|region|postcode|CC: name, line1, city and a 2-letter country"
    return None


_TEXT_CHECKS: dict[str, Callable[[str], str | None]] = {
    "database_url": _database_url,
    "redis_url": _redis_url,
    "oms_webhook_url": _http_url,
    "async_mode": _choice("threading", "gevent"),
    "eod_close_at": _eod,
    "gs1_company_prefix": _gs1_prefix,
    "sqlite_synchronous": _choice("FULL", "NORMAL", fold=str.upper),
    "location_confirm": _choice("off", "scan", "check_digits"),
    "timezone": _zone,
    "login_limit_user": _limits,
    "login_limit_address": _limits,
    "allowed_origins": _origins,
    "carrier_urls": _carrier_urls,
    "oms_api_key": _bearer_key,
    "site_address": _site_address,
    "carrier_api_key": _bearer_key,
}
_FOLD: dict[str, Callable[[str], str]] = {
    "async_mode": str.lower,
    "location_confirm": str.lower,
    "sqlite_synchronous": str.upper,
}
# Their values never appear in an error line (a URL may carry a password).
_SECRET_TEXT = {
    "database_url",
    "redis_url",
    "oms_webhook_url",
    "carrier_urls",
    "oms_api_key",
    "carrier_api_key",
}
