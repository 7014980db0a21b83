"""Test fixtures on real parts: a migrated database (SQLite always; PostgreSQL where
TEST_DATABASE_URL is set), the real app, a real HTTP server on a free port for Socket.IO and
browser tests.

Every test that takes ``db_url`` (directly or through ``app``) runs once per backend. The
schema is built with Alembic once per backend into a template (demo warehouse loaded); each test
gets a copy: a file copy for SQLite, ``CREATE DATABASE … TEMPLATE`` for PostgreSQL.
"""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from werkzeug.serving import make_server

from core.db import make_engine, make_session_factory, unit_of_work
from migrations import migrate

pytest_plugins = ["tests.browser"]

PG_URL = os.environ.get("TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("REDIS_URL", "")
BACKENDS = ["sqlite", "postgresql"]


def _load_demo(url: str) -> None:
    from web.demo import load_demo

    engine = make_engine(url)
    try:
        with unit_of_work(make_session_factory(engine)) as s:
            load_demo(s)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def sqlite_templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("db-templates")
    empty = base / "empty.sqlite3"
    migrate.upgrade(f"sqlite:///{empty}")
    demo = base / "demo.sqlite3"
    _checkpoint_copy(empty, demo)
    _load_demo(f"sqlite:///{demo}")
    _checkpoint(demo)
    return {"empty": empty, "demo": demo}


def _checkpoint(path: Path) -> None:
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()


def _checkpoint_copy(src: Path, dst: Path) -> None:
    _checkpoint(src)
    shutil.copyfile(src, dst)


class PgTemplates:
    """Creates per-test databases from migrated templates on the TEST_DATABASE_URL server."""

    def __init__(self, url: str) -> None:
        self.url = make_url(url)
        self.admin = create_engine(self.url, isolation_level="AUTOCOMMIT")
        base = self.url.database or "test"
        self.prefix = f"{base}_floor"
        self.templates = {"empty": f"{self.prefix}_tpl_empty", "demo": f"{self.prefix}_tpl_demo"}
        self._drop(self.templates["demo"])
        self._drop(self.templates["empty"])
        self._create(self.templates["empty"])
        migrate.upgrade(self.url_for(self.templates["empty"]))
        self._create(self.templates["demo"], template=self.templates["empty"])
        _load_demo(self.url_for(self.templates["demo"]))

    def url_for(self, name: str) -> str:
        return self.url.set(database=name).render_as_string(hide_password=False)

    def _create(self, name: str, template: str | None = None) -> None:
        with self.admin.connect() as conn:
            tpl = f' TEMPLATE "{template}"' if template else ""
            conn.execute(text(f'CREATE DATABASE "{name}"{tpl}'))

    def _drop(self, name: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def new(self, kind: str) -> str:
        name = f"{self.prefix}_{uuid.uuid4().hex[:12]}"
        self._create(name, template=self.templates[kind])
        return name

    def drop(self, name: str) -> None:
        self._drop(name)


@pytest.fixture(scope="session")
def pg_templates() -> Iterator[PgTemplates]:
    if not PG_URL:
        pytest.skip("TEST_DATABASE_URL is not set: PostgreSQL tests skipped")
    t = PgTemplates(PG_URL)
    yield t
    t.admin.dispose()


def _database(request: pytest.FixtureRequest, kind: str, tmp_path: Path) -> Iterator[str]:
    backend = request.param
    if backend == "sqlite":
        templates = request.getfixturevalue("sqlite_templates")
        path = tmp_path / f"{kind}.sqlite3"
        shutil.copyfile(templates[kind], path)
        yield f"sqlite:///{path}"
        return
    pg: PgTemplates = request.getfixturevalue("pg_templates")
    name = pg.new(kind)
    try:
        yield pg.url_for(name)
    finally:
        pg.drop(name)


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated database with the demo warehouse, once per backend."""
    yield from _database(request, "demo", tmp_path)


@pytest.fixture(params=BACKENDS)
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database, once per backend."""
    yield from _database(request, "empty", tmp_path)


@pytest.fixture
def sqlite_url(sqlite_templates: dict[str, Path], tmp_path: Path) -> str:
    """SQLite only (for tests whose subject is not the database)."""
    path = tmp_path / "demo.sqlite3"
    shutil.copyfile(sqlite_templates["demo"], path)
    return f"sqlite:///{path}"


def make_test_app(url: str, **overrides: Any) -> Any:
    from app import create_app

    config = {"database_url": url, "secret_key": "test-secret", "TESTING": True}
    config.update(overrides)
    return create_app(config)


@pytest.fixture
def app(db_url: str) -> Iterator[Any]:
    application = make_test_app(db_url)
    yield application
    application.extensions["floor"].engine.dispose()


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def sessions(app: Any) -> Any:
    return app.extensions["floor"].sessions


class LiveServer:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)


@pytest.fixture
def live_server(app: Any) -> Iterator[LiveServer]:
    server = LiveServer(app)
    yield server
    server.stop()


def login(
    client: Any,
    *,
    username: str | None = None,
    password: str | None = None,
    badge: str | None = None,
) -> Any:
    """Log a Flask test client in through the real form (with its CSRF token)."""
    import re

    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token, "login page has no CSRF token"
    data = {"csrf_token": token.group(1)}
    if badge is not None:
        data["badge"] = badge
    else:
        data.update(username=username or "", password=password or "")
    return client.post("/login", data=data)
