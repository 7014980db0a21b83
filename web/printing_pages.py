"""Printers on the web: ``/printers`` (status, queue and every label as a picture), the actions
on a job (reprint with a reason, confirm printed; audited), the admin page (add/edit printers,
bind one to a station; audited) and the live station room for the pack page.

Who sees what: supervisors (and admins) every printer; packers the printer of the station they
pick (``?station=PACK-01``). Pictures are rendered from the job's ZPL by ``printing.render``
(zplkit, offline) and kept in a small in-process cache; for a virtual Zebra started by ``serve``
the labels it actually received are shown as well.
"""

from __future__ import annotations

import functools
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_socketio import join_room, leave_room

from core.accounts import has_role
from core.errors import CoreErrorCode, FloorError
from core.inputs import check_text
from core.users import Role
from floor.fulfilment.errors import FulfilmentErrorCode
from floor.fulfilment.packing.station import stations
from printing import overview, queue, reprints
from printing.models import Printer
from printing.printers import bind_printer, save_printer
from printing.render import render_png
from web.auth import current_actor, local_target, roles_required
from web.context import uow
from web.errors import register_json_errors

bp = Blueprint("printing_pages", __name__)
NAMESPACE = "/floor"


# Refusals (a queue action, a label that cannot be drawn) answer JSON (web/errors.py); the pages
# keep Flask's HTML errors; the job and admin forms catch theirs and flash them.
register_json_errors(bp, pages=True)


def _station_arg(codes: list[str]) -> str | None:
    """Supervisors: None (all) unless a station is asked for; packers: always one station."""
    actor = current_actor()
    assert actor is not None
    wanted = request.args.get("station", "")
    if wanted and wanted not in codes:
        abort(404)
    if has_role(actor.role, Role.supervisor):
        return wanted or None
    return wanted or (codes[0] if codes else "")


@bp.get("/printers")
@roles_required(Role.packer, Role.supervisor)
def printers_page() -> Any:
    with uow() as s:
        codes = stations(s)
        station = _station_arg(codes)
        printers = overview.printers_overview(s, station)
    received = {name: len(z.labels) for name, z in _virtual_zebras().items()}
    return render_template(
        "printers.html", printers=printers, stations=codes, station=station, received=received
    )


@bp.get("/printers/state")
@roles_required(Role.packer, Role.supervisor)
def printers_state() -> Any:
    with uow() as s:
        station = _station_arg(stations(s))
        return jsonify(printers=overview.printers_overview(s, station))


@bp.get("/printers/jobs/<job_id>")
@roles_required(Role.packer, Role.supervisor)
def job_state(job_id: str) -> Any:
    with uow() as s:
        return jsonify(queue.job_view(s, reprints.get_job(s, job_id)))


@functools.lru_cache(maxsize=256)
def _png(zpl: str) -> bytes:
    return render_png(zpl)


def _png_response(zpl: str) -> Any:
    png = _png(zpl)  # RenderError: 422 {"error": {"code", "message"}}
    return Response(png, mimetype="image/png")  # no-store, as every logged-in answer


@bp.get("/printers/jobs/<job_id>.png")
@roles_required(Role.packer, Role.supervisor)
def job_png(job_id: str) -> Any:
    with uow() as s:
        zpl = reprints.get_job(s, job_id).zpl
    return _png_response(zpl)


@bp.get("/printers/received/<name>/<int:number>.png")
@roles_required(Role.packer, Role.supervisor)
def received_png(name: str, number: int) -> Any:
    """The ``number``-th label (1-based) a virtual Zebra started by ``serve`` received."""
    zebra = _virtual_zebras().get(name)
    if zebra is None or not 1 <= number <= len(zebra.labels):
        abort(404)
    return _png_response(zebra.labels[number - 1])


def _virtual_zebras() -> dict[str, Any]:
    from flask import current_app

    return current_app.extensions.get("virtual_zebras", {})


def _json_or_form() -> dict[str, Any]:
    body = request.get_json(silent=True) if request.is_json else request.form.to_dict()
    if not isinstance(body, dict):
        raise FloorError(CoreErrorCode.malformed_json, "send a JSON object", 400)
    return body


def _after(view: dict[str, Any]) -> Any:
    if request.is_json:
        return jsonify(view)
    flash(f"Job {view['job_id']}: {view['status']}", "ok")
    return redirect(_back())


def _back() -> str:
    """Where a form's action returns: its ``next`` when that is a page of this site."""
    return local_target(request.form.get("next"), url_for("printing_pages.printers_page"))


