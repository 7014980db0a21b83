"""Socket.IO handlers of the picker's handheld on namespace ``/floor`` (contract: docs/picking.md).

``task:next`` → ``{"ok", "task"}``; ``scan`` → ``{"ok", "result", "message", "task",
"next_task", ...}``; ``short`` → the same with ``short_qty``/``replacements``. Thin: each call
is one unit of work around a ``picking.scans`` service; events go out after the commit. A
refusal (a bad payload, or a ``PickError`` from the service) is raised and answered as the ack
``{"ok": false, "error": {"code", "message"}}`` by the handlers' wrapper (``socket_roles``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Callable
from typing import Any

from flask import request
from flask_socketio import SocketIO

from core.errors import FloorError
from core.events import transaction_events
from core.inputs import InputError, check_text, parse_timestamp, storable
from core.users import Role
from floor.fulfilment.errors import FulfilmentErrorCode
from floor.fulfilment.picking.outcome import PickOutcome
from floor.fulfilment.picking.scans import confirm_scan, next_task
from floor.fulfilment.picking.short_picks import report_short
from floor.fulfilment.picking.views import task_payload
from web.auth import current_actor
from web.context import batched_uow, ctx
from web.errors import WebErrorCode
from web.sockets import NAMESPACE, socket_roles

MAX_CODE = 200  # a barcode's text: GS1-128 tops out at 48 characters


def _refuse(code: WebErrorCode, message: str) -> FloorError:
    return FloorError(code, message, 422)


def _scanned_at(value: Any) -> dt.datetime | None:
    """ISO 8601 or epoch s/ms, at most a year old and ten minutes ahead of the server's clock."""
    if value is None or value == "":
        return None
    try:
        return parse_timestamp(value, "scanned_at", now=dt.datetime.now(dt.UTC))
    except InputError as exc:
        raise _refuse(WebErrorCode.invalid_scanned_at, exc.message) from None


def _outcome(s: Any, out: PickOutcome) -> dict[str, Any]:
    body: dict[str, Any] = {
        "ok": True,
        "result": out.result,
        "message": out.message,
        "kind": out.kind,
        "units": out.units,
        "replayed": out.replayed,
        # a fast-path scan built its task's view itself; that task stays the current one
        # unless the scan finished it (then ``next_task`` is the next one)
        "task": out.view if out.view is not None else task_payload(s, out.task),
        "next_task": (
            out.view
            if out.view is not None and out.view["status"] == "assigned"
            else out.next_view
            if out.next_view is not None
            else task_payload(s, out.next_task)
        ),
    }
    body.update(out.extra)
    return body


def _checked(data: Any) -> dict[str, Any]:
    """A scan/short payload that is usable; raises the refusal of a malformed one."""
    if not isinstance(data, dict):
        raise _refuse(WebErrorCode.invalid_payload, "send an object")
    csid = data.get("client_scan_id")
    if not isinstance(csid, str) or not 1 <= len(csid) <= 64 or not storable(csid):
        raise FloorError(
            FulfilmentErrorCode.invalid_client_scan_id,
            "client_scan_id must be a 1-64 character string",
            422,
        )
    return data


def _answered(s: Any, body: dict[str, Any]) -> None:
    """The ack carries the views of the tasks it names, built after the service's changes: the
    ``task.updated`` events of those tasks are not echoed to this socket as well (one frame less
    per scan for the handheld and the server to send, parse and render)."""
    ids = {view["id"] for view in (body["task"], body["next_task"]) if view is not None}
    events = transaction_events(s)
    for i, ev in enumerate(events):
        if ev.name == "task.updated" and ev.data.get("id") in ids:
            events[i] = dataclasses.replace(ev, answered_to=request.sid)  # type: ignore[attr-defined]


def _run(service: Callable[..., PickOutcome], *args: Any) -> dict[str, Any]:
    """One unit of work around a picking service (a refusal rolls it back and is raised)."""
    with batched_uow() as s:
        body = _outcome(s, service(s, current_actor(), *args))
        _answered(s, body)
    if ctx().live is not None:
        ctx().live.touch()  # a scan moves the people table even when it published nothing
    return body


def register(socketio: SocketIO) -> None:
    @socketio.on("task:next", namespace=NAMESPACE)
    @socket_roles(Role.picker)
    def on_next(_data: Any = None) -> dict[str, Any]:
        actor = current_actor()
        with batched_uow() as s:
            task = next_task(s, actor)
            body = {"ok": True, "task": task_payload(s, task)}
        if ctx().live is not None:
            ctx().live.touch()  # claiming a list changes the people table
        return body

    @socketio.on("scan", namespace=NAMESPACE)
    @socket_roles(Role.picker)
    def on_scan(data: Any = None) -> dict[str, Any]:
        data = _checked(data)
        code = data.get("code")
        if not isinstance(code, str) or len(code) > MAX_CODE or not storable(code):
            raise _refuse(
                WebErrorCode.invalid_code, f"code must be the scanned text (<= {MAX_CODE} chars)"
            )
        when = _scanned_at(data.get("scanned_at"))
        scan = functools.partial(confirm_scan, views_only=True)
        return _run(scan, data.get("task_id"), code, data["client_scan_id"], when)

    @socketio.on("short", namespace=NAMESPACE)
    @socket_roles(Role.picker)
    def on_short(data: Any = None) -> dict[str, Any]:
        data = _checked(data)
        reason = data.get("reason")
        reason = check_text(reason, "reason", max_len=500) if reason is not None else ""
        return _run(report_short, data.get("task_id"), reason, data["client_scan_id"])
