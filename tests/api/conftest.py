"""Fixtures for the OMS API tests: an authenticated client whose every response is checked
against the served OpenAPI document (status documented, body valid against its schema)."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from sqlalchemy import func, select

from core.db import unit_of_work
from core.exception_queue import FloorException
from floor.fulfilment.models import PickTask
from floor.site.stock import Reservation, Stock
from orders.models import Order, OrderLine
from orders.outbox import OutboxEvent
from web.demo import DEMO_API_KEY

AUTH = {"Authorization": f"Bearer {DEMO_API_KEY}"}
PREFIX = "/api/v1"


def future() -> str:
    """A ship-by time safely ahead, and the same on every call (payloads must compare equal)."""
    return f"{dt.datetime.now(dt.UTC).year + 2}-06-01T17:00:00+02:00"


def order_payload(external_id: str = "OMS-1", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "external_id": external_id,
        "channel": "web",
        "priority": "standard",
        "ship_by": future(),
        "carrier": "ups",
        "service": "ground",
        "ship_to": {
            "name": "Ada Lovelace",
            "company": "Analytical Engines Ltd",
            "address1": "12 St James's Square",
            "address2": "",
            "city": "London",
            "region": "",
            "postal_code": "SW1Y 4JH",
            "country": "GB",
            "phone": "+44 20 7946 0000",
            "email": "ada@example.com",
        },
        "lines": [
            {"line_id": "1", "sku": "SKU-00001", "quantity": 2},
            {"line_id": "2", "sku": "SKU-00002", "quantity": 1},
            {"line_id": "3", "sku": "SKU-00003", "quantity": 3},
        ],
        "notes": "",
    }
    body.update(overrides)
    return body


class SpecChecker:
    """Validates a response against the OpenAPI document the server serves."""

    def __init__(self, app: Any, spec: dict[str, Any]) -> None:
        self.app = app
        self.spec = spec
        self.seen: set[tuple[str, str, int]] = set()

    def operation(self, path: str, method: str) -> tuple[str, dict[str, Any]]:
        adapter = self.app.url_map.bind("localhost")
        endpoint, _ = adapter.match(path, method=method)
        assert endpoint != "api.no_route", f"{method} {path} is no route"
        rule = next(r for r in self.app.url_map.iter_rules(endpoint))
        templ = rule.rule.removeprefix(PREFIX).replace("<", "{").replace(">", "}")
        assert templ in self.spec["paths"], f"{templ} is not in the OpenAPI document"
        return templ, self.spec["paths"][templ][method.lower()]

    def check(self, method: str, path: str, resp: Any) -> None:
        path = path.split("?", 1)[0]
        try:
            templ, op = self.operation(path, method)
        except Exception:  # noqa: BLE001 - unknown routes: only the error shape is checked
            body = resp.get_json()
            assert set(body) == {"error"}, body
            return
        responses = op["responses"]
        status = str(resp.status_code)
        assert status in responses, f"{method} {templ} answered {status}, not in the document"
        self.seen.add((templ, method.lower(), resp.status_code))
        content = responses[status].get("content", {})
        if "application/json" in content:
            assert resp.mimetype == "application/json", resp.mimetype
            schema = {
                **content["application/json"]["schema"],
                "components": self.spec["components"],
            }
            Draft202012Validator(schema).validate(resp.get_json())


class ApiClient:
    """Flask test client with the OMS key, checking every answer against the document."""

    def __init__(self, app: Any, checker: SpecChecker, headers: dict[str, str] | None = None):
        self.client = app.test_client()
        self.checker = checker
        self.headers = AUTH if headers is None else headers

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        url = PREFIX + path
        resp = self.client.open(url, method=method, headers=headers, **kwargs)
        assert resp.status_code != 500, resp.get_data(as_text=True)
        assert resp.mimetype == "application/json", (resp.status_code, resp.mimetype)
        self.checker.check(method, url, resp)
        return resp

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Any:
        return self.request("POST", path, **kw)


@pytest.fixture
def spec_checker(app: Any) -> SpecChecker:
    spec = app.test_client().get(PREFIX + "/openapi.json").get_json()
    return SpecChecker(app, copy.deepcopy(spec))


@pytest.fixture
def api(app: Any, spec_checker: SpecChecker) -> ApiClient:
    return ApiClient(app, spec_checker)


def counts(sessions: Any) -> dict[str, int]:
    """How many rows each table intake writes holds, plus total reserved stock."""
    with unit_of_work(sessions) as s:
        out = {
            model.__tablename__: s.scalar(select(func.count()).select_from(model)) or 0
            for model in (Order, OrderLine, Reservation, OutboxEvent, FloorException, PickTask)
        }
        out["reserved_units"] = s.scalar(select(func.coalesce(func.sum(Stock.reserved), 0)))
        return out
