"""SQLite's write-ahead log copied into the database file in the background.

Left to SQLite, the commit that takes the WAL past 1,000 pages copies it (a checkpoint, with its
fsync of the database file) before it returns, inside its transaction's time under the
process's writer lock: every other writer waits. Under 200 handhelds scanning once a second such
commits took 15–240 ms (the rest take ~1 ms), and the scans queued behind them made the p95.

``WalCheckpointer`` runs ``PRAGMA wal_checkpoint(PASSIVE)`` every ``EVERY_S`` seconds on a
connection of its own, outside the writer lock: a passive checkpoint copies what no reader still
needs and never waits for, or blocks, readers and writers. Each connection of the app's engines
(``core.db._configure_sqlite``) raises SQLite's own threshold to ``SAFETY_PAGES``, so a commit
checkpoints by itself only if this thread has fallen that far behind (the WAL then stays under
~40 MB, as before it stayed under ~4 MB).

``flask serve`` starts one for its file database; tests and command-line tools leave SQLite's
own checkpoints at that threshold (and the last connection to close checkpoints everything).
"""

from __future__ import annotations

import logging
import sqlite3
import threading

EVERY_S = 0.5
SAFETY_PAGES = 10_000  # a commit checkpoints by itself past this (SQLite's default: 1,000)

log = logging.getLogger(__name__)


class WalCheckpointer:
    """Background ``PRAGMA wal_checkpoint(PASSIVE)`` on the SQLite file ``path``."""

    def __init__(self, path: str, every_s: float = EVERY_S) -> None:
        self.path = path
        self.every_s = every_s
        self.rounds = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None

    def start(self) -> WalCheckpointer:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="wal-checkpoint", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def run_once(self) -> tuple[int, int]:
        """One passive checkpoint: (frames in the WAL, frames of it now in the database file);
        -1, -1 when the file is not in WAL mode."""
        if self._conn is None:
            self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        _busy, wal_frames, copied = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        self.rounds += 1
        return wal_frames, copied

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.run_once()
            except sqlite3.Error:  # the file went away, or is locked for a moment: next round
                log.debug("WAL checkpoint skipped", exc_info=True)
