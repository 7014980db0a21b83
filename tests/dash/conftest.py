"""Fixtures for the supervisor's and picker's screens: the OMS posting orders over real HTTP,
a supervisor's JSON session, and log-ins typed into real (headless) Chromium pages."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

import pytest
import requests

from tests.conftest import login
from web.demo import DEMO_API_KEY, demo_gtin


def gtin(sku: str) -> str:
    """The EAN-13 printed on a demo SKU's box (what a scanner types)."""
    return demo_gtin(int(sku.rsplit("-", 1)[1]))


API_AUTH = {"Authorization": f"Bearer {DEMO_API_KEY}"}


def order_body(
    external_id: str,
    lines: Sequence[tuple[str, int]],
    *,
    due_in: dt.timedelta = dt.timedelta(hours=2),
    priority: str = "standard",
) -> dict[str, Any]:
    """A canonical order as the OMS posts it (docs/api.md)."""
    return {
        "external_id": external_id,
        "priority": priority,
        "ship_by": (dt.datetime.now(dt.UTC) + due_in).isoformat(),
        "carrier": "ups",
        "service": "ground",
        "ship_to": {
            "name": "Ada Lovelace",
            "address1": "12 St James Sq",
            "city": "London",
            "postal_code": "SW1Y 4JH",
            "country": "GB",
        },
        "lines": [
            {"line_id": str(n), "sku": sku, "quantity": qty}
            for n, (sku, qty) in enumerate(lines, 1)
        ],
    }


class Oms:
    """The OMS: posts orders through the real API with the demo key."""

    def __init__(self, base: str) -> None:
        self.base = base + "/api/v1"
        self.http = requests.Session()
        self.http.headers.update(API_AUTH)

    def post_order(self, external_id: str, lines: Sequence[tuple[str, int]], **kw: Any) -> Any:
        r = self.http.post(self.base + "/orders", json=order_body(external_id, lines, **kw))
        assert r.status_code == 201, r.text
        return r.json()

    def order(self, external_id: str) -> dict[str, Any]:
        r = self.http.get(f"{self.base}/orders/{external_id}")
        assert r.status_code == 200, r.text
        return r.json()

    def picked(self, external_id: str) -> int:
        return sum(line["picked"] for line in self.order(external_id)["lines"])


@pytest.fixture
def oms(live_server: Any) -> Oms:
    return Oms(live_server.url)


class Supervisor:
    """The supervisor's JSON API (session cookie + CSRF header), through the app's test client."""

    def __init__(self, app: Any) -> None:
        self.client = app.test_client()
        login(self.client, username="sam", password="supervisor-demo")
        page = self.client.get("/dashboard").get_data(as_text=True)
        token = re.search(r'name="csrf-token" content="([^"]+)"', page)
        assert token
        self.headers = {"X-CSRFToken": token.group(1)}

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        r = self.client.post(path, json=body or {}, headers=self.headers)
        assert r.status_code < 300, r.get_data(as_text=True)
        return r.get_json()

    def get(self, path: str) -> Any:
        r = self.client.get(path, headers={"Accept": "application/json"})
        assert r.status_code == 200, r.get_data(as_text=True)
        return r.get_json()

    def plan_and_release(self) -> list[dict[str, Any]]:
        waves = self.post("/waves", {"rule_id": 1, "release": True})["waves"]
        assert waves, "nothing was waved"
        return waves


@pytest.fixture
def supervisor(app: Any) -> Supervisor:
    return Supervisor(app)


def log_in_supervisor(page: Any, base: str) -> None:
    page.goto(base + "/login")
    page.fill("#username", "sam")
    page.fill("#password", "supervisor-demo")
    page.click("#password-form button[type=submit]")
    page.wait_for_url("**/dashboard")
    page.wait_for_selector("body[data-live]")  # the snapshot was read after the socket joined


def log_in_picker(page: Any, base: str, badge: str = "BADGE-PICKER-1") -> None:
    """As a keyboard-wedge scanner does: the badge code, then Enter."""
    page.goto(base + "/login")
    page.locator("#badge").press_sequentially(badge)
    page.keyboard.press("Enter")
    page.wait_for_url("**/handheld")
    page.wait_for_selector("#conn.online")


def scan(page: Any, code: str) -> None:
    page.locator("#scan").press_sequentially(code)
    page.keyboard.press("Enter")
