"""``flask --app app simulate``: options → ``SimConfig`` → a day → the summary; exit 0 when clean.

The OMS key defaults to ``FLOOR_OMS_API_KEY`` of this configuration, else the demo's key (the
server accepts it only while it runs the demo). The database checks run when this configuration's
database holds the day's orders, i.e. the simulator runs beside the server it drives.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any

import aiohttp
import click

from web.simulator.db_checks import check
from web.simulator.http import SimError
from web.simulator.report import render
from web.simulator.state import SimConfig

DEMO_API_KEY = "demo-oms-key-change-me"  # web.demo.DEMO_API_KEY (docs/api.md)


def default_url(settings: Any) -> str:
    """Where ``serve`` listens with these settings (FLOOR_HOST, FLOOR_PORT): the simulator run
    "in a second terminal of the same checkout" drives that server, whatever port it was given.
    A server listening on every address is reached at 127.0.0.1."""
    host = settings.host if settings.host not in ("", "0.0.0.0", "::") else "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{settings.port}"


def config(settings: Any, opts: dict[str, Any]) -> SimConfig:
    return SimConfig(
        url=(opts["url"] or default_url(settings)).rstrip("/"),
        api_key=opts["api_key"] or settings.oms_api_key or DEMO_API_KEY,
        orders=opts["orders"],
        pickers=opts["pickers"],
        packers=opts["packers"],
        duration_s=opts["duration"],
        wrong_scan_rate=opts["wrong_scan_rate"],
        short_rate=opts["short_rate"],
        offline=min(opts["offline"], opts["pickers"]),
        stall_s=opts["stall"],
        admin=(opts["admin"], opts["admin_password"]),
        supervisor=(opts["supervisor"], opts["supervisor_password"]),
        run_id=secrets.token_hex(3),
        seed=opts["seed"],
        progress=not opts["no_progress"],
    )


def run(fctx: Any, opts: dict[str, Any]) -> int:
    from web.simulator.day import simulate

    cfg = config(fctx.settings, opts)

    def db_check(prefix: str, expected: int) -> dict[str, Any] | None:
        try:
            with fctx.sessions() as s:
                return check(s, prefix, expected)
        except Exception:  # noqa: BLE001 - no such database here: not checked
            return None

    try:
        summary = asyncio.run(simulate(cfg, db_check))
    except SimError as exc:
        raise click.ClickException(str(exc)) from None
    except aiohttp.ClientConnectorError as exc:  # was a traceback of 90 lines
        raise click.ClickException(
            f"no server answers at {cfg.url} ({exc.os_error.strerror or exc}): start it "
            "(make run) or name it with --url"
        ) from None
    except aiohttp.ClientError as exc:  # no server there, refused, reset: one line, no traceback
        raise click.ClickException(f"cannot reach the server at {cfg.url}: {exc}") from None
    click.echo(json.dumps(summary, indent=1) if opts["as_json"] else render(summary))
    return 0 if summary["ok"] else 1
