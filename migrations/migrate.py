"""Run Alembic from code: the app, the CLI and the tests all build the schema this way.

On PostgreSQL the upgrade runs under a session-level advisory lock (``migration_lock``), so two
server processes starting together on an empty database take turns: the second waits, then finds
the schema at head and does nothing (without the lock both create the same tables and one
crashes). SQLite needs no lock: ``BEGIN IMMEDIATE`` already lets one writer in at a time.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.pool import NullPool

ROOT = Path(__file__).resolve().parent.parent
# Any constant shared by every process of the site; chosen once ("floor" + "mig" in ASCII).
MIGRATION_LOCK_KEY = 0x666C6F6F726D6967


def alembic_config(url: str) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.attributes["url"] = url
    return cfg


@contextmanager
def migration_lock(url: str) -> Iterator[None]:
    """Hold PostgreSQL's advisory lock for migrating (and first-run set-up) while inside; a
    no-op on other databases. Session-level: held by one connection across its transactions."""
    if make_url(url).get_backend_name() != "postgresql":
        yield
        return
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
                conn.commit()
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database to ``revision``; safe to run from several processes at once."""
    with migration_lock(url):
        upgrade_holding_lock(url, revision)


def upgrade_holding_lock(url: str, revision: str = "head") -> None:
    """``upgrade`` for a caller already inside ``migration_lock`` (taking it again from another
    connection of the same process would wait for itself)."""
    command.upgrade(alembic_config(url), revision)


@functools.cache
def head_revision() -> str | None:
    """The newest migration's revision. Read once per process: the migration files do not change
    while it runs, and reading them costs ~15 ms of CPU (``/healthz`` asks on every probe)."""
    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


def current_revision(bind: Engine | Connection) -> str | None:
    """The revision the database is at (None before the first migration)."""
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            return current_revision(conn)
    return MigrationContext.configure(bind).get_current_revision()


def schema_drift(engine: Engine) -> list[Any]:
    """Differences between the models and the migrated database (empty = no drift)."""
    from migrations.schema import load_all_models

    metadata = load_all_models()
    with engine.connect() as conn, warnings.catch_warnings():
        # SQLite's reflection cannot read an index on an expression (ix_totes_code_upper), so
        # autogenerate skips comparing it there and says so; PostgreSQL compares it.
        warnings.filterwarnings("ignore", ".*expression-based index")
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(ctx, metadata))
