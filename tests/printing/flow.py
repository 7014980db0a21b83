"""Helpers for the print-queue tests: a picked order on the demo floor, closed at a pack station
over HTTP as a packer does, with the station's printer a real TCP listener (a virtual Zebra)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from core.db import unit_of_work
from floor.fulfilment.models import Tote
from floor.fulfilment.picking.scans import confirm_scan, next_task
from floor.fulfilment.waves.planning import RuleSpec, plan_waves, release_wave
from floor.site.layout import SkuGtin
from orders.models import Order
from printing.models import PrintJob
from printing.printers import make_spec, sync_printers
from tests.factories import actor_for, add_order, csrf_token, login, supervisor

SHIP_TO = {
    "name": "Ada Lovelace",
    "address1": "12 St James's Square",
    "address2": "Flat 3",
    "city": "London",
    "postal_code": "SW1Y 4JH",
    "country": "GB",
}


def picked_order(
    sessions: Any,
    lines: list[tuple[str, int]],
    *,
    carrier: str = "ups",
    service: str = "ground",
    ship_to: dict[str, str] | None = None,
) -> tuple[str, str]:
    """An order walked through the real wave and pick flow; (external id, tote code)."""
    with unit_of_work(sessions) as s:
        order = add_order(s, lines)
        order.carrier, order.service, order.ship_to = carrier, service, ship_to or SHIP_TO
        for wave in plan_waves(s, RuleSpec(split_by_zone=False), supervisor(s)).waves:
            release_wave(s, wave.id, supervisor(s))
        pat = actor_for(s, "pat")
        n = 0
        while (task := next_task(s, pat)) is not None:
            gtin = s.scalar(select(SkuGtin.gtin).where(SkuGtin.sku_id == task.sku_id))
            for _ in range(task.quantity - task.picked_qty):
                n += 1
                assert confirm_scan(s, pat, task.id, gtin, f"pk-{order.id}-{n}").result == "ok"
        tote = s.scalar(select(Tote.code).where(Tote.order_id == order.id))
        return order.external_id, tote


def use_printer(sessions: Any, station: str, uri: str) -> None:
    """``FLOOR_PRINTERS=<station>=<uri>`` as the server syncs it at start."""
    with unit_of_work(sessions) as s:
        sync_printers(s, [make_spec(station, uri)])


class Packer:
    """A logged-in packer's HTTP client."""

    def __init__(self, client: Any) -> None:
        self.client = client
        login(client, username="paco", password="packer-demo")
        page = client.get("/pack").get_data(as_text=True)
        self.token = csrf_token(page)

    def post(self, url: str, body: dict[str, Any]) -> Any:
        return self.client.post(url, json=body, headers={"X-CSRFToken": self.token})

    def close(self, external_id: str, station: str = "PACK-01") -> dict[str, Any]:
        view = self.post("/pack/open", {"code": external_id}).get_json()
        items = {ln["line_id"]: ln["to_pack"] for ln in view["lines"]}
        closed = self.post(
            "/pack/close",
            {"order": external_id, "station": station, "items": items, "weight_g": 1254},
        )
        assert closed.status_code == 201, closed.get_json()
        return closed.get_json()


def job(sessions: Any, job_id: str) -> PrintJob:
    with unit_of_work(sessions) as s:
        return s.scalars(select(PrintJob).where(PrintJob.job_id == job_id)).one()


def order_of(sessions: Any, external_id: str) -> Order:
    with unit_of_work(sessions) as s:
        return s.scalars(select(Order).where(Order.external_id == external_id)).one()


def wait_until(check: Callable[[], Any], timeout_s: float = 15, what: str = "") -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what or check}")
