"""Helpers for the print-queue tests: a picked order on the demo floor, closed at a pack station
over HTTP as a packer does, with the station's printer a real TCP listener (a virtual Zebra)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from core.db import unit_of_work
from orders.models import Order
from printing.models import PrintJob
from printing.printers import make_spec, sync_printers
from tests import factories
from tests.factories import csrf_token, login

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
    """``tests.factories.picked_order`` shipping UPS Ground to ``SHIP_TO`` unless told."""
    return factories.picked_order(
        sessions, lines, carrier=carrier, service=service, ship_to=ship_to or SHIP_TO
    )


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
