"""The account commands a site's first admin runs: clear refusals, no traceback, and nothing
secret (a credential's hash) on the terminal."""

from __future__ import annotations

from sqlalchemy import func, select

from core.db import unit_of_work
from core.users import ApiKey, AuditEntry, User
from tests.factories import make_test_app


def _run(app, *args):
    result = app.test_cli_runner().invoke(args=list(args))
    assert "Traceback" not in result.output and "pbkdf2" not in result.output
    assert "scrypt" not in result.output and "INSERT" not in result.output
    return result


def _users(app) -> int:
    with unit_of_work(app.extensions["floor"].sessions) as s:
        return s.scalar(select(func.count()).select_from(User))


def test_create_user_refuses_clearly_and_creates_once(db_url):
    app = make_test_app(db_url)
    ok = _run(app, "create-user", "zed", "picker", "--badge", "B-ZED")
    assert ok.exit_code == 0, ok.output
    before = _users(app)
    for args, says in (
        (("create-user", "zed", "picker", "--badge", "B-ZED-2"), "exists already"),
        (("create-user", "ZED", "picker", "--badge", "B-ZED-3"), "exists already"),
        (("create-user", "amy", "picker", "--badge", "B-ZED"), "badge belongs to another"),
        (("create-user", "boss", "supervisor"), "add --password"),
        (("create-user", "pip", "picker"), "add --badge"),
        (("create-user", "  ", "supervisor", "--password", "pw"), "printable characters"),
        (("create-user", "x" * 61, "picker", "--badge", "B-LONG"), "printable characters"),
    ):
        refused = _run(app, *args)
        assert refused.exit_code != 0 and says in refused.output, (args, refused.output)
    assert _users(app) == before


def test_api_key_names_are_checked_and_demo_refuses_a_loaded_database(db_url):
    app = make_test_app(db_url)
    assert _run(app, "create-api-key", "oms-main").exit_code == 0
    for name in ("oms-main", "", "k" * 81):
        assert _run(app, "create-api-key", name).exit_code != 0, name
    with unit_of_work(app.extensions["floor"].sessions) as s:
        assert s.scalar(select(func.count()).select_from(ApiKey)) == 1 + s.scalar(
            select(func.count()).select_from(ApiKey).where(ApiKey.is_demo.is_(True))
        )
    again = _run(app, "demo")
    assert again.exit_code != 0 and "already has a warehouse" in again.output


def test_a_leaked_api_key_can_be_revoked(db_url):
    """Keys are refused once revoked (``check_api_key``), and the docs speak of revoked keys,
    but nothing revoked one: a leaked key worked until someone edited the database."""
    app = make_test_app(db_url)
    made = _run(app, "create-api-key", "oms-main")
    key = made.output.strip()
    http = app.test_client()
    auth = {"Authorization": f"Bearer {key}"}
    assert http.get("/api/v1/inventory", headers=auth).status_code == 200
    revoked = _run(app, "revoke-api-key", "oms-main")
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    assert key not in revoked.output
    assert http.get("/api/v1/inventory", headers=auth).status_code == 401
    again = _run(app, "revoke-api-key", "oms-main")
    assert again.exit_code != 0 and "no API key 'oms-main' in use" in again.output
    assert _run(app, "revoke-api-key", "nope").exit_code != 0
    with unit_of_work(app.extensions["floor"].sessions) as s:
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "api_key.revoke"))
        assert entry is not None and entry.details == {"name": "oms-main", "prefix": key[:10]}


def test_a_badge_given_with_spaces_logs_in_as_scanned(db_url):
    """--badge ' B-QUIN ' stored the spaces; a scan is stripped at login, so quin could never log
    in, and --badge ' ' created a picker with no usable badge."""
    from core.accounts import login_with_badge

    app = make_test_app(db_url)
    assert _run(app, "create-user", "quin", "picker", "--badge", " B-QUIN \n").exit_code == 0
    with unit_of_work(app.extensions["floor"].sessions) as s:
        assert login_with_badge(s, "B-QUIN").reason == "ok"
    refused = _run(app, "create-user", "pip", "picker", "--badge", "   ")
    assert refused.exit_code != 0 and "add --badge" in refused.output
