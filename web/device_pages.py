"""The device registry (``GET /devices``, ``/dashboard/devices``), the "test this scanner" view,
the location-confirmation setting, and the sockets handhelds and pack pages use to report
themselves and join their station's room.

The serial ports are opened by :class:`devices.hub.DeviceHub`, built here from
``FLOOR_SCANNERS`` / ``FLOOR_SCALES`` (the environment is the source of truth: the admin view
shows the parsed entries and the line to put in the environment, it does not store them).
"""

from __future__ import annotations

import atexit
import logging
from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_socketio import SocketIO, join_room, leave_room
from sqlalchemy import func, select

from core.errors import FloorError
from core.settings import Settings
from core.users import Role
from devices.config import (
    DeviceConfigError,
    SerialDeviceConfig,
    Suffix,
    check_distinct_ports,
    parse_device_list,
)
from devices.hub import DeviceHub
from floor.fulfilment.errors import FulfilmentErrorCode
from floor.fulfilment.packing.station import stations
from floor.site.settings import LocationConfirm, location_confirm, set_location_confirm
from printing.models import Printer, PrintJob
from web.auth import current_actor, roles_required
from web.context import ctx, uow
from web.sockets import NAMESPACE, on_disconnect, socket_roles

log = logging.getLogger(__name__)
bp = Blueprint("devices", __name__)


def parse_configs(settings: Settings) -> tuple[tuple[SerialDeviceConfig, ...], ...]:
    """(scanners, scales); raises DeviceConfigError naming the bad entry."""
    scanners = parse_device_list(settings.scanners, setting="FLOOR_SCANNERS")
    scales = parse_device_list(settings.scales, default_suffix=Suffix.crlf, setting="FLOOR_SCALES")
    # A scanner and a scale on one port: one of them could never be read.
    check_distinct_ports((*scanners, *scales), setting="FLOOR_SCANNERS and FLOOR_SCALES")
    return scanners, scales


def build_hub(settings: Settings, sessions: Any, socketio: SocketIO) -> DeviceHub:
    """The process's device hub; a bad setting leaves it empty with the reason shown."""

    def notify(name: str, data: dict[str, Any], room: str) -> None:
        socketio.emit(name, data, to=room, namespace=NAMESPACE)

    try:
        scanners, scales = parse_configs(settings)
    except DeviceConfigError as exc:
        log.error("%s", exc.message)
        return DeviceHub(sessions, notify=notify, config_error=exc.message)
    return DeviceHub(sessions, scanners, scales, notify)


def start_hub(hub: DeviceHub | None) -> None:
    """Open the configured ports (once; closed again when the process exits)."""
    if hub is None or hub.started:
        return
    hub.start()
    atexit.register(hub.stop)


def _hub() -> DeviceHub:
    return ctx().devices


def _printers() -> list[dict[str, Any]]:
    with uow() as s:
        counts: dict[int, dict[str, int]] = {}
        for printer_id, status, n in s.execute(
            select(PrintJob.printer_id, PrintJob.status, func.count(PrintJob.id)).group_by(
                PrintJob.printer_id, PrintJob.status
            )
        ):
            counts.setdefault(printer_id, {})[status.value] = n
        rows = []
        for p in s.scalars(select(Printer).order_by(Printer.name)):
            last = s.scalars(
                select(PrintJob).where(PrintJob.printer_id == p.id).order_by(PrintJob.id.desc())
            ).first()
            rows.append(
                {
                    "name": p.name,
                    "transport": p.transport.value,
                    "address": p.address,
                    "online": p.online,
                    "last_seen": p.last_seen_at.isoformat() if p.last_seen_at else None,
                    "jobs": counts.get(p.id, {}),
                    "queued": counts.get(p.id, {}).get("queued", 0),
                    "last_job": (
                        {
                            "job_id": last.job_id,
                            "status": last.status.value,
                            "error": last.last_error,
                        }
                        if last is not None
                        else None
                    ),
                }
            )
    return rows


