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


def test_a_badge_in_use_or_given_twice_is_refused_not_a_500(
    app: Any, client: Any, sessions: Any
) -> None:
    """A badge another user holds (a picker's, a supervisor's) or one given twice in the body
    ended in a 500 (the unique index on users.badge_hash): now 422 naming the field, nothing
    written, and the badge's holder keeps it."""
    login(client, username="ada", password="admin-demo")
    token = _csrf(client)
    taken = _post(
        client,
        [
            PICKER,
            {"username": "floor-p2", "role": "picker", "badge": "BADGE-PICKER-2"},
            {"username": "floor-k2", "role": "packer", "badge": "BADGE-SUPER-1"},
        ],
        token,
    )
    assert taken.status_code == 422, taken.get_data(as_text=True)
    assert {(e["field"], e["code"]) for e in taken.get_json()["errors"]} == {
        ("users[1].badge", "badge_in_use"),
        ("users[2].badge", "badge_in_use"),
    }
    twice = _post(client, [PICKER, PICKER | {"username": "floor-p3"}], token)
    assert twice.status_code == 422
    assert [(e["field"], e["code"]) for e in twice.get_json()["errors"]] == [
        ("users[1].badge", "duplicate")
    ]
    with sessions() as s:  # nothing of the refused calls was written
        assert s.scalar(select(User.id).where(User.username.like("floor-%"))) is None
    assert _badge_login(app, "BADGE-PICKER-2") == 302  # pia keeps her badge
    # Re-badging a user with the badge it already holds is no clash.
    assert _post(client, [PICKER], token).status_code == 200
    assert _post(client, [PICKER], token).get_json()["rebadged"] == 1


def test_a_username_in_another_letter_case_is_the_same_user(
    app: Any, client: Any, sessions: Any
) -> None:
    """``{"username": "SAM", "role": "picker"}`` created a picker SAM beside the supervisor sam
    (``flask create-user`` refuses it: one name per person whatever the case), and the audit
    trail then showed two actors that read alike. It is sam: role_mismatch, nothing written;
    "PAT" re-badges the picker pat."""
    login(client, username="ada", password="admin-demo")
    token = _csrf(client)
    clash = _post(client, [{"username": "SAM", "role": "picker", "badge": "BADGE-SAM-99"}], token)
    assert clash.status_code == 422
    assert clash.get_json()["errors"][0]["code"] == "role_mismatch"
    r = _post(client, [{"username": "PAT", "role": "picker", "badge": "BADGE-PAT-NEW"}], token)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["users"][0] | {"id": 0} == {
        "username": "pat",
        "id": 0,
        "role": "picker",
        "outcome": "rebadged",
    }
    assert _badge_login(app, "BADGE-PAT-NEW") == 302
    with sessions() as s:
        names = s.scalars(select(User.username).where(User.username.in_(["SAM", "PAT"])))
        assert names.all() == []
