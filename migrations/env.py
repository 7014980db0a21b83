"""Alembic environment: the URL comes from the caller (migrations.migrate) or FLOOR_DATABASE_URL."""

from __future__ import annotations

import os
import warnings

from alembic import context

from core.db import default_sqlite_url, make_engine
from migrations.schema import load_all_models

config = context.config
target_metadata = load_all_models()


def _url() -> str:
    return (
        config.attributes.get("url")
        or os.environ.get("FLOOR_DATABASE_URL")
        or default_sqlite_url(os.path.join(os.getcwd(), "instance"))
    )


def run_migrations_offline() -> None:
    context.configure(
        url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url())
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction(), warnings.catch_warnings():
        # A batch alteration on SQLite reflects its table and the tables its foreign keys name;
        # SQLite's reflection cannot read an index on an expression (ix_totes_code_upper) and
        # says so for each of them - on the first `make run`, above the banner, about an index
        # nothing touches. A batch alteration *of* such a table would drop the index: that
        # migration must create it again (tests/test_foundation.py checks it is there).
        if connection.dialect.name == "sqlite":
            warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based")
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
