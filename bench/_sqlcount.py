"""Run the ``flask`` command line (or gunicorn) with every SQL statement counted (benchmarks).

    python -m bench._sqlcount --app app serve --port 5123
    python -m bench._sqlcount gunicorn -w 1 -k gthread --threads 400 'app:create_app()'

A SQLAlchemy ``before_cursor_execute`` listener on the ``Engine`` class counts each statement
that any engine of this process sends to the database (an ``executemany`` counts once), and a
daemon thread writes the running total to the file named by ``BENCH_SQL_COUNT_FILE`` ten times a
second. The benchmark reads that file at the start and the end of its measuring window; the
difference divided by the scans in the window is the statements per scan. Nothing in the app is
changed: the listener is global to SQLAlchemy and installed before Flask imports the app. The
writer thread is started by the first statement of each process, so a gunicorn worker (forked
after the listener was installed; threads do not survive a fork) writes its own count.
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

_ticket = itertools.count(1)  # next() is atomic under the GIL: safe from every request thread
_total = [0]
_writing = [False]  # this process's writer thread runs (reset in a forked child)


@event.listens_for(Engine, "before_cursor_execute")
def _count(*_args: Any) -> None:
    # No system call here: os.getpid() per statement cost the measured server ~5 % of its CPU
    # (py-spy, gevent worker flat out; a system call is dear on this VM).
    _total[0] = next(_ticket)
    if not _writing[0]:
        _writing[0] = True
        target = os.environ.get("BENCH_SQL_COUNT_FILE", "")
        if target:
            threading.Thread(target=_writer, args=(Path(target), 0.1), daemon=True).start()


os.register_at_fork(after_in_child=lambda: _writing.__setitem__(0, False))


def _writer(path: Path, every_s: float) -> None:
    tmp = path.with_suffix(".tmp")
    while True:
        tmp.write_text(str(_total[0]))
        tmp.replace(path)  # atomic: a reader never sees a half-written number
        time.sleep(every_s)


def main() -> None:
    if sys.argv[1:2] == ["gunicorn"]:
        from gunicorn.app.wsgiapp import run

        sys.argv = sys.argv[1:]
        run()
        return
    from flask.cli import main as flask_main

    sys.argv = ["flask", *sys.argv[1:]]
    flask_main()


if __name__ == "__main__":
    main()
