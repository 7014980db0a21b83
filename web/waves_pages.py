"""Supervisor page for waves: plan and release, progress with time to cut-off, open
exceptions (resolve) and replenishment tasks (complete). Plain server-rendered CSRF forms; each
POST calls the same services as the JSON API and redirects back with a message."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from core.errors import FloorError
from core.inputs import InputError, check_text, parse_id
from core.users import Role
from floor.fulfilment import exceptions as floor_exceptions
from floor.fulfilment.models import WaveRule
from floor.fulfilment.picking.returns import return_to_stock
from floor.fulfilment.waves import planning as waves
from floor.fulfilment.waves.planning import RuleSpec
from floor.site import replenishment
from floor.site.stock import ReplenishmentStatus
from web.auth import current_actor, roles_required
from web.context import uow

bp = Blueprint("waves_pages", __name__)


def _back() -> Any:
    """Back to the waves page, or to the page whose form posted here (``next``: the dashboard,
    the exception queue); never anywhere else."""
    pages = (url_for("pages.dashboard"), url_for("shift_pages.exception_page"))
    if request.form.get("next") in pages:
        return redirect(request.form["next"])
    return redirect(url_for("waves_pages.board"))


@bp.get("/dashboard/waves")
@roles_required(Role.supervisor)
def board() -> Any:
    with uow() as s:
        rules = s.scalars(select(WaveRule).order_by(WaveRule.id)).all()
        return render_template(
            "waves.html",
            rules=rules,
            waves=waves.dashboard_waves(s),
            waiting=waves.waiting_orders(s),
            exceptions=[
                floor_exceptions.to_dict(s, e) for e in floor_exceptions.list_exceptions(s)
            ],
            replenishments=replenishment.list_tasks(s, ReplenishmentStatus.open),
        )


@bp.post("/dashboard/waves/plan")
@roles_required(Role.supervisor)
def plan() -> Any:
    try:
        rule_id = parse_id(request.form.get("rule_id", ""), "rule_id")
    except InputError:
        flash("Choose a wave rule.", "error")
        return _back()
    release = request.form.get("release") == "1"
    actor = current_actor()
    with uow() as s:
        rule = s.get(WaveRule, rule_id)
        if rule is None:
            flash("No such wave rule.", "error")
            return _back()
        result = waves.plan_waves(s, RuleSpec.from_rule(rule), actor)
        if release:
            for w in result.waves:
                waves.release_wave(s, w.id, actor)
        codes = ", ".join(w.code for w in result.waves)
    if codes:
        flash(f"Planned {len(result.waves)} wave(s): {codes}.", "ok")
    elif result.skipped:  # orders were waiting, but none could be put in a wave
        first = result.skipped[0]
        flash(
            f"No wave planned: {len(result.skipped)} waiting order(s) could not be waved"
            f" ({first['order']}: {first['message']}).",
            "error",
        )
    else:
        flash("No orders are waiting to be waved.", "ok")
    return _back()


def _act(action: Any, done: str) -> Any:
    try:
        with uow() as s:
            action(s)
    except FloorError as e:
        flash(e.message, "error")
    else:
        flash(done, "ok")
    return _back()


@bp.post("/dashboard/waves/<int:wave_id>/release")
@roles_required(Role.supervisor)
def release(wave_id: int) -> Any:
    return _act(lambda s: waves.release_wave(s, wave_id, current_actor()), "Wave released.")


@bp.post("/dashboard/waves/<int:wave_id>/cancel")
@roles_required(Role.supervisor)
def cancel(wave_id: int) -> Any:
    reason = request.form.get("reason", "")
    return _act(
        lambda s: waves.cancel_wave(
            s, wave_id, current_actor(), check_text(reason, "reason", max_len=500)
        ),
        "Wave canceled.",
    )


@bp.post("/dashboard/exceptions/<int:exception_id>/resolve")
@roles_required(Role.supervisor)
def resolve(exception_id: int) -> Any:
    text = request.form.get("resolution", "")
    return _act(
        lambda s: floor_exceptions.resolve_exception(s, exception_id, current_actor(), text),
        "Exception resolved.",
    )


@bp.post("/dashboard/orders/<external_id>/return-to-stock")
@roles_required(Role.supervisor)
def return_order_to_stock(external_id: str) -> Any:
    try:
        with uow() as s:
            result = return_to_stock(s, external_id, current_actor())
    except FloorError as e:
        flash(e.message, "error")
    else:
        flash(result["message"] + ".", "ok")
    return _back()


@bp.post("/dashboard/replenishments/<int:task_id>/complete")
@roles_required(Role.supervisor)
def complete(task_id: int) -> Any:
    return _act(
        lambda s: replenishment.complete_replenishment(s, task_id, current_actor()),
        "Replenishment done: stock moved to the pick face.",
    )
