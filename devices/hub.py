"""The station devices of one server process: a reader per serial scanner and scale, what they
last did, and the handhelds that are connected - the device registry's live half.

``DeviceHub(sessions, scanners, scales, notify)`` builds one
:class:`~devices.serial_reader.SerialReader` per configured scanner and one
:class:`~devices.serial_reader.ScaleReader` per scale; ``start()`` opens them (once per
process: the ports are opened exclusively) and ``stop()`` closes them.

A good scanner frame is a scan at its station: on the reader's thread, in its own unit of
work, it goes to :func:`floor.fulfilment.packing.pack_state.scan_at` - the very service the
pack page's typed scans use - which records the scan (``scans`` table) and publishes
``pack.state`` to ``station:<code>``; the web layer's after-commit listener sends that to the
page. A rejected frame (garbage, partial, over-long, a scale line that is no weight) is kept
in the device's ring buffer and, for scanners, in ``scans`` with ``kind = serial_reject`` and
the reason as result - at most ``REJECT_ROWS`` rows per ``REJECT_WINDOW_S`` per scanner (a
noisy line or a wrong baud rate makes hundreds a second); the rest are counted in memory
(``rejects_not_stored`` in the registry) and logged once per window. Good frames are never
limited. Every frame, good or bad, is also handed to ``notify`` as
``device.frame`` for the "test this scanner" view; status changes as ``device.status``; a
scale's changed reading as ``scale.reading`` to the station room.

Handhelds report themselves over the socket (connect, disconnect, and a ``device:status``
message with the offline queue length and battery); :meth:`DeviceHub.handheld_seen` keeps
the latest per user in memory. The registry (``GET /devices``) reads :meth:`snapshot`.
Everything here is per process and in memory except the scans table: a restart starts the
ring buffers empty.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from core.actors import Actor
from core.db import unit_of_work, utcnow
from devices.config import SerialDeviceConfig
from devices.framing import Frame, RejectedFrame
from devices.scale import ScaleReading
from devices.serial_reader import ReaderStatus, ScaleReader, SerialReader
from floor.fulfilment.models import Scan
from floor.fulfilment.packing.pack_state import room, scan_at

log = logging.getLogger(__name__)

RING = 50  # frames kept per device
REJECT_ROWS = 10  # serial_reject rows (and pack.reject messages) a scanner may make per window
REJECT_WINDOW_S = 10.0
Notify = Callable[[str, dict[str, Any], str], None]  # (event, data, room)


def _iso(when: dt.datetime | None) -> str | None:
    return when.isoformat() if when is not None else None


@dataclass
class DeviceLog:
    """The last frames of one device, newest last (good and rejected)."""

    frames: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=RING))
    last_scan: dict[str, Any] | None = None
    last_reject: dict[str, Any] | None = None

    def add(self, entry: dict[str, Any]) -> None:
        self.frames.append(entry)
        if entry["result"] == "rejected":
            self.last_reject = entry
        else:
            self.last_scan = entry


@dataclass
class RejectBudget:
    """How many rejected frames of one device may still be written down in this window.

    ``take()`` answers whether this one may; the windows are fixed, ``window_s`` long, and
    start with the first rejection after the previous one ended. Not thread-safe (the hub
    holds its lock)."""

    limit: int = REJECT_ROWS
    window_s: float = REJECT_WINDOW_S
    clock: Callable[[], float] = time.monotonic
    started: float | None = None
    used: int = 0
    skipped: int = 0  # in this window
    skipped_total: int = 0
    ended_skipped: int = 0  # skipped in the window that the last take() closed (to log)

    def take(self) -> bool:
        now = self.clock()
        self.ended_skipped = 0
        if self.started is None or now - self.started >= self.window_s:
            self.ended_skipped = self.skipped
            self.started, self.used, self.skipped = now, 0, 0
        if self.used < self.limit:
            self.used += 1
            return True
        self.skipped += 1
        self.skipped_total += 1
        return False


@dataclass
class Handheld:
    user_id: int
    username: str
    connected: bool = False
    last_seen: dt.datetime | None = None
    queue: int | None = None
    battery: float | None = None  # 0..1
    charging: bool | None = None
    user_agent: str = ""
    sockets: set[str] = field(default_factory=set)


class DeviceHub:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        scanners: Iterable[SerialDeviceConfig] = (),
        scales: Iterable[SerialDeviceConfig] = (),
        notify: Notify | None = None,
        *,
        config_error: str | None = None,
        reject_rows: int = REJECT_ROWS,
        reject_window_s: float = REJECT_WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sessions = sessions
        self.notify = notify
        self.config_error = config_error  # a FLOOR_SCANNERS/FLOOR_SCALES value that did not parse
        self.scanners: dict[str, SerialReader] = {}
        self.scales: dict[str, ScaleReader] = {}
        self.logs: dict[tuple[str, str], DeviceLog] = {}
        self.handhelds: dict[int, Handheld] = {}
        self.reject_budgets: dict[str, RejectBudget] = {}  # per scanner station
        self._scale_sent: dict[str, tuple[Any, ...]] = {}  # what each pack page was last sent
        self._lock = threading.Lock()
        self.started = False
        for cfg in scanners:
            self.scanners[cfg.station] = SerialReader(
                cfg,
                lambda frame, c=cfg: self._scan(c, frame),
                lambda rej, c=cfg: self._reject("scanner", c, rej),
                lambda st: self._status("scanner", st),
            )
            self.logs[("scanner", cfg.station)] = DeviceLog()
            self.reject_budgets[cfg.station] = RejectBudget(reject_rows, reject_window_s, clock)
        for cfg in scales:
            self.scales[cfg.station] = ScaleReader(
                cfg,
                lambda reading, c=cfg: self._reading(c, reading),
                lambda rej, c=cfg: self._reject("scale", c, rej),
                lambda st: self._status("scale", st),
            )
            self.logs[("scale", cfg.station)] = DeviceLog()

    # -- life cycle ---------------------------------------------------------------

    def start(self) -> None:
        if self.started:
            return
        self.started = True
        for reader in [*self.scanners.values(), *self.scales.values()]:
            reader.start()

    def stop(self) -> None:
        if not self.started:
            return
        self.started = False
        for reader in [*self.scanners.values(), *self.scales.values()]:
            try:
                reader.stop()
            except RuntimeError:
                log.exception("reader did not stop")

    # -- scales ------------------------------------------------------------------

    def scale_weight(self, station: str) -> dict[str, Any] | None:
        """The station's scale as the pack page needs it, or None without a scale."""
        reader = self.scales.get(station)
        if reader is None:
            return None
        latest, stable, error = reader.latest, reader.latest_stable, reader.error
        return {
            "online": reader.status.online,
            "grams": latest.reading.weight_g if latest is not None else None,
            "stable": stable is not None,
            "stable_grams": stable.reading.weight_g if stable is not None else None,
            "at": _iso(latest.at if latest is not None else None),
            # the scale's last line was no weight (overload, error, garbage...): why
            "error": str(error.reason) if error is not None else None,
            "error_message": error.detail if error is not None else None,
        }

    def _reading(self, cfg: SerialDeviceConfig, reading: ScaleReading) -> None:
        entry = {
            "at": utcnow().isoformat(),
            "raw": reading.raw,
            "text": f"{reading.weight_g} g{'' if reading.stable else ' (moving)'}",
            "result": "ok",
            "grams": reading.weight_g,
            "stable": reading.stable,
        }
        with self._lock:
            self.logs[("scale", cfg.station)].add(entry)
        self._scale_changed(cfg.station)
        self._emit("device.frame", {"kind": "scale", "station": cfg.station, **entry}, "devices")

    def _scale_changed(self, station: str, *, always: bool = False) -> None:
        """Send the station's scale to its pack page (``scale.reading``) when what the page
        shows - online, weight, stable weight, error - is not what it was last sent."""
        view = self.scale_weight(station) or {}
        key = tuple(view.get(k) for k in ("online", "grams", "stable_grams", "error"))
        with self._lock:
            if not always and self._scale_sent.get(station) == key:
                return
            self._scale_sent[station] = key
        self._emit("scale.reading", {"station": station, **view}, room(station))

    # -- scanners ----------------------------------------------------------------

    def _scan(self, cfg: SerialDeviceConfig, frame: Frame) -> None:
        try:
            with unit_of_work(self.sessions) as s:
                answer = scan_at(
                    s,
                    cfg.station,
                    frame.text,
                    Actor(f"scanner:{cfg.station}"),
                    source="serial",
                    raw=frame.raw_text,
                )
        except Exception as exc:  # the database is away: the frame is still shown
            log.exception("%s: scan failed", cfg.station)
            answer = {"result": "error", "message": str(exc)[:200]}
            # The packer looks at the pack page, not at the device log: the scan did nothing,
            # and they must hear so (before, the page stayed silent and the scan was lost).
            self._emit(
                "pack.reject",
                {
                    "station": cfg.station,
                    "reason": "unavailable",
                    "message": f"{frame.text[:40]!r} was not recorded (the server could not "
                    "reach its database): scan it again",
                },
                room(cfg.station),
            )
        entry = {
            "at": utcnow().isoformat(),
            "raw": frame.raw_text,
            "text": frame.text.replace("\x1d", "<GS>"),
            "result": answer["result"],
            "message": answer.get("message", ""),
        }
        with self._lock:
            self.logs[("scanner", cfg.station)].add(entry)
        self._emit("device.frame", {"kind": "scanner", "station": cfg.station, **entry}, "devices")

    def _reject(self, kind: str, cfg: SerialDeviceConfig, rejected: RejectedFrame) -> None:
        entry = {
            "at": utcnow().isoformat(),
            "raw": rejected.raw_text,
            "text": "",
            "result": "rejected",
            "reason": str(rejected.reason),
            "message": rejected.detail,
        }
        with self._lock:
            self.logs[(kind, cfg.station)].add(entry)
            keep = kind == "scanner" and self._take_reject(cfg.station)
        if kind == "scale":  # the ScaleReader dropped its weight: the pack page must know
            self._scale_changed(cfg.station)
        if keep:  # a row and a red line on the pack page; beyond the budget only counted
            try:
                with unit_of_work(self.sessions) as s:
                    s.add(
                        Scan(
                            client_scan_id=f"serial:{cfg.station}:{uuid.uuid4().hex}"[:64],
                            raw=rejected.raw_text[:500],
                            kind="serial_reject",
                            result=str(rejected.reason)[:30],
                            scanned_at=utcnow(),
                        )
                    )
            except Exception:
                log.exception("%s: could not keep a rejected frame", cfg.station)
            self._emit(
                "pack.reject",
                {"station": cfg.station, "reason": entry["reason"], "message": entry["message"]},
                room(cfg.station),
            )
        self._emit("device.frame", {"kind": kind, "station": cfg.station, **entry}, "devices")

    def _take_reject(self, station: str) -> bool:
        """Whether this rejected scanner frame may be stored (the hub's lock is held)."""
        budget = self.reject_budgets[station]
        keep = budget.take()
        if budget.ended_skipped:
            log.warning(
                "%s: %d more rejected scanner frames in %gs were counted, not stored in scans",
                station,
                budget.ended_skipped,
                budget.window_s,
            )
        if not keep and budget.skipped == 1:
            log.warning(
                "%s: more than %d rejected scanner frames in %gs (noise on the line, wrong "
                "baud rate?): the rest of this window is counted, not stored in scans",
                station,
                budget.limit,
                budget.window_s,
            )
        return keep

    def _status(self, kind: str, status: ReaderStatus) -> None:
        data = {"kind": kind, **_reader(status)}
        self._emit("device.status", data, "devices")
        if kind == "scale":
            self._scale_changed(status.station, always=True)

    def _emit(self, name: str, data: dict[str, Any], to: str) -> None:
        if self.notify is None:
            return
        try:
            self.notify(name, data, to)
        except Exception:
            log.exception("notify %s failed", name)

    # -- handhelds ---------------------------------------------------------------

    def handheld_seen(
        self,
        user_id: int,
        username: str,
        sid: str,
        *,
        connected: bool = True,
        queue: Any = None,
        battery: Any = None,
        charging: Any = None,
        user_agent: str | None = None,
    ) -> None:
        """A handheld's socket connected, reported its status, or went away."""
        with self._lock:
            hh = self.handhelds.get(user_id)
            if hh is None:
                hh = self.handhelds[user_id] = Handheld(user_id, username)
            hh.last_seen = utcnow()
            if connected:
                hh.sockets.add(sid)
            else:
                hh.sockets.discard(sid)
            hh.connected = bool(hh.sockets)
            if isinstance(queue, int) and not isinstance(queue, bool) and queue >= 0:
                hh.queue = queue
            if isinstance(battery, int | float) and not isinstance(battery, bool):
                hh.battery = max(0.0, min(1.0, float(battery)))
            if isinstance(charging, bool):
                hh.charging = charging
            if user_agent:
                hh.user_agent = user_agent[:200]
            data = _handheld(hh)
        self._emit("device.status", {"kind": "handheld", **data}, "devices")

    # -- the registry ------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            scanners = [
                {
                    **_reader(r.status),
                    "last_scan": self.logs[("scanner", st)].last_scan,
                    "last_reject": self.logs[("scanner", st)].last_reject,
                    "rejects_not_stored": self.reject_budgets[st].skipped_total,
                }
                for st, r in sorted(self.scanners.items())
            ]
            scales = [
                {
                    **_reader(r.status),
                    "last_reading": self.logs[("scale", st)].last_scan,
                    "last_reject": self.logs[("scale", st)].last_reject,
                }
                for st, r in sorted(self.scales.items())
            ]
            handhelds = [
                _handheld(h) for h in sorted(self.handhelds.values(), key=lambda h: h.username)
            ]
        for sc in scales:
            sc["weight"] = self.scale_weight(sc["station"])
        return {
            "handhelds": handhelds,
            "scanners": scanners,
            "scales": scales,
            "config_error": self.config_error,
            "running": self.started,
        }

    def frames(self, kind: str, station: str) -> list[dict[str, Any]] | None:
        with self._lock:
            log_ = self.logs.get((kind, station))
            return list(log_.frames) if log_ is not None else None


def _reader(status: ReaderStatus) -> dict[str, Any]:
    return {
        "station": status.station,
        "port": status.port,
        "state": status.state.value,
        "online": status.online,
        "since": _iso(status.since),
        "last_error": status.last_error,
        "frames": status.frames,
        "rejects": status.rejects,
    }


def _handheld(h: Handheld) -> dict[str, Any]:
    return {
        "user_id": h.user_id,
        "username": h.username,
        "connected": h.connected,
        "last_seen": _iso(h.last_seen),
        "queue": h.queue,
        "battery": h.battery,
        "charging": h.charging,
        "user_agent": h.user_agent,
    }
