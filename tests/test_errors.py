"""One error base class (core.errors.FloorError), codes as enums, one JSON shape on every surface
(OMS API, supervisor JSON, pack station) and an ack from every Socket.IO handler."""

from __future__ import annotations

import ast
import enum
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

from core.errors import CoreErrorCode, FieldError, FloorError, Invalid
from core.statemachine import InvalidTransition
from orders.errors import CSV_FILE_CODES, IntakeFieldCode
from tests.factories import csrf_token, login
from web.openapi import CSV_CODES, REASON_CODES

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "orders", "floor", "sync", "printing", "devices", "web", "migrations")


def _modules():
    for name in PACKAGES:
        if name == "migrations":  # alembic's env.py runs on import; scanned as source only
            continue
        pkg = importlib.import_module(name)
        yield pkg
        for info in pkgutil.walk_packages(pkg.__path__, prefix=f"{name}."):
            yield importlib.import_module(info.name)


def test_to_json_is_the_oms_api_shape():
    refused = FloorError(CoreErrorCode.not_found, "no order 'X'", 404)
    assert refused.to_json() == {"error": {"code": "not_found", "message": "no order 'X'"}}
    invalid = Invalid([FieldError(IntakeFieldCode.missing_field, "ship_by", "required")])
    assert invalid.http_status == 422 and invalid.code == CoreErrorCode.invalid
    assert invalid.to_json() == {
        "errors": [{"code": "missing_field", "field": "ship_by", "message": "required"}]
    }
    moved = InvalidTransition("order", IntakeFieldCode.too_long, IntakeFieldCode.too_many_lines)
    assert isinstance(moved, FloorError) and moved.http_status == 409
    assert moved.error_body()["code"] == "invalid_transition"


def test_every_error_with_a_code_is_a_floor_error():
    """No same-shaped twins: an exception class of ours that carries a ``code`` is a FloorError."""
    twins = []
    for module in _modules():
        for obj in vars(module).values():
            if (
                isinstance(obj, type)
                and issubclass(obj, Exception)
                and obj.__module__ == module.__name__
                and not issubclass(obj, FloorError)
            ):
                source = Path(module.__file__).read_text()
                body = re.search(rf"class {obj.__name__}\b.*?(?=\n\S|\Z)", source, re.S)
                if body and "self.code" in body.group(0):
                    twins.append(f"{module.__name__}.{obj.__name__}")
    assert twins == []


def test_no_error_is_raised_with_a_bare_string_code():
    """Codes are members of a package's StrEnum: ``raise XError("some_code", ...)`` fails here."""
    error_names = {
        obj.__name__
        for module in _modules()
        for obj in vars(module).values()
        if isinstance(obj, type)
        and issubclass(obj, FloorError)
        and list(inspect.signature(obj.__init__).parameters)[1] == "code"
    }
    assert {"FloorError", "PickError", "OrderActionError", "CarrierError"} <= error_names
    offenders = []
    for name in PACKAGES:
        for path in (ROOT / name).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Name)
                    and node.func.id in error_names | {"FieldError"}
                    and node.args
                    and isinstance(node.args[0], ast.Constant | ast.JoinedStr)
                ):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def test_every_package_code_enum_is_a_str_enum_with_unique_values():
    for module in _modules():
        for obj in vars(module).values():
            if isinstance(obj, type) and obj.__name__.endswith("ErrorCode"):
                assert issubclass(obj, enum.StrEnum), obj
                assert len({m.value for m in obj}) == len(obj), obj


def test_docs_and_openapi_list_the_intake_codes_the_code_raises():
    docs = (ROOT / "docs" / "api.md").read_text()
    reasons = docs.split("### Reason codes (422)", 1)[1].split("\n## ", 1)[0]
    for code in IntakeFieldCode:
        if code not in CSV_FILE_CODES:
            assert f"`{code.value}`" in reasons, code
            assert code.value in REASON_CODES
    assert set(CSV_CODES) == {c.value for c in CSV_FILE_CODES}
    for code in CSV_CODES:
        assert f"`{code}`" in docs, code


# --- surfaces --------------------------------------------------------------------------------


def _supervisor(client):
    login(client, username="sam", password="supervisor-demo")
    page = client.get("/dashboard").get_data(as_text=True)
    return {"X-CSRFToken": csrf_token(page)}


