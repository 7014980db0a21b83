"""POST /admin/users: admin only, CSRF, badge roles only, re-badge ends the old badge, audited."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core.users import AuditEntry, User
from tests.factories import login, page_csrf


def _csrf(client: Any) -> str:
    return page_csrf(client)


def _post(client: Any, users: Any, token: str | None) -> Any:
    headers = {"X-CSRFToken": token} if token else {}
    return client.post("/admin/users", json={"users": users}, headers=headers)


def _badge_login(app: Any, badge: str) -> int:
    return login(app.test_client(), badge=badge).status_code


JSON = {"Accept": "application/json"}
PICKER = {"username": "floor-p1", "role": "picker", "badge": "BADGE-FLOOR-P1"}


def test_admin_creates_pickers_and_packers_audited(app: Any, client: Any, sessions: Any) -> None:
    login(client, username="ada", password="admin-demo")
    packer = {"username": "floor-k1", "role": "packer", "badge": "BADGE-FLOOR-K1"}
    r = _post(client, [PICKER, packer], _csrf(client))
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["created"] == 2
    assert _badge_login(app, "BADGE-FLOOR-P1") == 302
    assert _badge_login(app, "BADGE-FLOOR-K1") == 302
    with sessions() as s:
        entries = s.scalars(select(AuditEntry).where(AuditEntry.action == "user.create")).all()
        mine = [e for e in entries if e.details.get("username") in ("floor-p1", "floor-k1")]
        assert {e.actor for e in mine} == {"ada"}
        assert all("BADGE" not in str(e.details) for e in mine)


def test_rebadge_replaces_the_old_badge(app: Any, client: Any, sessions: Any) -> None:
    login(client, username="ada", password="admin-demo")
    token = _csrf(client)
    assert _post(client, [PICKER], token).status_code == 200
    handheld = app.test_client()
    assert login(handheld, badge="BADGE-FLOOR-P1").status_code == 302
    assert handheld.get("/me", headers=JSON).status_code == 200
    again = _post(client, [PICKER | {"badge": "BADGE-FLOOR-P1-NEW"}], token)
    assert again.get_json()["rebadged"] == 1
    assert _badge_login(app, "BADGE-FLOOR-P1") == 401
    assert _badge_login(app, "BADGE-FLOOR-P1-NEW") == 302
    assert handheld.get("/me", headers=JSON).status_code == 401  # the old session ended
    with sessions() as s:
        assert s.scalar(select(AuditEntry.id).where(AuditEntry.action == "user.badge"))


def test_refusals(client: Any, sessions: Any) -> None:
    login(client, username="sam", password="supervisor-demo")
    assert _post(client, [PICKER], _csrf(client)).status_code == 403  # supervisor
    client.post("/logout")
    login(client, username="ada", password="admin-demo")
    token = _csrf(client)
    assert _post(client, [PICKER], None).status_code == 400  # no CSRF token
    desk = _post(
        client, [{"username": "boss", "role": "supervisor", "badge": "BADGE-BOSS-1"}], token
    )
    assert desk.status_code == 422 and desk.get_json()["errors"][0]["code"] == "invalid_role"
    clash = _post(client, [{"username": "sam", "role": "picker", "badge": "BADGE-SAM-99"}], token)
    assert clash.status_code == 422 and clash.get_json()["errors"][0]["code"] == "role_mismatch"
    short = _post(client, [PICKER | {"badge": "x"}, PICKER], token)
    codes = {(e["field"], e["code"]) for e in short.get_json()["errors"]}
    assert codes == {("users[0].badge", "invalid"), ("users[1].username", "duplicate")}
    with sessions() as s:  # nothing of a refused call was written
        assert s.scalar(select(User.id).where(User.username.in_(["boss", "floor-p1"]))) is None
        assert s.scalar(select(User.role).where(User.username == "sam")).value == "supervisor"


def test_a_badge_or_a_name_already_taken_is_refused_not_a_500(client: Any, sessions: Any) -> None:
    """Another user's badge (the demo picker's, or twice in one call) and a name that differs
    from a stored one only in case were a 500 (the badge's unique index) or a second account
    (``Pat`` beside ``pat``); now each is a 422 naming the field, and nothing is written."""
    login(client, username="ada", password="admin-demo")
    token = _csrf(client)
    taken = _post(client, [PICKER | {"badge": "BADGE-PICKER-2"}], token)
    assert taken.status_code == 422, taken.get_data(as_text=True)
    assert taken.get_json()["errors"] == [
        {
            "code": "badge_taken",
            "field": "users[0].badge",
            "message": "that badge belongs to another user",
        }
    ]
    twice = _post(client, [PICKER, PICKER | {"username": "floor-p2"}], token)
    assert twice.status_code == 422
    assert [(e["field"], e["code"]) for e in twice.get_json()["errors"]] == [
        ("users[1].badge", "duplicate")
    ]
    case = _post(client, [PICKER | {"username": "Pat"}], token)
    assert case.status_code == 422
    assert [(e["field"], e["code"]) for e in case.get_json()["errors"]] == [
        ("users[0].username", "username_taken")
    ]
    tab = _post(client, [PICKER | {"username": "floor\tp1"}], token)
    assert [(e["field"], e["code"]) for e in tab.get_json()["errors"]] == [
        ("users[0].username", "invalid")
    ]
    with sessions() as s:
        assert s.scalars(select(User.username).where(User.username.like("floor%"))).all() == []
        assert s.scalar(select(User.id).where(User.username == "Pat")) is None
    assert _post(client, [PICKER], token).status_code == 200  # the same badge to its own user
    assert _post(client, [PICKER], token).get_json()["rebadged"] == 1
