"""The role matrix: every route of ``app.url_map`` and every Socket.IO event registered on
``/floor``, for each caller (anonymous, picker, packer, supervisor, admin, OMS key).

``ACCESS`` names who may call each endpoint; ``SOCKET_ACCESS`` each event. A route or event that
is not in the table fails ``test_every_route_and_event_is_in_the_table``: a new one cannot be
forgotten. "Refused" is 401/403, or a redirect to the login page (pages); "allowed" is anything
else below 500 (an empty body may well be a 4xx: the point is that the role check let it by).
CSRF is off in this app: the role check is the subject (CSRF has its own tests).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.factories import login, make_test_app
from web.demo import DEMO_API_KEY
from web.sockets import NAMESPACE

ROLES = ("anonymous", "picker", "packer", "supervisor", "admin", "oms")
PUBLIC = frozenset(ROLES)
USERS = frozenset({"picker", "packer", "supervisor", "admin"})
PICK = frozenset({"picker", "admin"})
PACK = frozenset({"packer", "admin"})
SUP = frozenset({"supervisor", "admin"})
PACK_SUP = frozenset({"packer", "supervisor", "admin"})
ADMIN = frozenset({"admin"})
OMS = frozenset({"oms"})
OMS_SUP = frozenset({"oms", "supervisor", "admin"})

ACCESS: dict[str, frozenset[str]] = {
    # public: the login page, health, static files, the landing redirect
    "pages.index": PUBLIC,
    "health.healthz": PUBLIC,
    "static": PUBLIC,
    "auth.login": PUBLIC,
    "auth.login_post": PUBLIC,
    "auth.logout": PUBLIC,
    "auth.me": USERS,
    # the OMS API (bearer key)
    "api.no_route": OMS,
    "api.events": OMS,
    "api.inventory": OMS,
    "api.openapi": PUBLIC,
    "api.create": OMS,
    "api.list_all": OMS,
    "api.get_order": OMS,
    "api.cancel": OMS,
    "api.hold": OMS,
    "api.release": OMS,
    "api.create_batch": OMS,
    "api.import_orders": OMS,
    "sync_pages.reconciliation_json": OMS_SUP,
    # the handheld, the pack station, printers
    "pages.handheld": PICK,
    "pack.page": PACK,
    "pack.close": PACK,
    "pack.station_state": PACK,
    "pack.scan": PACK,
    "pack.label": PACK,
    "pack.open_order": PACK,
    "pack.verify": PACK,
    "printing_pages.printers_page": PACK_SUP,
    "printing_pages.job_state": PACK_SUP,
    "printing_pages.job_png": PACK_SUP,
    "printing_pages.confirm": PACK_SUP,
    "printing_pages.reprint": PACK_SUP,
    "printing_pages.received_png": PACK_SUP,
    "printing_pages.printers_state": PACK_SUP,
    "documents_pages.packing_slip": PACK_SUP,
    # admin only
    "printing_pages.admin_page": ADMIN,
    "printing_pages.admin_add": ADMIN,
    "printing_pages.admin_edit": ADMIN,
    "printing_pages.admin_bind": ADMIN,
    "admin_users.bulk_users": ADMIN,
    "documents_pages.badges": ADMIN,
}
SUPERVISOR_ENDPOINTS = [
    "pages.dashboard",
    "pages.dashboard_state",
    "shift_pages.exception_page",
    "shift_pages.exception_queue",
    "shift_pages.exception_search",
    "shift_pages.figures_json",
    "shift_pages.figures_csv",
    "shift_pages.people_json",
    "shift_pages.people_csv",
    "shift_pages.reassign",
    "shift_pages.wave_drill",
    "waves_pages.resolve",
    "waves_pages.return_order_to_stock",
    "waves_pages.complete",
    "waves_pages.board",
    "waves_pages.cancel",
    "waves_pages.release",
    "waves_pages.plan",
    "documents_pages.index",
    "documents_pages.location_labels",
    "documents_pages.pick_list",
    "waves_api.list_exceptions",
    "waves_api.resolve",
    "waves_api.return_order_to_stock",
    "waves_api.list_replenishments",
    "waves_api.cancel_replenishment",
    "waves_api.complete_replenishment",
    "waves_api.override",
    "waves_api.list_rules",
    "waves_api.put_rules",
    "waves_api.put_rule",
    "waves_api.list_waves",
    "waves_api.plan",
    "waves_api.wave_detail",
    "waves_api.cancel",
    "waves_api.release",
    "orders_pages.list_orders",
    "orders_pages.order_page",
    "orders_pages.import_form",
    "orders_pages.import_upload",
    "orders_pages.import_sample",
    "devices.devices_json",
    "devices.devices_page",
    "devices.device_test",
    "devices.set_location_mode",
    "sync_pages.page",
    "sync_pages.manifest_data",
    "sync_pages.manifest_download",
    "sync_pages.close_manifest",
    "sync_pages.redeliver_one",
    "sync_pages.skip_one",
    "sync_pages.redeliver_all",
]
ACCESS.update(dict.fromkeys(SUPERVISOR_ENDPOINTS, SUP))

SOCKET_ACCESS: dict[str, frozenset[str]] = {
    "whoami": USERS,
    "join_dashboard": SUP,
    "dashboard:live": SUP,
    "task:next": PICK,
    "scan": PICK,
    "short": PICK,
    "join_station": PACK_SUP,
    "pack:join": PACK,
    "devices:join": SUP,
    "device:status": USERS,
}
SOCKET_LIFECYCLE = {"connect", "disconnect", "*"}  # "*": any other event, answered unknown_event


@pytest.fixture
def matrix_app(sqlite_url):
    app = make_test_app(sqlite_url, WTF_CSRF_ENABLED=False)
    yield app
    app.extensions["floor"].close()


def _client(app: Any, role: str) -> tuple[Any, dict[str, str]]:
    client = app.test_client()
    headers: dict[str, str] = {}
    if role == "picker":
        login(client, badge="BADGE-PICKER-1")
    elif role == "packer":
        login(client, username="paco", password="packer-demo")
    elif role == "supervisor":
        login(client, username="sam", password="supervisor-demo")
    elif role == "admin":
        login(client, username="ada", password="admin-demo")
    elif role == "oms":
        headers["Authorization"] = f"Bearer {DEMO_API_KEY}"
    if role in USERS:
        assert client.get("/me").status_code == 200, role
    return client, headers


def _url(rule: Any) -> str:
    values = {}
    for name, conv in rule._converters.items():
        values[name] = "1" if type(conv).__name__.endswith("IntConverter") else "x"
    path = rule.rule
    for name, value in values.items():
        path = re.sub(r"<[^>]*\b" + re.escape(name) + ">", value, path)
    return path


def _routes(app: Any) -> list[tuple[str, str, str]]:
    out = []
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            out.append((rule.endpoint, method, _url(rule)))
    # logging out ends the session: last
    return sorted(out, key=lambda r: (r[0] == "auth.logout", r[0], r[1]))


def _refused(r: Any) -> bool:
    if r.status_code in (401, 403):
        return True
    return r.status_code in (301, 302, 303) and "/login" in r.headers.get("Location", "")


def test_every_route_and_event_is_in_the_table(matrix_app):
    endpoints = {rule.endpoint for rule in matrix_app.url_map.iter_rules()}
    assert endpoints - ACCESS.keys() == set(), "add the new routes to ACCESS"
    assert ACCESS.keys() - endpoints == set(), "ACCESS names routes that are gone"
    events = set(matrix_app.extensions["floor"].socketio.server.handlers[NAMESPACE])
    assert events - SOCKET_LIFECYCLE - SOCKET_ACCESS.keys() == set(), "add to SOCKET_ACCESS"
    assert SOCKET_ACCESS.keys() - events == set()


@pytest.mark.parametrize("role", ROLES)
def test_role_matrix_over_every_route(matrix_app, role):
    client, headers = _client(matrix_app, role)
    wrong = []
    for endpoint, method, url in _routes(matrix_app):
        r = client.open(url, method=method, headers=headers)
        allowed = role in ACCESS[endpoint]
        if ACCESS[endpoint] == PUBLIC:  # the login form answers bad credentials with 401
            allowed = r.status_code < 500
            if not allowed:
                wrong.append((endpoint, method, url, r.status_code, "public"))
        elif r.status_code >= 500 or _refused(r) == allowed:
            wrong.append(
                (endpoint, method, url, r.status_code, "allowed" if allowed else "refused")
            )
    assert wrong == [], "\n".join(map(str, wrong))


@pytest.mark.parametrize("role", ROLES)
def test_role_matrix_over_every_socket_event(matrix_app, role):
    client, _ = _client(matrix_app, role)
    socketio = matrix_app.extensions["floor"].socketio
    sio = socketio.test_client(matrix_app, namespace=NAMESPACE, flask_test_client=client)
    if role not in USERS:  # nobody logged in: the connection itself is refused
        assert not sio.is_connected(NAMESPACE)
        return
    assert sio.is_connected(NAMESPACE)
    wrong = []
    for event, allowed_roles in SOCKET_ACCESS.items():
        ack = sio.emit(event, {}, namespace=NAMESPACE, callback=True)
        assert isinstance(ack, dict), (event, ack)  # always acknowledged
        error = (ack.get("error") or {}).get("code")
        refused = error in ("forbidden", "not_authenticated")
        if refused == (role in allowed_roles) or error == "internal_error":
            wrong.append((event, ack))
    sio.disconnect(namespace=NAMESPACE)
    assert wrong == []
