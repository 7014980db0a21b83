"""One simulated day from start to summary: set-up, the actors, the progress bar, the checks.

1. **Set-up.** The admin creates (or re-badges) ``sim-picker-NNNN`` and ``sim-packer-NN`` with
   fresh random badges (``POST /admin/users``); every picker logs in by badge (16 at a time)
   and keeps the session cookie its socket connects with. The feed's cursor is noted.
2. **The day.** Concurrently: the OMS pushes the orders, the supervisor plans and releases waves,
   P handhelds pick, K pack stations pack, the feed follower moves every order and fills the pack
   queue. It ends when every order has stopped (shipped, or held/short for a reason of the day)
   or nothing has moved for ``stall_s`` seconds.
3. **The checks.** The rest of the feed, every order through ``GET /api/v1/orders``, and, when
   this process's configuration reaches the server's database, ``db_checks`` (read-only).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

import aiohttp

from web.simulator import floor, oms
from web.simulator.http import SimError, browser, csrf_token, json_call, login
from web.simulator.state import Day, OrderTrack, SimConfig, pause, percentile

LOGINS_AT_ONCE = 16


async def create_staff(cfg: SimConfig) -> tuple[list[str], list[str]]:
    """Badges of P pickers and K packers made for this run (never printed)."""
    base = cfg.url.rstrip("/")
    pickers = [floor.new_badge() for _ in range(cfg.pickers)]
    packers = [floor.new_badge() for _ in range(cfg.packers)]
    users = [
        {"username": f"sim-picker-{n:04d}", "role": "picker", "badge": b}
        for n, b in enumerate(pickers)
    ] + [
        {"username": f"sim-packer-{n:02d}", "role": "packer", "badge": b}
        for n, b in enumerate(packers)
    ]
    async with browser() as http:
        await login(http, base, {"username": cfg.admin[0], "password": cfg.admin[1]})
        token = await csrf_token(http, base + "/dashboard")
        for i in range(0, len(users), 500):
            status, body = await json_call(
                http,
                "POST",
                base + "/admin/users",
                {"users": users[i : i + 500]},
                csrf=token,
            )
            if status != 200:
                raise SimError(f"POST /admin/users answered {status}: {body}")
    return pickers, packers


async def stations(cfg: SimConfig, packer_badge: str) -> list[str]:
    """The pack stations the server offers (read off the pack page, as a packer sees it)."""
    base = cfg.url.rstrip("/")
    async with browser() as http:
        await login(http, base, {"badge": packer_badge})
        async with http.get(base + "/pack") as r:
            page = await r.text()
    found = sorted(set(re.findall(r'<option value="([^"]+)"', page)))
    return found or ["PACK-01"]


class Progress:
    """One line on stderr, redrawn in place on a terminal (a line every 10 s otherwise)."""

    def __init__(self, day: Day, out: TextIO = sys.stderr) -> None:
        self.day, self.out = day, out
        self.tty = out.isatty()

    def line(self) -> str:
        d, t = self.day, self.day.tally
        n = len(d.orders) or 1
        done = d.shipped()
        width = 30
        fill = int(width * done / n)
        took = time.monotonic() - d.started
        recent = t.latencies_s[-500:]
        p95 = percentile(recent, 95) * 1000 if recent else 0.0
        return (
            f"[{'#' * fill}{'.' * (width - fill)}] shipped {done}/{len(d.orders)} · "
            f"scans {t.scans.get('ok', 0)} ({t.scans.get('ok', 0) / max(took, 1e-9):.0f}/s, "
            f"p95 {p95:.0f} ms) · waves {t.waves} · packed {t.pack.get('closed', 0)} · "
            f"{int(took) // 60:02d}:{int(took) % 60:02d}"
        )

    async def run(self) -> None:
        last = 0.0
        while not self.day.finished.is_set():
            now = time.monotonic()
            if self.tty:
                self.out.write("\r" + self.line() + "\x1b[K")
                self.out.flush()
            elif now - last >= 10:
                self.out.write(self.line() + "\n")
                self.out.flush()
                last = now
            await pause(self.day.finished, 0.5)
        self.out.write(("\r" if self.tty else "") + self.line() + "\n")
        self.out.flush()


async def _guarded(day: Day, name: str, coro: Any) -> None:
    """An actor that fails ends the day (a refused login is not something to wait out)."""
    try:
        await coro
    except Exception as exc:  # noqa: BLE001 - reported in the summary, then the day ends
        day.tally.problem(f"{name} stopped: {type(exc).__name__}: {exc}")
        day.finished.set()
        raise


async def simulate(
    cfg: SimConfig, db_check: Callable[[str, int], dict[str, Any] | None] | None = None
) -> dict[str, Any]:
    from web.simulator.report import summarise

    day = Day(cfg)
    base = cfg.url.rstrip("/")
    started_at = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)).isoformat()
    oms_http = aiohttp.ClientSession(
        headers={"Authorization": f"Bearer {cfg.api_key}"}, timeout=aiohttp.ClientTimeout(300)
    )
    try:
        async with oms_http:
            orders = oms.draw_orders(day, await oms.promised_stock(oms_http, base + "/api/v1"))
            for o in orders:
                day.orders[o["external_id"]] = OrderTrack()
            picker_badges, packer_badges = await create_staff(cfg)
            desks = await stations(cfg, packer_badges[0]) if packer_badges else []
            gate = asyncio.Semaphore(LOGINS_AT_ONCE)

            async def cookie(b: str) -> str:
                async with gate:
                    return await floor.badge_cookie(base, b)

            cookies = await asyncio.gather(*(cookie(b) for b in picker_badges))
            cursor = await oms.feed_end(oms_http, day)
            day.started = day.last_progress = time.monotonic()
            actors = [
                _guarded(day, "oms", oms.push_orders(oms_http, day, orders)),
                _guarded(day, "supervisor", floor.supervisor(day)),
                *(
                    _guarded(
                        day,
                        f"handheld {n}",
                        floor.Handheld(n, c, day, offline=n < cfg.offline).run(),
                    )
                    for n, c in enumerate(cookies)
                ),
                *(
                    _guarded(
                        day,
                        f"pack station {n}",
                        floor.PackStation(n, b, desks[n % len(desks)], day).run(),
                    )
                    for n, b in enumerate(packer_badges)
                ),
            ]
            if cfg.progress:
                actors.append(Progress(day).run())
            follower = asyncio.ensure_future(oms.tail_events(oms_http, day, cursor))
            results = await asyncio.gather(*actors, return_exceptions=True)
            day.finished.set()
            await oms.drain_events(oms_http, day, await follower)
            elapsed = time.monotonic() - day.started
            for r in results:
                if isinstance(r, BaseException) and not isinstance(r, Exception):
                    raise r
            final = await oms.final_orders(oms_http, day, started_at)
            no_stock = await oms.unreservable(oms_http, day, final)
    finally:
        day.finished.set()
    db = db_check(f"SIM-{cfg.run_id}-", len(orders)) if db_check else None
    return summarise(day, final, db, elapsed, no_stock)
