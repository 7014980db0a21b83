"""/api/v1/openapi.json: valid OpenAPI 3.1, every route of the blueprint documented with its
methods, and (through tests/api/conftest.py's client) every response of the contract tests
valid against it. Here a short tour also checks each operation's success schema."""

from __future__ import annotations

import re

from openapi_spec_validator import validate

from tests.api.conftest import PREFIX
from tests.factories import order_payload


def test_document_is_valid_openapi_and_served_without_a_key(client):
    r = client.get(PREFIX + "/openapi.json")
    assert r.status_code == 200 and r.mimetype == "application/json"
    validate(r.get_json())


def test_every_route_of_the_blueprint_is_documented_and_nothing_else(app, spec_checker):
    documented = {
        (path, method)
        for path, ops in spec_checker.spec["paths"].items()
        for method in ops
        if method in ("get", "post", "put", "patch", "delete")
    }
    served = set()
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("api.") or rule.endpoint == "api.no_route":
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix(PREFIX))
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            served.add((path, method.lower()))
    assert served == documented


def test_tour_of_every_operation_validates(api):
    assert api.post("/orders", json=order_payload("DOC-1")).status_code == 201
    assert api.post("/orders/batch", json={"orders": [order_payload("DOC-2")]}).status_code == 200
    csv = (
        "external_id,ship_by,carrier,ship_to_name,ship_to_address1,ship_to_city,"
        "ship_to_postal_code,ship_to_country,sku,quantity\n"
        f"DOC-3,{order_payload()['ship_by']},dhl,A,B,C,D,FR,SKU-00001,1\n"
    )
    assert api.post("/orders/import", data=csv, content_type="text/csv").status_code == 200
    assert api.get("/orders/DOC-1").status_code == 200
    assert api.get("/orders?limit=1").get_json()["next_cursor"]
    for action in ("hold", "release", "cancel"):
        assert api.post(f"/orders/DOC-2/{action}").status_code == 200
    assert api.get("/events?limit=2").get_json()["has_more"] is True
    assert api.get("/inventory?sku=SKU-00001").status_code == 200
    wanted = {
        ("/orders", "post", 201),
        ("/orders/batch", "post", 200),
        ("/orders/import", "post", 200),
        ("/orders/{external_id}", "get", 200),
        ("/orders", "get", 200),
        ("/orders/{external_id}/hold", "post", 200),
        ("/orders/{external_id}/release", "post", 200),
        ("/orders/{external_id}/cancel", "post", 200),
        ("/events", "get", 200),
        ("/inventory", "get", 200),
    }
    assert wanted <= api.checker.seen
