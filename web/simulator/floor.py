"""The people on the floor, each a real client: a supervisor, handhelds, pack stations.

A handheld does what ``web/static/handheld.js`` does: ``task:next`` when it has no task (and
again when ``task.available`` says a wave was released), then one ``scan`` per unit with a fresh
``client_scan_id``, taking the next task from the ack. Some scans are of the wrong item first
(the server must answer ``wrong_item`` and count nothing); some tasks are reported ``short``
(``empty``, ``damaged``, ``not_found``). An *offline* handheld drops its socket in the middle of
a task, keeps scanning into a queue, comes back and sends the queue in order, then sends the first
scan once more as if its answer had been lost: the server must say ``replayed`` and count
nothing twice.

A pack station takes picked orders off the conveyor (the pack queue the events feed fills),
opens each, scans every unit (sometimes a wrong one first), closes one carton with the weight
the server suggests, and fetches the label the station's printer got.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import time
from typing import Any

import aiohttp
import socketio

from web.simulator.http import SimError, browser, cookie_header, csrf_token, json_call, login
from web.simulator.state import Day, pause

NAMESPACE = "/floor"
SHORT_REASONS = ("empty", "damaged", "not_found")
ACK_TIMEOUT_S = 30  # no ack by then: resend on a new connection (the page's queue does so)
PACK_TRIES = 5  # a pack station tries an order again after a server error (5xx)


# --------------------------------------------------------------------------
# Supervisor
# --------------------------------------------------------------------------


async def supervisor(day: Day) -> None:
    """Plan and release whatever is waiting, every ``wave_every_s``, until the day is over."""
    cfg = day.config
    base = cfg.url.rstrip("/")
    rule = {"split_by_zone": False, "group_by_cutoff": False, "totes_per_cart": cfg.cart}
    async with browser() as http:
        await login(http, base, {"username": cfg.supervisor[0], "password": cfg.supervisor[1]})
        token = await csrf_token(http, base + "/dashboard")
        while not day.finished.is_set():
            status, body = await json_call(
                http, "POST", base + "/waves", {"rule": rule, "release": True}, csrf=token
            )
            if status in (200, 201):
                day.tally.waves += len(body["waves"])
                day.tally.pick_lists += sum(w["pick_lists"] for w in body["waves"])
                if body["waves"]:
                    day.last_progress = time.monotonic()
            else:
                day.tally.problem(f"POST /waves answered {status}: {body}")
            await pause(day.finished, cfg.wave_every_s)


# --------------------------------------------------------------------------
# Handhelds
# --------------------------------------------------------------------------


def _open(task: dict[str, Any] | None) -> bool:
    return (
        task is not None
        and task.get("status") in ("pending", "assigned")
        and task["picked_qty"] < task["quantity"]
    )


def _item_code(task: dict[str, Any]) -> str:
    gtins = task["sku"].get("gtins") or []
    return gtins[0] if gtins else task["sku"]["code"]


class Handheld:
    """One picker's device. ``cookie`` is the session of a badge login."""

    def __init__(self, n: int, cookie: str, day: Day, *, offline: bool) -> None:
        self.n, self.cookie, self.day, self.offline = n, cookie, day, offline
        self.rng = random.Random(day.config.seed * 1000 + n)
        self.seq = 0
        self.wake = asyncio.Event()
        self.sio: socketio.AsyncClient | None = None
        self.shorted: set[int] = set()
        self.went_offline = False
        self.good_scans = 0

    def scan_id(self) -> str:
        self.seq += 1
        return f"sim-{self.day.config.run_id}-{self.n}-{self.seq}"

    async def connect(self) -> None:
        sio = socketio.AsyncClient(reconnection=False)
        sio.on("task.available", lambda _data=None: self.wake.set(), namespace=NAMESPACE)
        await sio.connect(
            self.day.config.url,
            namespaces=[NAMESPACE],
            headers={"Cookie": self.cookie},
            transports=["websocket"],
            wait_timeout=60,
        )
        self.sio = sio

    async def call(self, event: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Emit and wait for the ack. An ack that never comes (a dropped socket, a handler that
        died) is what the handheld page handles by sending the same payload again on a fresh
        connection — the same ``client_scan_id``, so the server counts it at most once. The
        answer to such a resend carries ``"resent": True``."""
        attempt = 0
        while True:
            try:
                if self.sio is None or not self.sio.connected:
                    await self.connect()
                assert self.sio is not None
                ack = await self.sio.call(
                    event, payload, namespace=NAMESPACE, timeout=ACK_TIMEOUT_S
                )
            except (socketio.exceptions.SocketIOError, OSError) as exc:
                self.day.tally.acks_lost[f"{event}:{type(exc).__name__}"] += 1
                await self.drop()
                attempt += 1
                if self.day.finished.is_set():  # the day is over (stalled): stop resending
                    raise SimError(f"handheld {self.n}: no answer to {event}") from exc
                await pause(self.day.finished, min(30.0, 2.0**attempt))
                continue
            if not isinstance(ack, dict) or not ack.get("ok"):
                raise SimError(f"handheld {self.n}: {event} refused: {ack}")
            return ack | {"resent": attempt > 0}

    async def drop(self) -> None:
        if self.sio is not None:
            with contextlib.suppress(Exception):
                await self.sio.disconnect()
        self.sio = None

    async def scan(self, task: dict[str, Any], code: str) -> dict[str, Any]:
        payload = {
            "client_scan_id": self.scan_id(),
            "task_id": task["id"],
            "code": code,
            "scanned_at": int(time.time() * 1000),
        }
        sent = time.perf_counter()
        ack = await self.call("scan", payload)
        self.day.tally.latencies_s.append(time.perf_counter() - sent)
        return ack

    async def run(self) -> None:
        await self.connect()
        task: dict[str, Any] | None = None
        try:
            while not self.day.finished.is_set():
                if task is None:
                    self.wake.clear()
                    task = (await self.call("task:next", {})).get("task")
                    if task is None:
                        await self._idle()
                        continue
                self.day.item_codes.add(_item_code(task))
                task = await self._work(task)
                if self.day.config.think_s:
                    await asyncio.sleep(self.day.config.think_s)
        finally:
            await self.drop()

    async def _idle(self) -> None:
        """Nothing to do: wait for ``task.available`` (or look again after a while)."""
        waits = [
            asyncio.ensure_future(self.wake.wait()),
            asyncio.ensure_future(self.day.finished.wait()),
        ]
        await asyncio.wait(waits, timeout=3 + self.rng.random() * 2, return_when="FIRST_COMPLETED")
        for w in waits:
            w.cancel()

    async def _work(self, task: dict[str, Any]) -> dict[str, Any] | None:
        """One step on the current task; the task to go on with (``None``: ask the server)."""
        cfg, tally = self.day.config, self.day.tally
        if self.offline and not self.went_offline and self.good_scans >= 2:
            return await self._offline_spell(task)
        if task["id"] not in self.shorted and self.rng.random() < cfg.short_rate:
            self.shorted.add(task["id"])
            reason = self.rng.choice(SHORT_REASONS)
            ack = await self.call(
                "short",
                {"client_scan_id": self.scan_id(), "task_id": task["id"], "reason": reason},
            )
            tally.shorts[reason] += 1
            if ack.get("exception_id") is not None:
                tally.exceptions["short_pick"] += 1
            return ack["task"] if _open(ack.get("task")) else ack.get("next_task")
        if self.rng.random() < cfg.wrong_scan_rate:
            wrong = sorted(self.day.item_codes - {_item_code(task)})
            code = self.rng.choice(wrong) if wrong else "SIM-NOT-AN-ITEM"
            ack = await self.scan(task, code)
            tally.scans["wrong_item" if ack["result"] == "wrong_item" else "unexpected"] += 1
            if ack["result"] != "wrong_item":
                tally.problem(f"wrong scan {code} on task {task['id']}: {ack['result']}")
        ack = await self.put_to_tote(task, await self.scan(task, _item_code(task)))
        return self._after_good(task, ack)

    async def put_to_tote(self, task: dict[str, Any], ack: dict[str, Any]) -> dict[str, Any]:
        """On a cart of several totes the item is held until its tote is scanned."""
        if ack.get("result") == "ok" and ack.get("kind") == "item_held" and not ack.get("replayed"):
            return await self.scan(task, ack["await_tote"])
        return ack

    def _after_good(self, task: dict[str, Any], ack: dict[str, Any]) -> dict[str, Any] | None:
        if ack["result"] == "ok" and (ack["resent"] or not ack.get("replayed")):
            self.day.tally.scans["ok"] += 1
            self.good_scans += 1
            return ack["task"] if _open(ack.get("task")) else ack.get("next_task")
        self.day.tally.scans[f"unexpected:{ack['result']}"] += 1
        self.day.tally.problem(f"scan on task {task['id']}: {ack['result']} {ack.get('message')}")
        return None  # the server knows what this handheld should do next

    async def _offline_spell(self, task: dict[str, Any]) -> dict[str, Any] | None:
        """Wi-Fi gone mid-task: queue the rest of the task, come back, replay, replay again."""
        tally = self.day.tally
        self.went_offline = True
        await self.drop()
        code = _item_code(task)
        queue = [
            {
                "client_scan_id": self.scan_id(),
                "task_id": task["id"],
                "code": code,
                "scanned_at": int(time.time() * 1000),
            }
            for _ in range(task["quantity"] - task["picked_qty"])
        ]
        tally.offline_queued += len(queue)
        await asyncio.sleep(self.day.config.offline_s)
        await self.connect()
        nxt: dict[str, Any] | None = None
        for payload in queue:
            ack = await self.put_to_tote(task, await self.call("scan", payload))
            nxt = self._after_good(task, ack)
        tally.replays_sent += 1
        again = await self.call("scan", queue[0])  # its answer was "lost": send it once more
        if again.get("replayed") and again["result"] == "ok":
            tally.replays_acknowledged += 1
        else:
            tally.problem(f"replayed scan {queue[0]['client_scan_id']} answered {again}")
        return nxt


async def badge_cookie(base: str, badge: str) -> str:
    async with browser() as http:
        await login(http, base, {"badge": badge})
        return cookie_header(http)


# --------------------------------------------------------------------------
# Pack stations
# --------------------------------------------------------------------------


class PackStation:
    """A packer at a station: open → verify every unit → close → the label the printer got."""

    def __init__(self, n: int, badge: str, station: str, day: Day) -> None:
        self.n, self.badge, self.station, self.day = n, badge, station, day
        self.rng = random.Random(day.config.seed * 7919 + n)
        self.base = day.config.url.rstrip("/")
        self.tries: dict[str, int] = {}

    async def run(self) -> None:
        async with browser() as http:
            await login(http, self.base, {"badge": self.badge})
            token = await csrf_token(http, self.base + "/pack")
            while True:
                try:
                    order = await asyncio.wait_for(self.day.pack_queue.get(), 0.5)
                except TimeoutError:
                    if self.day.finished.is_set():
                        return
                    continue
                if await self.pack(http, token, order) == "retry":
                    self.tries[order] = self.tries.get(order, 0) + 1
                    self.day.tally.pack["retried_after_5xx"] += 1
                    if self.tries[order] < PACK_TRIES:
                        await pause(self.day.finished, 1.0)
                        self.day.pack_queue.put_nowait(order)

    async def _post(
        self, http: aiohttp.ClientSession, token: str, path: str, body: dict[str, Any]
    ) -> tuple[int, Any]:
        return await json_call(http, "POST", self.base + path, body, csrf=token)

    async def pack(self, http: aiohttp.ClientSession, token: str, order: str) -> str:
        """``"done"``, ``"refused"`` (counted, not retried) or ``"retry"`` (a server error)."""
        tally = self.day.tally
        status, view = await self._post(http, token, "/pack/open", {"code": order})
        if status >= 500:
            return "retry"
        if status != 200:
            tally.pack[f"open_refused:{(view or {}).get('error', {}).get('code')}"] += 1
            tally.problem(f"pack open {order}: {status} {view}")
            return "refused"
        tally.pack["opened"] += 1
        items: dict[str, int] = {}
        wrong = not_in_order(self.day.item_codes, view["lines"])
        for line in view["lines"]:
            code = line["gtins"][0] if line["gtins"] else line["sku"]
            counted = 0
            while counted < line["to_pack"]:
                if self.rng.random() < self.day.config.wrong_scan_rate:
                    _, ans = await self._post(
                        http,
                        token,
                        "/pack/verify",
                        {"order": order, "code": self.rng.choice(wrong) if wrong else "SIM-NOT"},
                    )
                    tally.pack[
                        "wrong_caught" if ans.get("result") == "wrong_item" else "wrong_missed"
                    ] += 1
                status, ans = await self._post(
                    http, token, "/pack/verify", {"order": order, "code": code}
                )
                if status >= 500:
                    return "retry"
                if status != 200 or ans.get("result") != "ok" or ans["line_id"] != line["line_id"]:
                    tally.problem(f"pack verify {order} {code}: {status} {ans}")
                    return "refused"
                tally.pack["verified"] += 1
                counted += ans.get("units") or 1
            items[line["line_id"]] = line["to_pack"]
        sent = time.perf_counter()
        status, closed = await self._post(
            http,
            token,
            "/pack/close",
            {
                "order": order,
                "items": items,
                "weight_g": view["suggested_weight_g"],
                "dims_mm": [300, 200, 150],
                "station": self.station,
            },
        )
        tally.close_latencies_s.append(time.perf_counter() - sent)
        if status >= 500:
            return "retry"
        if status != 201:
            tally.pack[f"close_refused:{(closed or {}).get('error', {}).get('code')}"] += 1
            tally.problem(f"pack close {order}: {status} {closed}")
            return "refused"
        tally.pack["closed"] += 1
        tally.sscc_by_order.setdefault(order, []).append(closed["sscc"])
        for sscc in closed.get("labels", []):
            async with http.get(f"{self.base}/pack/labels/{sscc}.zpl") as r:
                if r.status == 200 and (await r.read()).startswith(b"^XA"):
                    tally.labels_fetched += 1
                else:
                    tally.problem(f"label {sscc}: {r.status}")
        return "done"


def not_in_order(codes: set[str], lines: list[dict[str, Any]]) -> list[str]:
    """Item codes a packer can scan by mistake: none of the order's lines (another line's GTIN
    is a right item for the order, which the server rightly counts, not a wrong one)."""
    ours = {g for ln in lines for g in ln["gtins"]} | {ln["sku"] for ln in lines}
    return sorted(codes - ours)


def new_badge() -> str:
    return "SIM-" + secrets.token_urlsafe(18)
