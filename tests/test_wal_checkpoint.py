"""SQLite's WAL is copied into the database file by a background thread, not by a commit."""

from __future__ import annotations

import time

from sqlalchemy import text

from core.db import make_engine
from core.wal_checkpoint import SAFETY_PAGES, WalCheckpointer


def _write_pages(engine, pages: int) -> None:
    """About ``pages`` 4 KiB pages of new rows, one transaction per 50 pages."""
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS filler (id INTEGER PRIMARY KEY, b BLOB)"))
    for _ in range(pages // 50):
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO filler (b) VALUES (randomblob(3900))"), [{}] * 50)


def test_commits_leave_the_checkpoint_to_the_background_thread(tmp_path):
    path = tmp_path / "wal.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == SAFETY_PAGES
        _write_pages(engine, 1500)  # SQLite alone would have had a commit copy it at 1,000
        checkpointer = WalCheckpointer(str(path), every_s=0.05)
        wal_frames, copied = checkpointer.run_once()
        assert wal_frames > 1000, "a commit checkpointed the WAL by itself"
        assert copied == wal_frames  # nobody was reading: everything is in the file now
        checkpointer.start()
        try:
            _write_pages(engine, 200)  # the log restarts from its beginning and grows again
            deadline = time.monotonic() + 5
            rounds = checkpointer.rounds
            while checkpointer.rounds < rounds + 2:
                assert time.monotonic() < deadline, "the checkpointer thread does not run"
                time.sleep(0.02)
        finally:
            checkpointer.stop()
        wal_frames, copied = WalCheckpointer(str(path)).run_once()
        assert 0 < wal_frames < 1000 and copied == wal_frames
    finally:
        engine.dispose()
