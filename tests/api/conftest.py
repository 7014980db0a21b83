"""Fixtures for the OMS API tests: an authenticated client whose every response is checked
against the served OpenAPI document (status documented, body valid against its schema)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tests.factories import OMS_AUTH

PREFIX = "/api/v1"


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
        self.headers = OMS_AUTH if headers is None else headers

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
