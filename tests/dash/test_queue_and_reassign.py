"""The exception queue (grouped by reason, oldest first, with context; resolved ones searchable
with who, when and why) and the reassignment service's refusals."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from core.actors import Actor
from core.db import unit_of_work, utcnow
from core.exception_queue import ExceptionReason, FloorException
from core.users import Role, User
from floor.fulfilment.models import PickList
from floor.fulfilment.picking.reassign import ReassignError, reassign_pick_list
from floor.fulfilment.picking.scans import next_task
from tests.dash.conftest import DUE_IN
from tests.factories import OMS_AUTH, csrf_headers, login, order_payload, page_csrf


def test_exception_queue_groups_oldest_first_and_search_finds_resolved(client, sessions):
    now = utcnow()
    with unit_of_work(sessions) as s:
        for reason, minutes, msg in [
            (ExceptionReason.printer_failed, 5, "printer P1 offline"),
            (ExceptionReason.short_pick, 30, "SKU-00010 short 1"),
            (ExceptionReason.short_pick, 10, "SKU-00011 short 2"),
        ]:
            s.add(
                FloorException(
                    reason=reason,
                    message=msg,
                    subject="P1" if reason == ExceptionReason.printer_failed else "",
                    details={"job": "label-1"} if reason == ExceptionReason.printer_failed else {},
                    created_at=now - dt.timedelta(minutes=minutes),
                )
            )
    login(client, username="sam", password="supervisor-demo")
    groups = client.get("/dashboard/exceptions/queue").get_json()["groups"]
    assert [g["reason"] for g in groups] == ["short_pick", "printer_failed"]  # oldest waiting
    assert [e["message"] for e in groups[0]["items"]] == ["SKU-00010 short 1", "SKU-00011 short 2"]
    assert groups[1]["items"][0]["print_job"] == {"printer": "P1", "job": "label-1"}
    assert "resolve" in groups[0]["items"][0]["actions"]
    html = client.get("/dashboard/exceptions").get_data(as_text=True)
    assert html.index("short pick") < html.index("printer failed")

    exc_id = groups[0]["items"][0]["id"]
    token = page_csrf(client)
    r = client.post(
        f"/exceptions/{exc_id}/resolve",
        json={"resolution": "counted again, 1 found behind"},
        headers={"X-CSRFToken": token},
    )
    assert r.status_code == 200
    found = client.get("/dashboard/exceptions/search?q=behind").get_json()["resolved"]
    assert [(e["id"], e["resolved_by"]) for e in found] == [(exc_id, "sam")]
    assert found[0]["resolution"] == "counted again, 1 found behind" and found[0]["resolved_at"]
    assert client.get("/dashboard/exceptions/search?q=sam&reason=short_pick").get_json()["resolved"]
    assert not client.get("/dashboard/exceptions/search?reason=printer_failed").get_json()[
        "resolved"
    ]
    assert "counted again" in client.get("/dashboard/exceptions?q=counted").get_data(as_text=True)


def test_the_queue_page_resolve_form_comes_back_to_the_queue(client, sessions):
    """Without JavaScript the queue page's Resolve form posts to the page route with
    ``next=/dashboard/exceptions``; it came back to /dashboard/waves instead. An unknown
    ``next`` still goes to the waves page (no open redirect)."""
    with unit_of_work(sessions) as s:
        ids = []
        for n in range(2):
            e = FloorException(reason=ExceptionReason.short_pick, message=f"SKU-0001{n} short 1")
            s.add(e)
            s.flush()
            ids.append(e.id)
    login(client, username="sam", password="supervisor-demo")
    token = page_csrf(client, "/dashboard/exceptions")
    back = client.post(
        f"/dashboard/exceptions/{ids[0]}/resolve",
        data={"csrf_token": token, "resolution": "found it", "next": "/dashboard/exceptions"},
    )
    assert back.status_code == 302 and back.headers["Location"] == "/dashboard/exceptions"
    elsewhere = client.post(
        f"/dashboard/exceptions/{ids[1]}/resolve",
        data={"csrf_token": token, "resolution": "found it", "next": "https://evil.example/"},
    )
    assert elsewhere.headers["Location"] == "/dashboard/waves"


def test_reassign_refuses_what_it_must(client, sessions, supervisor_actor_and_list):
    sup, pat, pia, packer, list_id = supervisor_actor_and_list
    with unit_of_work(sessions) as s:
        with pytest.raises(ReassignError) as e:
            reassign_pick_list(s, pat, list_id, pia.user_id)
        assert e.value.code == "forbidden"
        with pytest.raises(ReassignError) as e:
            reassign_pick_list(s, sup, list_id, pat.user_id)
        assert e.value.code == "same_picker"
        with pytest.raises(ReassignError) as e:
            reassign_pick_list(s, sup, list_id, packer.user_id)
        assert e.value.code == "invalid_picker"
        with pytest.raises(ReassignError) as e:
            reassign_pick_list(s, sup, 999_999, pia.user_id)
        assert e.value.code == "not_found"
    login(client, username="sam", password="supervisor-demo")
    r = client.post(
        f"/dashboard/pick-lists/{list_id}/reassign",
        json={"to_user_id": pia.user_id},
        headers=csrf_headers(client),
    )
    assert r.status_code == 200 and r.get_json()["to_user_id"] == pia.user_id
    with unit_of_work(sessions) as s:
        assert s.get(PickList, list_id).assigned_user_id == pia.user_id
        task = next_task(s, pia)
        assert task is not None and task.pick_list_id == list_id
        assert next_task(s, pat) is None or next_task(s, pat).pick_list_id != list_id


@pytest.fixture
def supervisor_actor_and_list(client, sessions):
    r = client.post(
        "/api/v1/orders",
        json=order_payload("RA-1", [("SKU-00005", 1), ("SKU-00006", 1)], due_in=DUE_IN),
        headers=OMS_AUTH,
    )
    assert r.status_code == 201, r.get_data(as_text=True)
    login(client, username="sam", password="supervisor-demo")
    r = client.post("/waves", json={"rule_id": 1, "release": True}, headers=csrf_headers(client))
    assert r.status_code < 300, r.get_data(as_text=True)
    client.post("/logout", headers=csrf_headers(client))
    with unit_of_work(sessions) as s:
        users = {u.username: u for u in s.scalars(select(User))}
        as_actor = {n: Actor(n, Role(u.role), u.id) for n, u in users.items()}
        task = next_task(s, as_actor["pat"])
        assert task is not None
        list_id = task.pick_list_id
    return as_actor["sam"], as_actor["pat"], as_actor["pia"], as_actor["paco"], list_id


def test_a_resolution_is_text_of_at_most_500_characters_on_every_surface(client, sessions):
    """Over JSON a 50,000-character resolution was stored (a reprint's or a cancellation's
    reason stops at 500), and a number or list was quietly read as "" (resolution_required).
    Both surfaces now refuse what a reason would be refused for, with its code."""
    with unit_of_work(sessions) as s:
        e = FloorException(reason=ExceptionReason.short_pick, message="SKU-00010 short 1")
        s.add(e)
        s.flush()
        exc_id = e.id
    login(client, username="sam", password="supervisor-demo")
    headers = csrf_headers(client, "/dashboard/exceptions")
    for value, code in (
        ("r" * 50_000, "too_long"),
        ("r" * 501, "too_long"),
        (12, "not_text"),
        (["found it"], "not_text"),
        ({"text": "found it"}, "not_text"),
    ):
        r = client.post(
            f"/exceptions/{exc_id}/resolve", json={"resolution": value}, headers=headers
        )
        assert r.status_code == 422, repr(value)[:40]
        err = r.get_json()["errors"][0]
        assert (err["code"], err["field"]) == (code, "resolution"), repr(value)[:40]
    token = page_csrf(client, "/dashboard/exceptions")
    form = client.post(
        f"/dashboard/exceptions/{exc_id}/resolve",
        data={"csrf_token": token, "resolution": "r" * 501, "next": "/dashboard/exceptions"},
        follow_redirects=True,
    )
    assert "resolution is longer than 500 characters" in form.get_data(as_text=True)
    with unit_of_work(sessions) as s:
        assert s.get(FloorException, exc_id).resolved_at is None
    ok = client.post(
        f"/exceptions/{exc_id}/resolve", json={"resolution": "r" * 500}, headers=headers
    )
    assert ok.status_code == 200 and ok.get_json()["resolution"] == "r" * 500
