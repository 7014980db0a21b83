"""The supervisor's shift: JSON endpoints and CSV exports behind the dashboard's people table,
wave drill-down, day figures and exception queue (thin: the work is in ``floor.fulfilment``).

    GET  /dashboard/people            the people table (JSON)       /dashboard/people.csv
    GET  /dashboard/figures?day=      the day's figures (JSON)      /dashboard/figures.csv?day=
    GET  /dashboard/waves/<id>/drill  a wave's pick lists: holder, last location, what is left
    POST /dashboard/pick-lists/<id>/reassign  {"to_user_id", "reason"} (CSRF header; audited)
    GET  /dashboard/exceptions        the exception queue page
    GET  /dashboard/exceptions/queue  open exceptions by reason, oldest first, with context
    GET  /dashboard/exceptions/search?q=&reason=   resolved ones: who, when, why
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request

from core.db import utcnow
from core.errors import CoreErrorCode
from core.exception_queue import ExceptionReason
from core.inputs import InputError, InputErrorCode, parse_id
from core.users import Role
from floor.fulfilment import dashboard as floor_dashboard
from floor.fulfilment import exception_views, people, projections, shift_figures
from floor.fulfilment.errors import FulfilmentErrorCode
from floor.fulfilment.models import Wave
from floor.fulfilment.picking.reassign import ReassignError, reassign_pick_list
from floor.fulfilment.waves import planning as waves
from floor.fulfilment.waves.planning import WaveError
from web.auth import current_actor, roles_required
from web.context import uow
from web.errors import register_json_errors
from web.pages import site_zone

bp = Blueprint("shift_pages", __name__)
# Refusals answer JSON (web/errors.py); the exception queue page keeps Flask's HTML errors.
register_json_errors(bp, pages=True)


# A cell a spreadsheet would run as a formula (=, +, -, @; tab and CR too): an account named
# "=HYPERLINK(...)" (admin user import) became a live formula in the supervisor's Excel.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value  # shown as text; numbers are written as numbers, never prefixed
    return value


def _csv(rows: list[list[Any]], filename: str) -> Response:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows([_cell(c) for c in r] for r in rows)
    return Response(
        buf.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _day() -> dt.date:
    """``?day=YYYY-MM-DD``: a day of the site (midnight to midnight in ``FLOOR_TIMEZONE``; today
    there when absent). Anything else is refused: a typo answered today's figures under today's
    date, and the last day of year 9999 (no day after it to end the range) was a 500."""
    raw = request.args.get("day", "")
    if not raw:
        return shift_figures.site_day(utcnow(), site_zone())
    try:
        day = dt.date.fromisoformat(raw)
        shift_figures.day_bounds(day, site_zone())
    except (ValueError, OverflowError):
        raise InputError(
            InputErrorCode.invalid_datetime, "day", f"day {raw[:40]!r} is not a date YYYY-MM-DD"
        ) from None
    return day


def _people() -> tuple[list[dict[str, Any]], dt.datetime]:
    now = utcnow()
    with uow() as s:
        rows = people.people(s, now, floor_dashboard.shift_start(now, site_zone()))
    return rows, now


@bp.get("/dashboard/people")
@roles_required(Role.supervisor)
def people_json() -> Any:
    rows, now = _people()
    return jsonify(people=rows, generated_at=now.isoformat())


@bp.get("/dashboard/people.csv")
@roles_required(Role.supervisor)
def people_csv() -> Any:
    rows, now = _people()
    return _csv(people.csv_rows(rows), f"people-{now:%Y-%m-%dT%H%M}.csv")


@bp.get("/dashboard/figures")
@roles_required(Role.supervisor)
def figures_json() -> Any:
    with uow() as s:
        return jsonify(shift_figures.load(s, _day(), site_zone()).to_dict())


@bp.get("/dashboard/figures.csv")
@roles_required(Role.supervisor)
def figures_csv() -> Any:
    day = _day()
    with uow() as s:
        rows = shift_figures.csv_rows(shift_figures.load(s, day, site_zone()))
    return _csv(rows, f"day-{day.isoformat()}.csv")


@bp.get("/dashboard/waves/<int:wave_id>/drill")
@roles_required(Role.supervisor)
def wave_drill(wave_id: int) -> Any:
    now = utcnow()
    with uow() as s:
        wave = s.get(Wave, wave_id)
        if wave is None:
            raise WaveError(CoreErrorCode.not_found, f"no wave {wave_id}", 404)
        crew = people.people(s, now, floor_dashboard.shift_start(now, site_zone()))
        summary = waves.wave_summary(s, wave)
        rates = {r["user_id"]: r["hour"]["units_per_h"] for r in crew if r["role"] == "picker"}
        proj = projections.projections(s, [summary], rates, now).get(wave.id)
        lists = projections.drill(s, wave, {r["user_id"]: r for r in crew})
    return jsonify(wave=summary, projection=proj, lists=lists)


@bp.post("/dashboard/pick-lists/<int:pick_list_id>/reassign")
@roles_required(Role.supervisor)
def reassign(pick_list_id: int) -> Any:
    body = request.get_json(silent=True)
    body = body if isinstance(body, dict) else request.form.to_dict()
    try:
        to_user = parse_id(body.get("to_user_id", ""), "to_user_id")
    except InputError:
        raise ReassignError(
            FulfilmentErrorCode.invalid_picker, "to_user_id must be a user id", 422
        ) from None
    reason = str(body.get("reason", ""))[:500]
    actor = current_actor()
    assert actor is not None
    with uow() as s:
        pl = reassign_pick_list(s, actor, pick_list_id, to_user, reason)
        out = {"pick_list_id": pl.id, "to_user_id": pl.assigned_user_id}
    return jsonify(out)


@bp.get("/dashboard/exceptions")
@roles_required(Role.supervisor)
def exception_page() -> Any:
    q = request.args.get("q", "")[:200]
    reason = request.args.get("reason", "")
    with uow() as s:
        groups = exception_views.open_queue(s)
        resolved = exception_views.search_resolved(s, q, reason, limit=50)
    return render_template(
        "exceptions.html",
        groups=groups,
        resolved=resolved,
        q=q,
        reason=reason,
        reasons=[r.value for r in ExceptionReason],
    )


@bp.get("/dashboard/exceptions/queue")
@roles_required(Role.supervisor)
def exception_queue() -> Any:
    with uow() as s:
        return jsonify(groups=exception_views.open_queue(s))


@bp.get("/dashboard/exceptions/search")
@roles_required(Role.supervisor)
def exception_search() -> Any:
    with uow() as s:
        found = exception_views.search_resolved(
            s, request.args.get("q", "")[:200], request.args.get("reason", "")
        )
    return jsonify(resolved=found)
