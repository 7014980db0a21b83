"""Flask CLI commands: thin callers of the same services the web uses."""

from __future__ import annotations

import errno
import gc
import logging
import math
import os
import signal
import socket
import sys
import time
from typing import Any
from urllib.parse import urlsplit

import click
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, OperationalError

from core.affinity import pin_this_process
from core.db import unit_of_work
from core.users import ApiKey, Role, User
from core.wal_checkpoint import WalCheckpointer
from migrations import migrate


def register(app: Flask) -> None:
    from web.context import FloorContext

    def fctx() -> FloorContext:
        return app.extensions["floor"]

    @app.cli.command("db-upgrade")
    def db_upgrade() -> None:
        """Apply every Alembic migration (the only way the schema changes)."""
        try:
            migrate.upgrade(fctx().engine.url.render_as_string(hide_password=False))
        except OperationalError as exc:
            raise _unreachable(fctx().engine, exc) from None
        click.echo(f"database at {migrate.current_revision(fctx().engine)}")

    @app.cli.command("sync-printers")
    def sync_printers_command() -> None:
        """Write FLOOR_PRINTERS into the printers table (serve does it as it starts)."""
        from web.printing_setup import configured_printers

        if not fctx().settings.printers:
            raise click.UsageError("FLOOR_PRINTERS is not set")
        click.echo(configured_printers(app))

    @app.cli.command("demo")
    def demo() -> None:
        """Load the demo warehouse into an empty database."""
        from web.demo import load_demo

        try:
            with unit_of_work(fctx().sessions) as s:
                counts = load_demo(s)
        except RuntimeError as exc:  # the database already holds a warehouse
            raise click.ClickException(str(exc)) from None
        click.echo("demo warehouse loaded: " + ", ".join(f"{k}={v}" for k, v in counts.items()))

    @app.cli.command("create-user")
    @click.argument("username")
    @click.argument("role", type=click.Choice([r.value for r in Role]))
    @click.option("--password", default=None)
    @click.option("--badge", default=None)
    def create_user_cmd(username: str, role: str, password: str | None, badge: str | None) -> None:
        """Create a user (password for desk roles, badge for handhelds)."""
        from core.accounts import create_user

        username = _account_name(username, "username", 60)
        # A scan is stripped at login (core.accounts.login_with_badge): a badge stored with its
        # spaces (or only spaces) never matched, though the user was reported created.
        badge = (badge or "").strip() or None
        if role != Role.picker and not password:
            raise click.ClickException(f"a {role} logs in with a password: add --password")
        if role == Role.picker and not (badge or password):
            raise click.ClickException("a picker logs in with a badge: add --badge")
        try:
            with unit_of_work(fctx().sessions) as s:
                taken = s.scalar(
                    select(User.username).where(func.lower(User.username) == username.lower())
                )
                if taken is not None:
                    raise click.ClickException(f"user {taken!r} exists already")
                create_user(s, username, Role(role), password=password, badge=badge)
        except IntegrityError:  # its message would print the credential hashes
            raise click.ClickException("that badge belongs to another user") from None
        click.echo(f"user {username} ({role}) created")

    @app.cli.command("create-api-key")
    @click.argument("name")
    def create_api_key_cmd(name: str) -> None:
        """Create an OMS API key; the key is printed once and stored only as a hash."""
        from core.accounts import create_api_key

        name = _account_name(name, "key name", 80)
        with unit_of_work(fctx().sessions) as s:
            if s.scalar(select(ApiKey.id).where(ApiKey.name == name)) is not None:
                raise click.ClickException(f"an API key named {name!r} exists already")
            _, clear = create_api_key(s, name)
        click.echo(clear)

    @app.cli.command("revoke-api-key")
    @click.argument("name")
    def revoke_api_key_cmd(name: str) -> None:
        """Revoke an OMS API key by name: it is refused from the next request on."""
        from core.accounts import revoke_api_key

        try:
            with unit_of_work(fctx().sessions) as s:
                revoke_api_key(s, name.strip())
        except LookupError:
            raise click.ClickException(f"no API key {name.strip()!r} in use") from None
        click.echo(f"API key {name.strip()} revoked")

    @app.cli.command("deactivate-user")
    @click.argument("username")
    def deactivate_user_cmd(username: str) -> None:
        """Deactivate a user: their sessions and live sockets end on every server process."""
        from core.accounts import deactivate_user

        try:
            with unit_of_work(fctx().sessions) as s:
                deactivate_user(s, username)
        except LookupError:
            raise click.ClickException(f"no user {username!r}") from None
        click.echo(f"user {username} deactivated; their sessions are ended")

    @app.cli.command("simulate")
    @click.option("--orders", default=100, show_default=True, type=click.IntRange(1))
    @click.option("--pickers", default=5, show_default=True, type=click.IntRange(1))
    @click.option("--packers", default=1, show_default=True, type=click.IntRange(1))
    @click.option(
        "--duration",
        type=click.FloatRange(min=0, min_open=True),
        callback=_finite,
        default=None,
        help="Orders arrive evenly over this many seconds (default: all at once).",
    )
    @click.option(
        "--wrong-scan-rate",
        default=0.02,
        show_default=True,
        type=click.FloatRange(0, 1),
        callback=_finite,
    )
    @click.option(
        "--short-rate",
        default=0.01,
        show_default=True,
        type=click.FloatRange(0, 1),
        callback=_finite,
    )
    @click.option(
        "--offline",
        default=1,
        show_default=True,
        type=click.IntRange(0),
        help="Handhelds that drop off the Wi-Fi once and replay their queue.",
    )
    @click.option(
        "--url",
        default=None,
        callback=_http_url,
        help="The server to drive (default: FLOOR_HOST:FLOOR_PORT, where `serve` listens).",
    )
    @click.option(
        "--api-key",
        envvar="FLOOR_SIM_API_KEY",
        default=None,
        help="OMS key (default: FLOOR_OMS_API_KEY, else the demo key).",
    )
    @click.option("--admin", default="ada", show_default=True, help="Admin who creates users.")
    @click.option("--admin-password", envvar="FLOOR_SIM_ADMIN_PASSWORD", default="admin-demo")
    @click.option("--supervisor", default="sam", show_default=True, help="Plans the waves.")
    @click.option(
        "--supervisor-password", envvar="FLOOR_SIM_SUPERVISOR_PASSWORD", default="supervisor-demo"
    )
    @click.option(
        "--stall",
        default=60.0,
        show_default=True,
        type=click.FloatRange(min=0, min_open=True),
        callback=_finite,
        help="Give up when nothing has moved for this many seconds.",
    )
    @click.option("--seed", default=12, show_default=True)
    @click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
    @click.option("--no-progress", is_flag=True, help="No progress bar on stderr.")
    def simulate_cmd(**opts: Any) -> None:
        """Run a simulated day against a running server (see web/simulator/)."""
        from web.simulator.cli import run

        sys.exit(run(fctx(), opts))

    @app.cli.command("serve")
    @click.option("--host", default=None)
    @click.option("--port", default=None, type=click.IntRange(1, 65535))
    @click.option(
        "--demo",
        is_flag=True,
        default=None,
        help="Load the demo warehouse into an empty database (also FLOOR_DEMO=1).",
    )
    @click.option(
        "--access-log", is_flag=True, help="Log every HTTP request (as make serve-prod's flag)."
    )
    def serve(host: str | None, port: int | None, demo: bool | None, access_log: bool) -> None:
        """Migrate and serve; with --demo, load the demo warehouse into an empty database."""
        f = fctx()
        werkzeug_log = logging.getLogger("werkzeug")
        if not access_log:  # a line per request cost a pack station's close ~3 % of its CPU
            werkzeug_log.setLevel(logging.WARNING)
        # `serve` is the one-process server on purpose (several: `make serve-prod`); Werkzeug's
        # "appears to be used in a production deployment" (printed whenever stdin is not a
        # terminal, as under `make run &`) would only send a newcomer looking for a problem.
        werkzeug_log.addFilter(lambda r: "production deployment" not in r.getMessage())
        if f.socketio.async_mode != "threading":
            # Werkzeug's threads under gevent's loop without its monkey-patching: it served, but
            # Ctrl-C ended in a KeyboardInterrupt traceback and "Aborted!", skipping the clean-up.
            raise click.UsageError(
                f"FLOOR_ASYNC_MODE={f.socketio.async_mode} is for gunicorn -k gevent "
                "(make serve-prod); serve runs threading: unset it"
            )
        demo = f.settings.demo if demo is None else demo
        host = host or f.settings.host
        port = f.settings.port if port is None else port
        _address_free(host, port)  # before start-up rewires the printers (see its docstring)
        url = f.engine.url.render_as_string(hide_password=False)
        try:
            with migrate.migration_lock(url):  # several processes may start at once
                migrate.upgrade_holding_lock(url)
                loaded = _load_demo_if_empty(f) if demo else False
        except OperationalError as exc:
            raise _unreachable(f.engine, exc) from None
        try:
            cpu = pin_this_process(f.settings.server_cpu)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from exc
        banner = _banner(f, host, port, demo=demo, loaded=loaded)
        banner[-1:-1] = _devices_banner(f.devices)  # before "Stop with Ctrl-C"
        if cpu is not None:  # right under the address line
            banner.insert(2, f"Runs on CPU {cpu} (one process, one CPU; FLOOR_SERVER_CPU=off: any)")
        click.echo("\n".join(banner))
        for hook in app.extensions.get("floor_serve_hooks", []):
            hook(app)
        if not f.settings.run_scheduler:  # else create_app has started these already
            f.scheduler_leader.start()
            f.sockets.start_sweeping(f.sessions)
        from web.device_pages import start_hub

        start_hub(f.devices)
        database = f.engine.url.database
        if f.engine.dialect.name == "sqlite" and database not in (None, "", ":memory:"):
            f.checkpointer = WalCheckpointer(database).start()  # WAL copies off the commits
        # What start-up built (modules, mappers, caches) lives as long as the process: out of
        # the collector's sight, a full collection under load paused every thread for 25-45 ms
        # instead of 60-140 ms (200 handhelds, SQLite).
        gc.collect()
        gc.freeze()
        # Flask's CLI refuses app.run() inside a command unless this marker is cleared.
        os.environ.pop("FLASK_RUN_FROM_CLI", None)
        _stop_on_signals()
        f.socketio.run(
            app,
            host=host,
            port=port,
            allow_unsafe_werkzeug=True,
            use_reloader=False,
            log_output=False,
        )
        # The scheduler, the print worker and the timers stop before the interpreter does: a job
        # due during exit would otherwise log "cannot schedule new futures after shutdown".
        click.echo("Stopping: labels being sent finish first ...")
        started = time.monotonic()
        f.close()
        click.echo(f"Stopped in {time.monotonic() - started:.1f} s; everything is in the database.")
        sys.exit(0)


