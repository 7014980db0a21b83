"""Alembic environment: the URL comes from the caller (migrations.migrate) or FLOOR_DATABASE_URL."""

from __future__ import annotations

import os

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
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=True)
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
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
