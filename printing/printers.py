"""Which printers exist and which pack station each one serves.

Two sources fill the ``printers`` table:

* ``FLOOR_PRINTERS`` (``NAME=URI,NAME=URI``; URIs as ``printing.transports.parse_printer_uri``
  reads them), synced at start by ``sync_printers``: each entry is created or updated
  (``source = "env"``). A printer named like a pack station (``PACK-01=tcp://10.0.0.21:9100``) is
  bound to that station at every start. A printer that left the variable keeps its jobs but
  serves no station any more.
* the admin page (``save_printer``, ``bind_printer``; audited), which can add printers and bind
  any printer to any station (until the next start, for a printer named like another station).

A station has at most one label printer: binding a printer to a station unbinds the one it had.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.actors import Actor
from core.audit import audit
from core.errors import CoreErrorCode, FloorError
from floor.site.layout import Location, LocationType
from printing.models import Printer, PrinterTransport
from printing.transports import (
    PrinterAddress,
    PrinterUriError,
    PrinterUriErrorCode,
    Transport,
    parse_printer_uri,
)

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,59}")


class PrinterConfigErrorCode(enum.StrEnum):
    bad_printer_entry = "bad_printer_entry"
    duplicate_printer = "duplicate_printer"
    bad_printer_name = "bad_printer_name"
    unknown_station = "unknown_station"
    # a URI refused by parse_printer_uri: ``bad_printer_uri.<PrinterUriErrorCode>``
    bad_printer_uri_unknown_scheme = "bad_printer_uri.unknown_scheme"
    bad_printer_uri_missing_host = "bad_printer_uri.missing_host"
    bad_printer_uri_bad_port = "bad_printer_uri.bad_port"
    bad_printer_uri_bad_queue = "bad_printer_uri.bad_queue"
    bad_printer_uri_bad_directory = "bad_printer_uri.bad_directory"
    bad_printer_uri_unexpected_part = "bad_printer_uri.unexpected_part"
    bad_printer_uri_too_long = "bad_printer_uri.too_long"


def uri_refusal(code: PrinterUriErrorCode) -> PrinterConfigErrorCode:
    """The printer-setting code for a refused URI (every PrinterUriErrorCode has one)."""
    return PrinterConfigErrorCode(f"bad_printer_uri.{code}")


class PrinterConfigError(FloorError):
    """A printer setting that cannot be used (422); ``code`` says why."""

    http_status = 422


@dataclass(frozen=True)
class PrinterSpec:
    name: str
    address: PrinterAddress

    @property
    def uri(self) -> str:
        return str(self.address)


def parse_printer_list(raw: str) -> list[PrinterSpec]:
    """``FLOOR_PRINTERS`` as specs; raises ``PrinterConfigError`` naming the bad entry."""
    specs: list[PrinterSpec] = []
    seen: set[str] = set()
    for item in raw.split(","):
        if not item.strip():
            continue
        name, sep, uri = item.strip().partition("=")
        spec = make_spec(name.strip(), uri.strip()) if sep else None
        if spec is None:
            raise PrinterConfigError(
                PrinterConfigErrorCode.bad_printer_entry, f"{item.strip()!r}: use NAME=URI"
            )
        if spec.name.upper() in seen:
            raise PrinterConfigError(
                PrinterConfigErrorCode.duplicate_printer, f"printer {spec.name} named twice"
            )
        seen.add(spec.name.upper())
        specs.append(spec)
    return specs


def make_spec(name: str, uri: str) -> PrinterSpec:
    if not _NAME_RE.fullmatch(name):
        raise PrinterConfigError(
            PrinterConfigErrorCode.bad_printer_name,
            f"{name!r}: letters, digits, '.', '_', '-' (up to 60)",
        )
    try:
        return PrinterSpec(name, parse_printer_uri(uri))
    except PrinterUriError as exc:
        raise PrinterConfigError(uri_refusal(exc.code), f"{name}: {exc}") from exc


def _address_column(address: PrinterAddress) -> str:
    if address.transport is Transport.tcp:
        return str(address).removeprefix("tcp://")
    return address.queue if address.transport is Transport.cups else address.directory


def _station_ids(session: Session) -> dict[str, int]:
    rows = session.execute(
        select(Location.code, Location.id).where(Location.type == LocationType.pack_station)
    )
    return {code.upper(): pk for code, pk in rows}


def _apply(printer: Printer, spec: PrinterSpec) -> None:
    printer.uri = spec.uri
    printer.transport = PrinterTransport(spec.address.transport.value)
    printer.address = _address_column(spec.address)


def sync_printers(session: Session, specs: list[PrinterSpec]) -> list[Printer]:
    """Create or update the configured printers; bind each one named like a station to it."""
    stations = _station_ids(session)
    by_name = {p.name.upper(): p for p in session.scalars(select(Printer))}
    synced = []
    for spec in specs:
        printer = by_name.get(spec.name.upper())
        if printer is None:
            printer = Printer(name=spec.name, dpmm=8, online=True, state="")
            session.add(printer)
        _apply(printer, spec)
        printer.source = "env"
        session.flush()
        station_id = stations.get(spec.name.upper())
        if station_id is not None:
            _bind(session, printer, station_id)
        synced.append(printer)
    configured = {s.name.upper() for s in specs}
    for name, printer in by_name.items():
        if printer.source == "env" and name not in configured:
            printer.station_location_id = None
    session.flush()
    return synced


def _bind(session: Session, printer: Printer, station_id: int | None) -> None:
    if station_id is not None:
        for other in session.scalars(
            select(Printer).where(
                Printer.station_location_id == station_id, Printer.id != printer.id
            )
        ):
            other.station_location_id = None
    printer.station_location_id = station_id


def station_printer(session: Session, station: str) -> Printer | None:
    return session.scalar(
        select(Printer)
        .join(Location, Location.id == Printer.station_location_id)
        .where(Location.code == station)
        .order_by(Printer.id)
        .limit(1)
    )


def save_printer(
    session: Session, actor: Actor, name: str, uri: str, printer_id: int | None = None
) -> Printer:
    """Add a printer, or change one's name/URI (admin page). Audited."""
    spec = make_spec(name.strip(), uri.strip())
    # Names are one printer whatever their case, as FLOOR_PRINTERS and the station binding read
    # them: ``pack-01`` beside ``PACK-01`` would be rebound or renamed by the next start.
    clash = session.scalar(select(Printer).where(func.upper(Printer.name) == spec.name.upper()))
    if clash is not None and clash.id != printer_id:
        raise PrinterConfigError(
            PrinterConfigErrorCode.duplicate_printer, f"a printer is already named {spec.name}"
        )
    if printer_id is None:
        printer = Printer(name=spec.name, dpmm=8, online=True, state="", source="admin")
        session.add(printer)
        before = None
    else:
        found = session.get(Printer, printer_id)
        if found is None:
            raise PrinterConfigError(CoreErrorCode.not_found, f"no printer {printer_id}", 404)
        printer = found
        before = {"name": printer.name, "uri": printer.uri}
    printer.name = spec.name
    _apply(printer, spec)
    session.flush()
    audit(
        session,
        actor,
        "printer.save",
        entity="printer",
        entity_id=printer.id,
        details={"before": before, "after": {"name": printer.name, "uri": printer.uri}},
    )
    return printer


def bind_printer(session: Session, actor: Actor, printer_id: int, station: str) -> Printer:
    """Make ``printer_id`` the label printer of ``station`` ("" = of no station). Audited."""
    printer = session.get(Printer, printer_id)
    if printer is None:
        raise PrinterConfigError(CoreErrorCode.not_found, f"no printer {printer_id}", 404)
    station_id = None
    if station:
        station_id = _station_ids(session).get(station.upper())
        if station_id is None:
            raise PrinterConfigError(
                PrinterConfigErrorCode.unknown_station, f"{station!r} is not a pack station"
            )
    before = printer.station_location_id
    _bind(session, printer, station_id)
    session.flush()
    audit(
        session,
        actor,
        "printer.bind",
        entity="printer",
        entity_id=printer.id,
        details={"printer": printer.name, "station": station or None, "before_id": before},
    )
    return printer
