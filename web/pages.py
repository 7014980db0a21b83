"""Server-rendered pages: the role's home, the supervisor dashboard, handheld and pack shells."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, url_for
from sqlalchemy import func, select

from floor.models import FloorException, Role, Wave
from floor.states import ExceptionStatus, WaveStatus
from orders.models import Order
from web.auth import HOME_BY_ROLE, current_actor, roles_required
from web.context import uow

bp = Blueprint("pages", __name__)


@bp.get("/")
def index() -> Any:
    actor = current_actor()
    if actor is None or actor.role is None:
        return redirect(url_for("auth.login"))
    return redirect(url_for(HOME_BY_ROLE[actor.role]))


@bp.get("/dashboard")
@roles_required(Role.supervisor)
def dashboard() -> Any:
    with uow() as s:
        counts = dict(s.execute(select(Order.status, func.count()).group_by(Order.status)).all())
        waves = s.scalars(
            select(Wave)
            .where(
                Wave.status.in_([WaveStatus.planned, WaveStatus.released, WaveStatus.in_progress])
            )
            .order_by(Wave.cutoff_at)
        ).all()
        exceptions = s.scalars(
            select(FloorException)
            .where(FloorException.status == ExceptionStatus.open)
            .order_by(FloorException.created_at.desc())
            .limit(50)
        ).all()
        return render_template("dashboard.html", counts=counts, waves=waves, exceptions=exceptions)


@bp.get("/handheld")
@roles_required(Role.picker)
def handheld() -> Any:
    return render_template("handheld.html")