def _unreachable(engine: Any, exc: OperationalError) -> click.ClickException:
    """The database cannot be opened (server down, wrong port, a directory that does not exist):
    one line with the URL, its password hidden, and the driver's first line, not a traceback."""
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else "unreachable"
    return click.ClickException(f"cannot open the database {engine.url!r}: {reason}")


def _finite(_ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """A FloatRange lets nan through (every comparison with it is false) and inf."""
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a finite number", param=param)
    return value


def _http_url(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None  # where `serve` listens (web.simulator.cli.default_url)
    parts = urlsplit(value.strip())
    try:
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        parts = parts._replace(netloc="")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise click.BadParameter(f"{value!r} is not an http:// or https:// URL", param=param)
    return value.strip()


def _address_free(host: str, port: int) -> None:
    """Refuse to start when ``host:port`` is taken — before anything else, because start-up
    writes to the database the server shares: with virtual Zebras it points each station's
    printer at its own new listener. A second ``make run`` beside a running one did that, then
    stopped on "Address already in use", and the running server's labels went to listeners that
    no longer existed (unreachable, then printer_failed)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return  # an address that does not resolve: the server's own start says so
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                return
            raise click.ClickException(
                f"{host}:{port} is in use: is the floor server running already (a second "
                "`make run`)? Stop that one, or serve on another port (FLOOR_PORT, --port)."
            ) from None


def _account_name(raw: str, what: str, max_len: int) -> str:
    """A user's or an API key's name: printable, spaces around it dropped, at most ``max_len``
    characters (its column's width)."""
    name = raw.strip()
    if not 1 <= len(name) <= max_len or not name.isprintable():
        raise click.ClickException(f"a {what} is 1 to {max_len} printable characters")
    return name


def _stop_on_signals() -> None:
    """Ctrl-C, ``kill -INT`` and ``kill -TERM`` (systemd, docker stop) all stop the server the
    same way: the serving loop ends and the process exits 0 after its clean-up. SIGINT is
    handled even when the process was started with it ignored (a non-interactive shell's
    ``&`` does that), and SIGTERM no longer kills the process mid-request."""

    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)


def _load_demo_if_empty(f: Any) -> bool:
    from web.demo import is_loaded, load_demo

    with unit_of_work(f.sessions) as s:
        if is_loaded(s):
            return False
        load_demo(s)
    return True


def _devices_banner(hub: Any) -> list[str]:
    """The serial scanners and scales ``serve`` opens (FLOOR_SCANNERS, FLOOR_SCALES), or why
    none are: a newcomer who set one sees at start-up that it was taken."""
    if hub is None:
        return []
    if hub.config_error:
        return [f"Serial devices: none opened: {hub.config_error}"]
    devices = [("scanner", r.config) for r in hub.scanners.values()]
    devices += [("scale", r.reader.config) for r in hub.scales.values()]
    if not devices:
        return []
    lines = ["Serial devices (their state at /dashboard/devices):"]
    lines += [f"  {kind:<7} {cfg.station:<10} {cfg.port}" for kind, cfg in devices]
    return lines


def _banner(f: Any, host: str, port: int, *, demo: bool, loaded: bool) -> list[str]:
    """The start-up text. It never shows FLOOR_OMS_API_KEY or any stored key; the demo's
    well-known credentials are shown only in demo mode and only while they are accepted."""
    from core.accounts import demo_key_closed, demo_users_closed
    from web.demo import DEMO_API_KEY, DEMO_USERS

    lines = ["", f"Floor server on http://{host}:{port}/  (database: {f.engine.url!r})"]
    with f.sessions() as s:
        has_users = s.scalar(select(func.count()).select_from(User)) or 0
        has_demo = s.scalar(select(User.id).where(User.is_demo.is_(True)).limit(1)) is not None
        users_open = has_demo and not demo_users_closed(s)
        key_open = not demo_key_closed(s, f.settings.oms_api_key or None)
    if loaded:
        lines.append("Demo warehouse loaded into the empty database.")
    if demo and users_open:
        lines.append("Demo users (log in at /login; refused once a real supervisor/admin exists):")
        for u in DEMO_USERS:
            how = f"password {u.password}" if u.password else ""
            badge = f"badge {u.badge}" if u.badge else ""
            lines.append(f"  {u.username:<6} {u.role.value:<11} {how:<26} {badge}")
    elif has_demo:
        lines.append(
            "Demo users are "
            + (
                "closed: a real supervisor or admin exists."
                if not users_open
                else "present (start with --demo to list)."
            )
        )
    if not has_users:
        lines.append(
            "No users yet: flask --app app create-user NAME admin --password … "
            "(or start with --demo for the demo warehouse)."
        )
    if f.settings.oms_api_key:
        lines.append("OMS API key: FLOOR_OMS_API_KEY (set; not shown)")
    elif demo and has_demo and key_open:
        lines.append(f"OMS API key: {DEMO_API_KEY}   (Authorization: Bearer {DEMO_API_KEY})")
    else:
        lines.append("OMS API key: create one with flask --app app create-api-key NAME")
    lines.append("Stop with Ctrl-C; everything is in the database, nothing is lost.")
    return lines
