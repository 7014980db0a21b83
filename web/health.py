"""GET /healthz: database reachable, migrations at head, Redis (when configured) answering,
version."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from core import __version__
from migrations import migrate
from web.context import ctx

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Any:
    engine = ctx().engine
    body: dict[str, Any] = {"version": __version__, "database": {"backend": engine.dialect.name}}
    try:
        with engine.connect() as conn:
            current = migrate.current_revision(conn)  # a query: the database answers
    except Exception as exc:  # noqa: BLE001 - any failure means "not healthy"
        body.update(
            status="error",
            database={**body["database"], "reachable": False, "error": type(exc).__name__},
        )
        return jsonify(body), 503
    head = migrate.head_revision()
    at_head = current == head
    body["database"]["reachable"] = True
    body["migrations"] = {"current": current, "head": head, "at_head": at_head}
    ok = at_head
    if ctx().settings.redis_url:  # logins are throttled there: without it nobody logs in
        body["redis"] = {"reachable": ctx().login_guard.reachable()}
        ok = ok and body["redis"]["reachable"]
    body["status"] = "ok" if ok else "error"
    return jsonify(body), 200 if ok else 503
