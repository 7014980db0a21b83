"""Flask CLI commands: thin callers of the same services the web uses."""

from __future__ import annotations

import os
import sys
from typing import Any

import click
from flask import Flask

from core.db import unit_of_work
from core.users import Role
from migrations import migrate


def register(app: Flask) -> None:
    from web.context import FloorContext

    def fctx() -> FloorContext:
        return app.extensions["floor"]

    @app.cli.command("db-upgrade")
    def db_upgrade() -> None:
        """Apply every Alembic migration (the only way the schema changes)."""
        migrate.upgrade(fctx().engine.url.render_as_string(hide_password=False))
        click.echo(f"database at {migrate.current_revision(fctx().engine)}")

    @app.cli.command("demo")
    def demo() -> None:
        """Load the demo warehouse into an empty database."""
        from web.demo import load_demo

        with unit_of_work(fctx().sessions) as s:
            counts = load_demo(s)
        click.echo("demo warehouse loaded: " + ", ".join(f"{k}={v}" for k, v in counts.items()))

    @app.cli.command("create-user")
    @click.argument("username")
    @click.argument("role", type=click.Choice([r.value for r in Role]))
    @click.option("--password", default=None)
    @click.option("--badge", default=None)
    def create_user_cmd(username: str, role: str, password: str | None, badge: str | None) -> None:
        """Create a user (password for desk roles, badge for handhelds)."""
        from core.accounts import create_user

        with unit_of_work(fctx().sessions) as s:
            create_user(s, username, Role(role), password=password, badge=badge)
        click.echo(f"user {username} ({role}) created")

    @app.cli.command("create-api-key")
    @click.argument("name")
    def create_api_key_cmd(name: str) -> None:
        """Create an OMS API key; the key is printed once and stored only as a hash."""
        from core.accounts import create_api_key

        with unit_of_work(fctx().sessions) as s:
            _, clear = create_api_key(s, name)
        click.echo(clear)

    @app.cli.command("serve")
    @click.option("--host", default=None)
    @click.option("--port", default=None, type=int)
    def serve(host: str | None, port: int | None) -> None:
        """Migrate, load the demo warehouse when the database is empty, and serve."""
        from web.demo import DEMO_API_KEY, DEMO_USERS, is_loaded, load_demo

        f = fctx()
        migrate.upgrade(f.engine.url.render_as_string(hide_password=False))
        with unit_of_work(f.sessions) as s:
            fresh = not is_loaded(s)
            if fresh:
                load_demo(s)
        host = host or f.settings.host
        port = port or f.settings.port
        lines: list[Any] = [
            "",
            f"Floor server on http://{host}:{port}/  (database: {f.engine.url.render_as_string()})",
            "Demo users (log in at /login):",
        ]
        for u in DEMO_USERS:
            how = f"password {u.password}" if u.password else ""
            badge = f"badge {u.badge}" if u.badge else ""
            lines.append(f"  {u.username:<6} {u.role.value:<11} {how:<26} {badge}")
        key = f.settings.oms_api_key or DEMO_API_KEY
        lines.append(f"OMS API key: {key}   (Authorization: Bearer {key})")
        lines.append("Stop with Ctrl-C; everything is in the database, nothing is lost.")
        click.echo("\n".join(lines))
        for hook in app.extensions.get("floor_serve_hooks", []):
            hook(app)
        if not f.scheduler.running:
            f.scheduler.start()
        # Flask's CLI refuses app.run() inside a command unless this marker is cleared.
        os.environ.pop("FLASK_RUN_FROM_CLI", None)
        f.socketio.run(
            app,
            host=host,
            port=port,
            allow_unsafe_werkzeug=True,
            use_reloader=False,
            log_output=False,
        )
        sys.exit(0)
