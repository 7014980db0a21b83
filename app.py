"""The floor server's composition root: ``create_app(config)`` wires the engine, sessions,
Socket.IO, CSRF, blueprints and CLI. Nothing is built at import time.

    flask --app app serve          # migrate and serve (an empty database stays empty)
    flask --app app serve --demo   # … and load the demo warehouse into an empty database
    flask --app app --help     # every command
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask

ROOT = Path(__file__).resolve().parent


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    from flask_socketio import SocketIO
    from flask_wtf.csrf import CSRFProtect

    from core.db import default_sqlite_url, make_engine, make_session_factory, read_only
    from core.events import on_commit
    from core.settings import Settings, SettingsError
    from floor.site.settings import configure_defaults
    from migrations.schema import load_all_models
    from web import (
        auth,
        cli,
        device_pages,
        health,
        inputs,
        pages,
        picking_sockets,
        printing_pages,
        printing_setup,
        security_headers,
        shift_pages,
        sockets,
    )
    from web.context import WRITE_SLOTS, FloorContext, WriteSlots
    from web.live import ROOM as LIVE_ROOM
    from web.live import DashboardLive
    from web.login_guard import LoginGuard
    from web.scheduler import SchedulerLeader, build_scheduler
    from web.socket_packets import JsonFirstPacket, PacketJson

    # Every mapper before the first flush: a flush sorts all tables and resolves every foreign
    # key (scans.device_id → devices). `flask serve` got them from its migration; a gunicorn
    # worker runs no migration, so the first scan failed there.
    load_all_models()
    try:
        settings = Settings.from_env().with_overrides(config)
    except SettingsError as exc:  # one line, no traceback: `flask` prints "Error: …", exits 1
        import click

        raise click.ClickException(exc.message) from None
    app = Flask(
        __name__,
        instance_path=str(ROOT / "instance"),
        template_folder=str(ROOT / "web" / "templates"),
        static_folder=str(ROOT / "web" / "static"),
    )
    app.config.update(
        SECRET_KEY=settings.effective_secret_key(),
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        # A login lasts one long shift; a request that changes nothing in the session does not
        # renew the cookie (signing and sending it anew cost ~0.5 ms of CPU per request).
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=sockets.LOGIN_S),  # 12 h (the sweep's too)
        SESSION_REFRESH_EACH_REQUEST=False,
        WTF_CSRF_TIME_LIMIT=None,
    )
    app.config.update({k: v for k, v in settings.extra.items() if k.isupper()})
    app.json.sort_keys = False  # type: ignore[attr-defined]

    url = settings.database_url or default_sqlite_url(app.instance_path)
    engine = make_engine(url, sqlite_synchronous=settings.sqlite_synchronous)
    sessions = make_session_factory(engine)
    readers = make_session_factory(read_only(engine))
    socketio = SocketIO(
        app,
        async_mode=async_mode(settings.async_mode),
        message_queue=settings.redis_url or None,
        cors_allowed_origins=sockets.same_origin_check(settings.origins()),
        # A handheld's events in order on its own connection's thread: no thread per event
        async_handlers=False,
        serializer=JsonFirstPacket,  # an ack's payload encoded once, not walked first
        json=PacketJson,  # orjson writes a packet ~13× faster than the standard library
    )
    app.session_interface = sockets.SocketSessions()  # no cookie decoding per socket event
    app.wsgi_app = sockets.NoDelay(app.wsgi_app)  # type: ignore[method-assign]
    security_headers.install(app, trusted_proxies=settings.trusted_proxies)
    floor_ctx = FloorContext(
        settings=settings,
        engine=engine,
        sessions=sessions,
        readers=readers,
        socketio=socketio,
        login_guard=LoginGuard(
            settings.redis_url or "memory://",
            settings.login_limit_user,
            settings.login_limit_address,
        ),
        sockets=sockets.SocketRegistry(socketio),
    )
    live = DashboardLive(
        lambda name, data, room: socketio.emit(name, data, to=room, namespace=sockets.NAMESPACE),
        readers,  # it only reads: on SQLite no writer lock while it computes
        zone=pages.zone_named(settings.timezone),  # the site's day: the shift and the figures
        # One process knows its listeners; through Redis a page on another process may listen.
        watched=(lambda: True)
        if settings.redis_url
        else (lambda: sockets.room_has_members(socketio, LIVE_ROOM)),
    )
    floor_ctx.live = live
    if engine.dialect.name == "postgresql":
        floor_ctx.write_slots = WriteSlots(WRITE_SLOTS)
    app.extensions["floor"] = floor_ctx
    on_commit(sessions, sockets.emitter(socketio, readers, local_rooms_only=not settings.redis_url))
    on_commit(sessions, live.add)  # the dashboard's coalesced feed (web/live.py)
    wire_domain_handlers(sessions, settings)
    configure_defaults(sessions, location_confirm=settings.location_confirm)
    floor_ctx.devices = device_pages.build_hub(settings, sessions, socketio)

    inputs.install(app)  # bounded path ids, query, form and JSON input (before the routes)
    csrf = CSRFProtect(app)
    for bp in (auth.bp, health.bp, pages.bp, shift_pages.bp):
        app.register_blueprint(bp)
    for module in _optional_blueprints():
        app.register_blueprint(module.bp)
        if getattr(module, "CSRF_EXEMPT", False):
            csrf.exempt(module.bp)
    sockets.register(socketio)
    picking_sockets.register(socketio)
    printing_pages.register_sockets(socketio)
    device_pages.register(socketio)
    cli.register(app)
    floor_ctx.scheduler = build_scheduler(floor_ctx, _job_providers())
    printing_setup.install(app)
    floor_ctx.scheduler_leader = SchedulerLeader(floor_ctx.scheduler, engine)
    if settings.run_scheduler:
        floor_ctx.scheduler_leader.start()  # in one process of several (web/scheduler.py)
        floor_ctx.print_worker.start()  # in every process: claims are leases (printing/)
        floor_ctx.sockets.start_sweeping(floor_ctx.sessions)  # each process's own sockets
    if settings.run_devices:
        device_pages.start_hub(floor_ctx.devices)
    return app


def async_mode(setting: str) -> str:
    """Socket.IO's async mode: the setting, else ``gevent`` when gevent has monkey-patched the
    stdlib (a ``gunicorn -k gevent`` worker), else ``threading`` (Werkzeug, ``make run``)."""
    if setting:
        return setting
    try:
        from gevent import monkey
    except ImportError:
        return "threading"
    return "gevent" if monkey.is_module_patched("socket") else "threading"


def wire_domain_handlers(sessions: Any, settings: Any) -> None:
    """Upper layers react to lower layers' domain events, in the same transaction."""
    from functools import partial

    from core.events import handle
    from printing.labels import queue_shipping_label, site_address

    site = site_address(settings.site_address)
    handle(sessions, "package.shipped", partial(queue_shipping_label, site=site))


def _optional_blueprints() -> list[Any]:
    """Feature blueprints (API, sync, …) register themselves here as they land."""
    from web import (
        admin_users,
        api,
        device_pages,
        documents_pages,
        orders_pages,
        pack_pages,
        printing_pages,
        sync_pages,
        waves_api,
        waves_pages,
    )

    return [
        admin_users,
        api,
        device_pages,
        documents_pages,
        orders_pages,
        pack_pages,
        printing_pages,
        sync_pages,
        waves_api,
        waves_pages,
    ]


def _job_providers() -> list[Any]:
    """Scheduled-job providers (``web/scheduler.py``) register themselves here as they land."""
    from floor.fulfilment.waves import jobs as wave_jobs
    from sync import jobs as sync_jobs

    return [sync_jobs.register_jobs, wave_jobs.register_jobs]
