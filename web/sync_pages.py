"""Upstream sync for supervisors and the OMS: the reconciliation page and its JSON twin, dead
letters (redeliver one / all, skip with a reason), and the carriers' end-of-day manifests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

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
from sqlalchemy import select

from core.accounts import check_api_key, has_role
from core.errors import CoreErrorCode, FieldError, FloorError, Invalid
from core.inputs import InputError, parse_int
from core.users import Role
from floor.fulfilment.models import Manifest
from sync.carriers import CarrierError, carrier_for
from sync.manifest import ManifestError, close_day, manifest_pdf, open_carriers
from sync.reconciliation import reconciliation
from sync.webhooks import OutboxActionError, redeliver, skip
from web.auth import current_actor, roles_required
from web.context import ctx, uow
from web.errors import WebErrorCode, register_json_errors

bp = Blueprint("sync_pages", __name__)
# The JSON routes answer refusals as JSON; the page's forms catch theirs and flash them.
register_json_errors(bp, pages=True, csrf=False)


def _stuck_after_min() -> int | None:
    raw = request.args.get("stuck_after_min")
    if raw is None or raw == "":
        return ctx().settings.stuck_after_min
    try:
        return parse_int(raw, "stuck_after_min", low=1, high=525_600)
    except InputError:
        return None


@bp.get("/api/v1/reconciliation")
def reconciliation_json() -> Any:
    """Bearer OMS key, or a logged-in supervisor."""
    header = request.headers.get("Authorization", "")
    with uow() as s:
        if header:
            scheme, _, key = header.partition(" ")
            actor = (
                check_api_key(s, key.strip(), ctx().settings.oms_api_key)
                if scheme.lower() == "bearer"
                else None
            )
            if actor is None:
                raise FloorError(WebErrorCode.invalid_api_key, "unknown or revoked API key", 401)
        else:
            session_actor = current_actor()
            if session_actor is None:
                raise FloorError(
                    CoreErrorCode.not_authenticated, "send Authorization: Bearer <key>", 401
                )
            if not has_role(session_actor.role, Role.supervisor):
                raise FloorError(CoreErrorCode.forbidden, "needs role supervisor", 403)
        stuck = _stuck_after_min()
        if stuck is None:
            raise Invalid(
                [FieldError(WebErrorCode.invalid_value, "stuck_after_min", "minutes, 1 to 525600")]
            )
        return jsonify(reconciliation(s, stuck_after_min=stuck))


@bp.get("/sync")
@roles_required(Role.supervisor)
def page() -> Any:
    stuck = _stuck_after_min() or ctx().settings.stuck_after_min
    with uow() as s:
        report = reconciliation(s, stuck_after_min=stuck)
        carriers = open_carriers(s)
        manifests = s.scalars(select(Manifest).order_by(Manifest.id.desc()).limit(30)).all()
        return render_template(
            "sync.html",
            report=report,
            carriers=carriers,
            manifests=manifests,
            webhook_url=shown_url(ctx().settings.oms_webhook_url),
        )


def shown_url(url: str) -> str:
    """A URL as a page may show it: the password of ``user:password@`` and every query value
    replaced by ``***`` (an OMS's webhook URL often carries its credential there; supervisors
    see where events go, not how to post as this server)."""
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "(not shown: FLOOR_OMS_WEBHOOK_URL is not a valid URL)"
    netloc = f"[{host}]" if ":" in host else host
    netloc += f":{port}" if port is not None else ""
    if parts.username is not None:
        netloc = f"{parts.username}{':***' if parts.password is not None else ''}@{netloc}"
    query = urlencode(
        [(k, "***") for k, _ in parse_qsl(parts.query, keep_blank_values=True)], safe="*"
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _actor() -> Any:
    actor = current_actor()
    assert actor is not None
    return actor


def _outbox_action(action: Callable[[Any, str], str]) -> Any:
    """Run a dead-letter action in one transaction, tell the supervisor, back to the page."""
    try:
        with uow() as s:
            flash(action(s, request.form.get("reason", "")), "ok")
    except OutboxActionError as exc:
        flash(exc.message, "error")
    return redirect(url_for("sync_pages.page"))


@bp.post("/sync/outbox/<int:cursor>/redeliver")
@roles_required(Role.supervisor)
def redeliver_one(cursor: int) -> Any:
    def act(s: Any, reason: str) -> str:
        [event_id] = redeliver(s, _actor(), [cursor], reason=reason)
        return f"Event {event_id} queued for delivery again."

    return _outbox_action(act)


@bp.post("/sync/outbox/redeliver-all")
@roles_required(Role.supervisor)
def redeliver_all() -> Any:
    def act(s: Any, reason: str) -> str:
        ids = redeliver(s, _actor(), None, reason=reason)
        return f"{len(ids)} dead letters queued for delivery again."

    return _outbox_action(act)


@bp.post("/sync/outbox/<int:cursor>/skip")
@roles_required(Role.supervisor)
def skip_one(cursor: int) -> Any:
    def act(s: Any, reason: str) -> str:
        event_id = skip(s, _actor(), cursor, reason=reason)
        return f"Event {event_id} skipped; later events of its order flow again."

    return _outbox_action(act)


@bp.post("/sync/manifests/close")
@roles_required(Role.supervisor)
def close_manifest() -> Any:
    carrier = request.form.get("carrier", "").strip()
    if not carrier:
        flash("Choose a carrier.", "error")
        return redirect(url_for("sync_pages.page"))
    try:
        with uow() as s:
            manifest = close_day(s, carrier_for(carrier, ctx().settings), _actor())
            flash(
                f"Manifest {manifest.reference} closed: {manifest.data['totals']['packages']} "
                f"packages for {carrier}.",
                "ok",
            )
    except (ManifestError, CarrierError) as exc:
        flash(f"Could not close {carrier}: {exc.message}", "error")
    return redirect(url_for("sync_pages.page"))


@bp.get("/sync/manifests/<int:manifest_id>.pdf")
@roles_required(Role.supervisor)
def manifest_download(manifest_id: int) -> Any:
    with uow() as s:
        manifest = s.get(Manifest, manifest_id)
        if manifest is None:
            abort(404)
        pdf = manifest_pdf(manifest)
        name = f"manifest-{manifest.carrier}-{manifest.day}-{manifest.id}.pdf"
    return Response(
        pdf,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{name}"'},
    )


@bp.get("/sync/manifests/<int:manifest_id>.json")
@roles_required(Role.supervisor)
def manifest_data(manifest_id: int) -> Any:
    with uow() as s:
        manifest = s.get(Manifest, manifest_id)
        if manifest is None:
            raise FloorError(CoreErrorCode.not_found, f"no manifest {manifest_id}", 404)
        return jsonify(id=manifest.id, **manifest.data)
