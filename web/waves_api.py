"""Supervisor JSON API for waves, wave rules, exceptions, replenishment and task overrides.

Session auth (supervisor or admin); called by browser JS with the session cookie, so every
POST/PUT needs the CSRF token in the ``X-CSRFToken`` header (``<meta name="csrf-token">``).
Errors (web/errors.py, the same shape as the OMS API): ``{"error": {"code", "message"}}``, or
``{"errors": [{"code", "field", "message"}]}`` (422) when fields are named.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.errors import CoreErrorCode, FieldError, FloorError
from core.exception_queue import ExceptionStatus
from core.inputs import MAX_ID, MAX_QUANTITY, InputError, check_text, is_request_id, parse_int
from core.users import Role
from floor.fulfilment import exceptions as floor_exceptions
from floor.fulfilment.errors import FulfilmentErrorCode
from floor.fulfilment.exceptions import MAX_RESOLUTION
from floor.fulfilment.models import Wave, WaveRule
from floor.fulfilment.picking.booking import override_task
from floor.fulfilment.picking.returns import return_to_stock
from floor.fulfilment.states import WaveStatus
from floor.fulfilment.waves import planning as waves
from floor.fulfilment.waves.planning import RuleErrors, RuleSpec, WaveError
from floor.site import replenishment
from floor.site.stock import ReplenishmentStatus
from web.auth import current_actor, roles_required
from web.context import uow
from web.errors import WebErrorCode, register_json_errors

MINUTES_A_YEAR = 525_600

bp = Blueprint("waves_api", __name__)
register_json_errors(bp)


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else {}


def _reason() -> str:
    """The body's ``reason``: text of at most 500 characters, "" when absent; a list, number or
    longer text is refused, not turned into text or cut."""
    value = _body().get("reason")
    return "" if value is None else check_text(value, "reason", max_len=500)


def _actor() -> Any:
    actor = current_actor()
    assert actor is not None
    return actor


def _int_field(
    data: dict[str, Any], name: str, *, low: int, high: int, required: bool = False
) -> int | None:
    """A whole-number body field in ``low..high`` (core.inputs: no bool, no float, bounded)."""
    value = data.get(name)
    if value is None and not required:
        return None
    try:
        return parse_int(value, name, low=low, high=high)
    except InputError as exc:
        raise RuleErrors([FieldError(FulfilmentErrorCode.invalid, name, exc.message)]) from None


# --------------------------------------------------------------------------
# Waves
# --------------------------------------------------------------------------


@bp.get("/waves")
@roles_required(Role.supervisor)
def list_waves() -> Any:
    status = request.args.get("status")
    with uow() as s:
        stmt = select(Wave).order_by(Wave.id.desc()).limit(200)
        if status:
            if status not in WaveStatus.__members__:
                raise FloorError(
                    WebErrorCode.invalid_status, f"unknown wave status {status!r}", 422
                )
            stmt = stmt.where(Wave.status == WaveStatus(status))
        rows = list(s.scalars(stmt))
        sums = waves.summaries(s, rows)
        return jsonify(waves=[sums[w.id] for w in rows])


@bp.post("/waves")
@roles_required(Role.supervisor)
def plan() -> Any:
    """Plan waves: ``{"rule_id": 1}`` or ``{"rule": {...inline values...}}``;
    optional ``"due_within_min"`` and ``"release": true``."""
    data = _body()
    rule_id = _int_field(data, "rule_id", low=1, high=MAX_ID)
    due = _int_field(data, "due_within_min", low=0, high=MINUTES_A_YEAR)
    inline = data.get("rule")
    if inline is not None and not isinstance(inline, dict):
        raise RuleErrors([FieldError(FulfilmentErrorCode.invalid, "rule", "must be an object")])
    release = data.get("release", False)
    if not isinstance(release, bool):  # "yes" / "true" planned and silently did not release
        raise RuleErrors(
            [FieldError(FulfilmentErrorCode.invalid, "release", "must be true or false")]
        )
    actor = _actor()
    with uow() as s:
        if rule_id is not None:
            rule = s.get(WaveRule, rule_id)
            if rule is None:
                raise WaveError(FulfilmentErrorCode.rule_not_found, f"no wave rule {rule_id}", 404)
            spec = RuleSpec.from_rule(rule)
            if inline:
                spec = RuleSpec.parse(inline, spec)
        elif inline is not None:
            spec = RuleSpec.parse(inline)
        else:
            raise RuleErrors(
                [FieldError(FulfilmentErrorCode.required, "rule_id", "rule_id or rule")]
            )
        result = waves.plan_waves(s, spec, actor, due_within_min=due)
        if release:
            for w in result.waves:
                waves.release_wave(s, w.id, actor)
        sums = waves.summaries(s, result.waves)
        body = {"waves": [sums[w.id] for w in result.waves], "skipped": result.skipped}
    return jsonify(body), 201 if body["waves"] else 200


@bp.get("/waves/<int:wave_id>")
@roles_required(Role.supervisor)
def wave_detail(wave_id: int) -> Any:
    with uow() as s:
        wave = s.get(Wave, wave_id)
        if wave is None:
            raise WaveError(CoreErrorCode.not_found, f"no wave {wave_id}", 404)
        return jsonify(waves.wave_detail(s, wave))


@bp.post("/waves/<int:wave_id>/release")
@roles_required(Role.supervisor)
def release(wave_id: int) -> Any:
    with uow() as s:
        wave = waves.release_wave(s, wave_id, _actor())
        body = waves.wave_summary(s, wave)
    return jsonify(body)


@bp.post("/waves/<int:wave_id>/cancel")
@roles_required(Role.supervisor)
def cancel(wave_id: int) -> Any:
    reason = _reason()
    with uow() as s:
        wave = waves.cancel_wave(s, wave_id, _actor(), reason)
        body = waves.wave_summary(s, wave)
    return jsonify(body)


# --------------------------------------------------------------------------
# Wave rules
# --------------------------------------------------------------------------


@bp.get("/wave-rules")
@roles_required(Role.supervisor)
def list_rules() -> Any:
    with uow() as s:
        rules = s.scalars(select(WaveRule).order_by(WaveRule.id)).all()
        return jsonify(rules=[waves.rule_to_dict(r) for r in rules])


def _save_rule(s: Any, data: dict[str, Any], rule_id: int | None) -> WaveRule:
    from core.audit import audit

    rid = rule_id if rule_id is not None else _int_field(data, "id", low=1, high=MAX_ID)
    if rid is not None:
        rule = s.get(WaveRule, rid)
        if rule is None:
            raise WaveError(FulfilmentErrorCode.rule_not_found, f"no wave rule {rid}", 404)
    else:
        name = data.get("name")
        rule = s.scalars(select(WaveRule).where(WaveRule.name == name)).one_or_none()
        if rule is None:
            if not isinstance(name, str) or not name.strip():
                raise RuleErrors([FieldError(FulfilmentErrorCode.required, "name", "a new rule")])
            # Every field checked before the new row is flushed: a 200-character name was a 500
            # on PostgreSQL (wave_rules.name is 80 wide), checked only after the insert.
            RuleSpec.parse(data)
            rule = WaveRule(name=name.strip())
            RuleSpec(name=rule.name).apply_to(rule)
            s.add(rule)
            s.flush()
    spec = RuleSpec.parse(data, RuleSpec.from_rule(rule))
    clash = s.scalars(
        select(WaveRule.id).where(WaveRule.name == spec.name, WaveRule.id != rule.id)
    ).first()
    if clash:
        raise RuleErrors([FieldError(FulfilmentErrorCode.duplicate, "name", "name in use")])
    spec.apply_to(rule)
    s.flush()
    audit(
        s,
        _actor(),
        "wave_rule.save",
        entity="wave_rule",
        entity_id=rule.id,
        details={k: v for k, v in data.items() if k != "id"},
    )
    return rule


@bp.put("/wave-rules")
@roles_required(Role.supervisor)
def put_rules() -> Any:
    """Create or update rules: one rule object, or ``{"rules": [...]}`` (by ``id`` or ``name``)."""
    data = request.get_json(silent=True)
    items = data.get("rules") if isinstance(data, dict) and "rules" in data else [data]
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise FloorError(WebErrorCode.invalid_body, "send a rule object or {'rules': [...]}", 422)
    with uow() as s:
        saved = [_save_rule(s, item, None) for item in items]
        body = [waves.rule_to_dict(r) for r in saved]
    return jsonify(rules=body)


@bp.put("/wave-rules/<int:rule_id>")
@roles_required(Role.supervisor)
def put_rule(rule_id: int) -> Any:
    with uow() as s:
        rule = _save_rule(s, _body(), rule_id)
        body = waves.rule_to_dict(rule)
    return jsonify(body)


# --------------------------------------------------------------------------
# Exceptions, replenishment, overrides
# --------------------------------------------------------------------------


@bp.get("/exceptions")
@roles_required(Role.supervisor)
def list_exceptions() -> Any:
    status = request.args.get("status", "open")
    if status not in ("open", "resolved", "all"):
        raise FloorError(WebErrorCode.invalid_status, "status is open, resolved or all", 422)
    with uow() as s:
        rows = floor_exceptions.list_exceptions(
            s, None if status == "all" else ExceptionStatus(status)
        )
        return jsonify(exceptions=[floor_exceptions.to_dict(s, e) for e in rows])


@bp.post("/exceptions/<int:exception_id>/resolve")
@roles_required(Role.supervisor)
def resolve(exception_id: int) -> Any:
    value = _body().get("resolution")  # a list, number or object is refused, not made ""
    resolution = "" if value is None else check_text(value, "resolution", max_len=MAX_RESOLUTION)
    with uow() as s:
        exc = floor_exceptions.resolve_exception(s, exception_id, _actor(), resolution)
        body = floor_exceptions.to_dict(s, exc)
    return jsonify(body)


@bp.post("/orders/<external_id>/return-to-stock")
@roles_required(Role.supervisor)
def return_order_to_stock(external_id: str) -> Any:
    """A canceled order's picked units are back on their shelves: put them on the books, free
    its totes, resolve its ``return_to_stock`` exception. A repeat answers ``changed: false``."""
    with uow() as s:
        body = return_to_stock(s, external_id, _actor())
    return jsonify(body)


@bp.get("/replenishments")
@roles_required(Role.supervisor)
def list_replenishments() -> Any:
    status = request.args.get("status", "open")
    if status != "all" and status not in ReplenishmentStatus.__members__:
        raise FloorError(WebErrorCode.invalid_status, "status is open, done, canceled or all", 422)
    with uow() as s:
        rows = replenishment.list_tasks(s, None if status == "all" else ReplenishmentStatus(status))
    return jsonify(replenishments=rows)


@bp.post("/replenishments/<int:task_id>/complete")
@roles_required(Role.supervisor)
def complete_replenishment(task_id: int) -> Any:
    qty = _int_field(_body(), "quantity", low=0, high=MAX_QUANTITY)
    with uow() as s:
        task = replenishment.complete_replenishment(s, task_id, _actor(), qty)
        body = replenishment.to_dict(s, task)
    return jsonify(body)


@bp.post("/replenishments/<int:task_id>/cancel")
@roles_required(Role.supervisor)
def cancel_replenishment(task_id: int) -> Any:
    reason = _reason()
    with uow() as s:
        task = replenishment.cancel_replenishment(s, task_id, _actor(), reason)
        body = replenishment.to_dict(s, task)
    return jsonify(body)


@bp.post("/tasks/<int:task_id>/override")
@roles_required(Role.supervisor)
def override(task_id: int) -> Any:
    """Confirm a task without a scan: ``{"reason": "...", "quantity": n}`` (audited). Safe to
    retry with ``override_id`` (same id: the task as it stands, ``replayed: true``, nothing
    booked again) and/or ``picked_before`` (the units seen picked; else 409 ``stale_override``)."""
    data = _body()
    qty = _int_field(data, "quantity", low=1, high=MAX_QUANTITY)  # 0 would confirm nothing
    picked_before = _int_field(data, "picked_before", low=0, high=MAX_QUANTITY)
    override_id = _override_id(data)
    reason = _reason()
    kw = {"override_id": override_id, "picked_before": picked_before}
    try:
        with uow() as s:
            done = override_task(s, _actor(), task_id, reason, qty, **kw)
            body = _override_body(done)
    except IntegrityError:
        if override_id is None:
            raise
        with uow() as s:  # a request racing this one committed the same override_id first
            done = override_task(s, _actor(), task_id, reason, qty, **kw)
            if not done.replayed:
                raise
            body = _override_body(done)
    return jsonify(body)


def _override_id(data: dict[str, Any]) -> str | None:
    """The client's name for this override (optional): 1-64 letters, digits, ``-`` or ``_``."""
    value = data.get("override_id")
    if value is None:
        return None
    if not is_request_id(value):
        raise RuleErrors(
            [
                FieldError(
                    FulfilmentErrorCode.invalid,
                    "override_id",
                    "override_id is 1-64 letters, digits, '-' or '_'",
                )
            ]
        )
    return value


def _override_body(done: Any) -> dict[str, Any]:
    task = done.task
    return {
        "id": task.id,
        "status": task.status.value,
        "quantity": task.quantity,
        "picked_qty": task.picked_qty,
        "replayed": done.replayed,
    }
