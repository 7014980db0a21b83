"""Test fixtures on real parts: a migrated database (SQLite always; PostgreSQL where
TEST_DATABASE_URL is set, required in CI: tests/services.py), the real app, a real HTTP server
on a free port for Socket.IO and browser tests. Builders for the data and the people in a test
live in tests/factories.py; test modules import from there, never from a conftest.

Every test that takes ``db_url`` (directly or through ``app``) runs once per backend. The
schema is built with Alembic once per backend into a template (demo warehouse loaded); each test
gets a copy: a file copy for SQLite, ``CREATE DATABASE … TEMPLATE`` for PostgreSQL. Under
pytest-xdist every worker builds its own templates (named after the worker), so workers never
drop each other's databases.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from core.db import make_engine, make_session_factory, unit_of_work
from migrations import migrate
from tests import services
from tests.factories import LiveServer, make_test_app

pytest_plugins = ["tests.browser"]

BACKENDS = ["sqlite", "postgresql"]
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1", … under pytest-xdist


def pytest_configure(config: pytest.Config) -> None:
    missing = services.missing_variables()
    if missing:
        raise pytest.UsageError(
            f"FLOOR_REQUIRE_SERVICES=1 but {' and '.join(missing)} not set: "
            "CI runs every test on PostgreSQL and Redis (see .ci/run)"
        )


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
        self.prefix = f"{base}_floor{'_' + WORKER if WORKER else ''}"
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
    if not services.PG_URL:
        services.skip_or_fail("TEST_DATABASE_URL is not set: PostgreSQL tests skipped")
    t = PgTemplates(services.PG_URL)
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


@pytest.fixture
def app(db_url: str) -> Iterator[Any]:
    application = make_test_app(db_url)
    yield application
    application.extensions["floor"].close()


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def sessions(request: pytest.FixtureRequest, db_url: str) -> Iterator[sessionmaker[Session]]:
    """The session factory on this test's database. When the test also has the app, it is the
    app's own factory, so commits reach its sockets and domain handlers as in production;
    otherwise a plain factory (the domain without the web)."""
    if "app" in request.fixturenames:
        yield request.getfixturevalue("app").extensions["floor"].sessions
        return
    engine = make_engine(db_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def live_server(app: Any) -> Iterator[LiveServer]:
    server = LiveServer(app)
    yield server
    server.stop()


@pytest.fixture
def redis_url() -> str:
    """The Redis server of ``REDIS_URL`` (the tests that need one skip, or fail in CI)."""
    if not services.REDIS_URL:
        services.skip_or_fail("REDIS_URL is not set: Redis tests skipped")
    return services.REDIS_URL
