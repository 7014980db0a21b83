"""Fixtures for the supervisor's and picker's screens: the OMS posting orders over real HTTP
and a supervisor's JSON session (builders and log-ins: tests/factories.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pytest
import requests

from tests.factories import OMS_AUTH, csrf_headers, login, order_payload

DUE_IN = dt.timedelta(hours=2)  # the dashboard's countdowns are read against this


class Oms:
    """The OMS: posts orders through the real API with the demo key."""

    def __init__(self, base: str) -> None:
        self.base = base + "/api/v1"
        self.http = requests.Session()
        self.http.headers.update(OMS_AUTH)

    def post_order(
        self, external_id: str, lines: Sequence[tuple[str, int]], due_in: dt.timedelta = DUE_IN
    ) -> Any:
        body = order_payload(external_id, lines, due_in=due_in)
        r = self.http.post(self.base + "/orders", json=body)
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
        self.headers = csrf_headers(self.client)

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
