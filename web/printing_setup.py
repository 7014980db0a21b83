"""Printing at start-up: the printers table from ``FLOOR_PRINTERS`` (or virtual Zebras), and the
print worker of this process.

``install(app)`` (called by ``create_app``) builds the worker, hands it every job a commit
queued (``PrintWorker.offer``: sent at once, not at the next poll), and adds a ``serve`` hook that

* with ``FLOOR_PRINTERS`` set: syncs those printers into the table (``printing.printers``);
* without it (``make run``): starts one virtual Zebra per pack station on 127.0.0.1 (a free port
  each), registers it as a printer named like the station (so it is that station's printer) and
  prints the addresses under the banner - the whole flow works with no hardware;

and then starts the worker. Tests that want a worker start ``app.extensions["floor"]
.print_worker`` themselves.
"""

from __future__ import annotations

import logging
from typing import Any

import click
from flask import Flask

from core.db import unit_of_work
from core.events import DomainEvent, on_commit
from floor.fulfilment.packing.station import stations
from printing.printers import (
    PrinterConfigError,
    PrinterSpec,
    make_spec,
    parse_printer_list,
    sync_printers,
)
from printing.queue import QUEUED, NewJob
from printing.virtual_zebra import VirtualZebra
from printing.worker import PrintWorker, WorkerConfig

log = logging.getLogger(__name__)


def install(app: Flask) -> PrintWorker:
    floor_ctx = app.extensions["floor"]
    worker = PrintWorker(floor_ctx.sessions, WorkerConfig.from_settings(floor_ctx.settings))
    floor_ctx.print_worker = worker

    def send_new_jobs(events: list[DomainEvent]) -> None:
        """Jobs this transaction queued go to the worker's fast path at once (not a poll)."""
        new = [NewJob(**e.data) for e in events if e.name == QUEUED]
        if new:
            worker.offer(new)

    on_commit(floor_ctx.sessions, send_new_jobs)
    app.extensions.setdefault("floor_serve_hooks", []).append(start_printing)
    return worker


def start_printing(app: Flask) -> None:
    """The ``serve`` hook: printers (configured or virtual), then the worker."""
    floor_ctx = app.extensions["floor"]
    if floor_ctx.settings.printers:
        lines = [configured_printers(app)]
    else:
        specs = start_virtual_zebras(app)
        with unit_of_work(floor_ctx.sessions) as s:
            sync_printers(s, specs)
        lines = ["Virtual Zebra printers (FLOOR_PRINTERS is unset; labels at /printers):"]
        lines += [f"  {spec.name:<8} {spec.uri}" for spec in specs]
    click.echo("\n".join(lines))
    floor_ctx.print_worker.start()


def configured_printers(app: Flask) -> str:
    """``FLOOR_PRINTERS`` into the printers table (``serve`` as it starts; ``make serve-prod``
    once, through ``flask sync-printers``, before its processes start); what it wrote."""
    floor_ctx = app.extensions["floor"]
    try:
        specs = parse_printer_list(floor_ctx.settings.printers)
    except PrinterConfigError as exc:  # a typo in the setting: say which entry, no traceback
        raise click.ClickException(f"FLOOR_PRINTERS: {exc.message}") from None
    if not specs:  # " " or ",": it unbound every configured printer and started no virtual one
        raise click.ClickException(
            "FLOOR_PRINTERS names no printer: NAME=URI,... (unset it for virtual printers)"
        )
    with unit_of_work(floor_ctx.sessions) as s:
        sync_printers(s, specs)
    return f"Printers (FLOOR_PRINTERS): {', '.join(f'{p.name}={p.uri}' for p in specs)}"


def start_virtual_zebras(app: Flask) -> list[PrinterSpec]:
    """One virtual Zebra per active pack station, on a free port of 127.0.0.1."""
    floor_ctx = app.extensions["floor"]
    zebras: dict[str, Any] = app.extensions.setdefault("virtual_zebras", {})
    with unit_of_work(floor_ctx.sessions) as s:
        codes = stations(s)
    specs = []
    for code in codes:
        zebra = zebras.get(code) or VirtualZebra(0).start()
        zebras[code] = zebra
        specs.append(make_spec(code, f"tcp://127.0.0.1:{zebra.port}"))
    return specs
