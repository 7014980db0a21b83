"""Server-rendered pages: the role's home, the supervisor dashboard, handheld and pack shells."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Blueprint, jsonify, redirect, render_template, url_for

from core.users import Role
from floor.fulfilment import dashboard as floor_dashboard
from web.auth import HOME_BY_ROLE, current_actor, roles_required
from web.context import ctx, reading

bp = Blueprint("pages", __name__)


@bp.app_template_filter("duration")
def duration(seconds: int | float | None) -> str:
    """Time to a cut-off as the dashboard shows it: ``1:05:09``, ``3 d 4 h``; ``late …`` after."""
    if seconds is None:
        return ""
    s = abs(int(seconds))
    text = (
        f"{s // 86400} d {s % 86400 // 3600} h"
        if s >= 86400
        else f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
    )
    return f"late {text}" if seconds < 0 else text


@bp.app_template_filter("sitetime")
def sitetime(value: Any, seconds: bool = False) -> str:
    """One time format on every page: ``2026-11-24 17:00`` in the site's time zone
    (``FLOOR_TIMEZONE``, stated in the page header). Takes a datetime or an ISO 8601 string."""
    if value in (None, ""):
        return ""
    when = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(site_zone()).strftime("%Y-%m-%d %H:%M" + (":%S" if seconds else ""))


def site_zone() -> ZoneInfo:
    """The site's time zone (``FLOOR_TIMEZONE``): its clock tells the day and the hour."""
    return zone_named(ctx().settings.timezone)


def zone_named(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@bp.app_context_processor
def _site_time() -> dict[str, Any]:
    return {"site_tz": site_zone().key}


@bp.get("/")
def index() -> Any:
    actor = current_actor()
    if actor is None or actor.role is None:
        return redirect(url_for("auth.login"))
    return redirect(url_for(HOME_BY_ROLE[actor.role]))


@bp.get("/dashboard")
@roles_required(Role.supervisor)
def dashboard() -> Any:
    with reading() as s:
        state = floor_dashboard.snapshot(s, site_zone())
    return render_template("dashboard.html", state=state)


@bp.get("/dashboard/state")
@roles_required(Role.supervisor)
def dashboard_state() -> Any:
    """The dashboard's snapshot as JSON; the page fetches it whenever its socket (re)connects."""
    with reading() as s:
        state = floor_dashboard.snapshot(s, site_zone())
    return jsonify(state)


@bp.get("/handheld")
@roles_required(Role.picker)
def handheld() -> Any:
    return render_template("handheld.html")
