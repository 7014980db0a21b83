"""Configuration from the environment (documented in README.md → Configuration)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any


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
            raw = env.get(f"FLOOR_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            if f.type in ("int", int):
                values[f.name] = int(raw)
            elif f.type in ("float", float):
                values[f.name] = float(raw)
            elif f.type in ("bool", bool):
                values[f.name] = raw.strip().lower() in ("1", "true", "yes", "on")
            else:
                values[f.name] = raw
        return cls(**values)

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
