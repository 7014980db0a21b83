"""Scratch PostgreSQL databases for the benchmarks: made next to the database a URL names (which
is never written to), dropped afterwards. Only SQLAlchemy: a benchmark that drives the app from
outside (``bench_scanloop``) imports nothing of the app through this."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, make_url, text


def _admin(pg_url: str, sql: str) -> None:
    engine = create_engine(make_url(pg_url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(sql))
    finally:
        engine.dispose()


def recreate_database(pg_url: str, name: str) -> str:
    """Database ``name`` on the server of ``pg_url``, empty (dropped first if it was there);
    its URL."""
    drop_database(pg_url, name)
    _admin(pg_url, f'CREATE DATABASE "{name}"')
    return make_url(pg_url).set(database=name).render_as_string(hide_password=False)


def drop_database(pg_url: str, name: str) -> None:
    _admin(pg_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def scratch_database(pg_url: str, name: str) -> Iterator[str]:
    """``recreate_database`` for the length of a ``with`` block, dropped at its end."""
    url = recreate_database(pg_url, name)
    try:
        yield url
    finally:
        drop_database(pg_url, name)