@bp.post("/printers/jobs/<job_id>/reprint")
@roles_required(Role.packer, Role.supervisor)
def reprint(job_id: str) -> Any:
    body = _json_or_form()
    actor = current_actor()
    assert actor is not None
    try:
        reason = body.get("reason")
        # A list or a number is refused as such, not taken for "no reason" (reason_required);
        # its length is reprints.reprint's to refuse (reason_too_long, over 500).
        reason = "" if reason is None else check_text(reason, "reason", max_len=100_000)
        station = _station(body)
        with uow() as s:
            done = reprints.reprint(s, job_id, actor, reason, station)
            # A second request while the label's reprint is still pending (a double click, a
            # retry) created nothing: 200 with that reprint, so the pack page shows it as it
            # would its own.
            view = {**queue.job_view(s, done.job), "already_pending": done.already_pending}
    except FloorError as exc:
        return _refused(exc)
    if done.already_pending and not request.is_json:
        flash(f"Job {view['job_id']} is already reprinting this label: {view['status']}", "ok")
        return redirect(_back())
    return _after(view)


@bp.post("/printers/jobs/<job_id>/confirm")
@roles_required(Role.packer, Role.supervisor)
def confirm(job_id: str) -> Any:
    actor = current_actor()
    assert actor is not None
    try:
        station = _station(_json_or_form())
        with uow() as s:
            view = queue.job_view(s, reprints.confirm_printed(s, job_id, actor, station))
    except FloorError as exc:
        return _refused(exc)
    return _after(view)


def _refused(exc: FloorError) -> Any:
    """A refused job action: JSON to the pack page's calls (web/errors.py); a /printers form
    comes back to its page with the reason, not to a bare JSON body."""
    if request.is_json:
        raise exc
    flash(exc.message, "error")
    return redirect(_back())


MAX_STATION = 64


def _station(body: dict[str, Any]) -> str | None:
    """The station the request says its sender works at (a packer acts on its jobs only);
    None when absent or empty. A list, a number or an object is refused (422 ``not_text``):
    taken for "no station", a packer was told to say which station they are at although they
    had, and a supervisor's request went through with it."""
    value = body.get("station")
    if value is None or value == "":
        return None
    return check_text(value, "station", max_len=MAX_STATION)


# --- admin --------------------------------------------------------------------------------------


@bp.get("/admin/printers")
@roles_required(Role.admin)
def admin_page() -> Any:
    with uow() as s:
        codes = stations(s)
        printers = overview.printers_overview(s, None, jobs_per_printer=0)
    return render_template("admin_printers.html", printers=printers, stations=codes)


def _admin_do(action: Any, told: Any = None) -> Any:
    """Run an admin action on a printer and say what it did: ``told(session, printer)`` (in the
    same transaction), else "Printer X saved"."""
    actor = current_actor()
    assert actor is not None
    try:
        with uow() as s:
            printer: Printer = action(s, actor)
            message = told(s, printer) if told else f"Printer {printer.name} saved"
    except FloorError as exc:
        flash(exc.message, "error")
        return redirect(url_for("printing_pages.admin_page")), 303
    flash(message, "ok")
    return redirect(url_for("printing_pages.admin_page")), 303


@bp.post("/admin/printers")
@roles_required(Role.admin)
def admin_add() -> Any:
    form = request.form
    return _admin_do(lambda s, a: save_printer(s, a, form.get("name", ""), form.get("uri", "")))


@bp.post("/admin/printers/<int:printer_id>")
@roles_required(Role.admin)
def admin_edit(printer_id: int) -> Any:
    form = request.form
    return _admin_do(
        lambda s, a: save_printer(s, a, form.get("name", ""), form.get("uri", ""), printer_id)
    )


@bp.post("/admin/printers/<int:printer_id>/bind")
@roles_required(Role.admin)
def admin_bind(printer_id: int) -> Any:
    station = request.form.get("station", "")

    def told(s: Any, printer: Printer) -> str:
        if not station:
            return f"{printer.name} serves no station"
        code = next((c for c in stations(s) if c.upper() == station.upper()), station)
        return f"{printer.name} now prints {code}'s labels"

    return _admin_do(lambda s, a: bind_printer(s, a, printer_id, station), told)


# --- live station room --------------------------------------------------------------------------


def register_sockets(socketio: Any) -> None:
    """``join_station``: a pack page follows its station's print jobs (``print.job`` events)."""
    from web.sockets import socket_roles

    @socketio.on("join_station", namespace=NAMESPACE)
    @socket_roles(Role.packer, Role.supervisor)
    def join_station(data: Any = None) -> dict[str, Any]:
        code = data.get("station") if isinstance(data, dict) else None
        previous = data.get("previous") if isinstance(data, dict) else None
        with uow() as s:
            codes = stations(s)
        if not isinstance(code, str) or code not in codes:
            raise FloorError(
                FulfilmentErrorCode.unknown_station, f"{code!r} is not a pack station", 404
            )
        if isinstance(previous, str) and previous in codes and previous != code:
            leave_room(f"station:{previous}")
        join_room(f"station:{code}")
        return {"ok": True, "station": code}