def test_supervisor_json_uses_the_api_shapes_and_answers_json_when_something_breaks(
    app, client, monkeypatch
):
    headers = _supervisor(client)
    missing = client.get("/waves/999999")
    assert missing.status_code == 404
    assert missing.get_json() == {"error": {"code": "not_found", "message": "no wave 999999"}}
    bad = client.put("/wave-rules", json={"name": "x", "max_orders": -1}, headers=headers)
    assert bad.status_code == 422
    assert [set(e) for e in bad.get_json()["errors"]] == [{"code", "field", "message"}]
    no_csrf = client.post("/waves/1/release")
    assert no_csrf.status_code == 400 and no_csrf.get_json()["error"]["code"] == "csrf_failed"

    def broken(*_a, **_k):
        raise RuntimeError("boom")

    monkeypatch.setattr("web.waves_api.floor_exceptions.list_exceptions", broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    r = client.get("/exceptions")
    assert r.status_code == 500 and r.mimetype == "application/json"
    assert r.get_json()["error"]["code"] == "internal_error"


def test_pack_station_refusals_answer_one_error(client):
    login(client, badge="BADGE-PACKER-1")
    page = client.get("/pack").get_data(as_text=True)
    token = csrf_token(page)
    r = client.post("/pack/open", json={"code": "NOPE"}, headers={"X-CSRFToken": token})
    assert r.status_code == 404
    assert set(r.get_json()) == {"error"} and r.get_json()["error"]["code"] == "unknown_code"
    label = client.get("/pack/labels/000000000000000000.zpl")
    assert label.status_code == 404 and label.get_json()["error"]["code"] == "not_found"


@pytest.fixture
def picker_socket(app, client):
    login(client, badge="BADGE-PICKER-1")
    socketio = app.extensions["floor"].socketio
    sio = socketio.test_client(app, namespace="/floor", flask_test_client=client)
    assert sio.is_connected("/floor")
    yield sio
    sio.disconnect(namespace="/floor")


def test_socket_refusals_and_crashes_are_acked(picker_socket, monkeypatch):
    ack = picker_socket.emit("scan", {"client_scan_id": ""}, namespace="/floor", callback=True)
    assert ack == {
        "ok": False,
        "error": {
            "code": "invalid_client_scan_id",
            "message": "client_scan_id must be a 1-64 character string",
        },
    }
    denied = picker_socket.emit("join_dashboard", namespace="/floor", callback=True)
    assert denied["ok"] is False and denied["error"]["code"] == "forbidden"

    def broken(*_a, **_k):
        raise RuntimeError("boom")

    monkeypatch.setattr("web.picking_sockets.next_task", broken)
    crashed = picker_socket.emit("task:next", namespace="/floor", callback=True)
    assert crashed == {
        "ok": False,
        "error": {"code": "internal_error", "message": "unexpected error; it has been logged"},
    }


def test_every_refused_printer_uri_has_its_printer_setting_code():
    from printing.printers import uri_refusal
    from printing.transports import PrinterUriErrorCode

    for code in PrinterUriErrorCode:
        assert uri_refusal(code).value == f"bad_printer_uri.{code.value}"


def test_a_404_on_a_page_blueprint_answers_json_to_code_and_html_to_a_browser(client):
    """Blueprints that also serve pages (printers, documents, sync) keep Werkzeug's HTML 404
    for a browser; a caller that wants JSON gets the JSON shape with its reason code."""
    login(client, username="sam", password="supervisor-demo")
    paths = (
        "/printers/state?station=NOPE",
        "/documents/pick-lists/999999.pdf",
        "/documents/orders/NOPE/packing-slip.pdf",
        "/sync/manifests/99999.pdf",
    )
    for path in paths:
        code = client.get(path, headers={"Accept": "application/json"})
        assert code.status_code == 404 and code.mimetype == "application/json", path
        assert code.get_json()["error"]["code"] == "not_found", path
        page = client.get(path, headers={"Accept": "text/html"})
        assert page.status_code == 404 and page.mimetype == "text/html", path


def test_a_form_without_its_csrf_token_gets_an_html_400_and_code_keeps_the_json_400(client):
    login(client, username="ada", password="admin-demo")
    form = {"name": "ZB-X", "uri": "tcp://127.0.0.1:9100"}
    page = client.post("/admin/printers", data=form, headers={"Accept": "text/html"})
    assert page.status_code == 400 and page.mimetype == "text/html"
    code = client.post("/admin/printers", json=form, headers={"Accept": "application/json"})
    assert code.status_code == 400 and code.get_json()["error"]["code"] == "csrf_failed"