def registry() -> dict[str, Any]:
    return {**_hub().snapshot(), "printers": _printers()}


@bp.get("/devices")
@roles_required(Role.supervisor)
def devices_json() -> Any:
    return jsonify(registry())


@bp.get("/dashboard/devices")
@roles_required(Role.supervisor)
def devices_page() -> Any:
    with uow() as s:
        mode = location_confirm(s)
    settings = ctx().settings
    return render_template(
        "devices.html",
        reg=registry(),
        mode=mode.value,
        modes=[m.value for m in LocationConfirm],
        env={"FLOOR_SCANNERS": settings.scanners, "FLOOR_SCALES": settings.scales},
    )


@bp.get("/dashboard/devices/<kind>/<station>")
@roles_required(Role.supervisor)
def device_test(kind: str, station: str) -> Any:
    """Test this scanner (or scale): frames as they arrive, good and rejected."""
    frames = _hub().frames(kind, station)
    if frames is None:
        abort(404)
    hub = _hub()
    reader = (hub.scanners if kind == "scanner" else hub.scales)[station]
    cfg = reader.config if kind == "scanner" else reader.reader.config
    if request.accept_mimetypes.best == "application/json":
        return jsonify(frames=frames)
    return render_template("device_test.html", kind=kind, station=station, frames=frames, cfg=cfg)


@bp.post("/dashboard/settings/location-confirm")
@roles_required(Role.supervisor)
def set_location_mode() -> Any:
    actor = current_actor()
    assert actor is not None
    mode = request.form.get("mode", "")
    try:
        with uow() as s:
            set_location_confirm(s, mode, actor)
    except ValueError:
        flash(f"unknown mode {mode!r}", "error")
    else:
        flash(f"Location confirmation: {mode}", "ok")
    return redirect(url_for("devices.devices_page"))


def register(socketio: SocketIO) -> None:
    @socketio.on("device:status", namespace=NAMESPACE)
    @socket_roles()
    def device_status(data: Any = None) -> dict[str, Any]:
        """A handheld reports itself: ``{"queue": 3, "battery": 0.8, "charging": false}``."""
        actor = current_actor()
        assert actor is not None and actor.user_id is not None
        data = data if isinstance(data, dict) else {}
        _hub().handheld_seen(
            actor.user_id,
            actor.name,
            request.sid,  # type: ignore[attr-defined]
            queue=data.get("queue"),
            battery=data.get("battery"),
            charging=data.get("charging"),
            user_agent=request.headers.get("User-Agent", ""),
        )
        return {"ok": True}

    def handheld_gone() -> None:
        actor = current_actor()
        hub = _hub()
        if actor is not None and actor.user_id in hub.handhelds:
            hub.handheld_seen(
                actor.user_id,
                actor.name,
                request.sid,
                connected=False,  # type: ignore[attr-defined]
            )

    on_disconnect(socketio, handheld_gone)

    @socketio.on("pack:join", namespace=NAMESPACE)
    @socket_roles(Role.packer)
    def pack_join(data: Any = None) -> dict[str, Any]:
        """The pack page follows one station: its state and its serial scanner and scale."""
        station = data.get("station") if isinstance(data, dict) else None
        previous = data.get("previous") if isinstance(data, dict) else None
        with uow() as s:
            codes = stations(s)
        if not isinstance(station, str) or station not in codes:
            # (it joined any room named "station:<whatever was sent>", a list or an object
            # turned into text, and answered a missing station without a message)
            raise FloorError(
                FulfilmentErrorCode.unknown_station, f"{station!r:.60} is not a pack station", 404
            )
        if isinstance(previous, str) and previous in codes and previous != station:
            leave_room(f"station:{previous}")
        join_room(f"station:{station}")
        return {"ok": True, "scale": _hub().scale_weight(station)}

    @socketio.on("devices:join", namespace=NAMESPACE)
    @socket_roles(Role.supervisor)
    def devices_join(_data: Any = None) -> dict[str, Any]:
        join_room("devices")
        return {"ok": True}
