"""Production serving: N server processes, each ``gunicorn -k gevent -w 1`` on its own port.

    make serve-prod WORKERS=2            # = python -m web.serve_prod --workers 2
    python -m web.serve_prod --workers 2 --host 127.0.0.1 --base-port 5001

Why this shape (measurements: docs/serving-notes.md, docs/deploy.md):

* **gevent worker.** The only mode measured with a read time-out for a request's headers
  (``--keep-alive`` s: a half-open connection is closed, not held), a connection cap that costs
  no thread (``--worker-connections``) and ``/healthz`` answering through 19,000 half-open
  connections. The app picks ``async_mode="gevent"`` itself under it (``app.async_mode``).
* **One worker per process, one port per process.** Flask-SocketIO keeps a client's session in
  the process that accepted it, and gunicorn's own balancing is not sticky; the reverse proxy
  in front (nginx ``ip_hash``) keeps each client on one port. All processes share
  ``FLOOR_REDIS_URL`` as the Socket.IO message queue, so an emit in one reaches clients of all.
* **Scheduled jobs once.** Every process gets ``FLOOR_RUN_SCHEDULER=1``; one wins the leader
  lock (``web.scheduler.SchedulerLeader``), the others take over if it dies.
* **One CPU per process** (``FLOOR_SERVER_CPU``, ``core.affinity``): process *i* runs on the
  *i*-th CPU; ``off`` leaves them free.
* The migration runs once here, before any server starts, and so does the printers table's
  sync from ``FLOOR_PRINTERS`` (``flask sync-printers``; ``serve`` does it itself). The demo is
  never loaded, nor are virtual printers started.

More than one process needs PostgreSQL (``FLOOR_DATABASE_URL``) and Redis (``FLOOR_REDIS_URL``):
SQLite's writer lock is per process, and without the message queue a change made through one
process would never reach the handhelds connected to another. This module only starts
processes; of the app it imports only ``core.affinity`` and ``core.settings``.
"""

from __future__ import annotations

import argparse
import functools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from core.affinity import choose_cpu
from core.settings import Settings, SettingsError

ROOT = Path(__file__).resolve().parent.parent

# Chosen by measurement (docs/deploy.md → Time-outs and limits).
KEEP_ALIVE_S = 5  # header read time-out and idle keep-alive (gevent worker); must be > 0
WORKER_CONNECTIONS = 2000  # open connections per process; more wait in the kernel backlog
TIMEOUT_S = 30  # the master restarts a worker that did not heart-beat for this long
GRACEFUL_TIMEOUT_S = 20
MIN_SECRET_KEY = 16  # characters of FLOOR_SECRET_KEY


def gunicorn_argv(host: str, port: int, args: argparse.Namespace) -> list[str]:
    return [
        sys.executable, "-m", "gunicorn",
        "-k", "gevent", "-w", "1",
        "-b", f"{host}:{port}",
        "--worker-connections", str(args.worker_connections),
        "--keep-alive", str(args.keep_alive),
        "--timeout", str(TIMEOUT_S),
        "--graceful-timeout", str(GRACEFUL_TIMEOUT_S),
        "--limit-request-line", "4094",
        "--limit-request-fields", "50",
        "--limit-request-field_size", "8190",
        "--backlog", "512",
        "--forwarded-allow-ips", args.forwarded_allow_ips,
        "--access-logfile", "-" if args.access_log else "/dev/null",
        "--log-level", "warning",
        "app:create_app()",
    ]  # fmt: skip


def refuse(args: argparse.Namespace, env: dict[str, str]) -> str | None:
    """Why this configuration must not start, or None."""
    if args.workers < 1:
        return "--workers must be at least 1"
    if args.keep_alive <= 0:
        return "--keep-alive must be > 0 (0 would read requests without a time-out)"
    if args.workers > 1:
        if not env.get("FLOOR_DATABASE_URL", "").startswith("postgresql"):
            return "several processes need FLOOR_DATABASE_URL=postgresql+psycopg://…"
        if not env.get("FLOOR_REDIS_URL"):
            return "several processes need FLOOR_REDIS_URL (the Socket.IO message queue)"
    try:
        Settings.from_env(env)
    except SettingsError as exc:  # every process would refuse it: say so once, before any starts
        return exc.message
    try:
        choose_cpu(env.get("FLOOR_SERVER_CPU", "auto"))
    except ValueError as exc:
        return str(exc)
    if not env.get("FLOOR_SECRET_KEY"):
        return "set FLOOR_SECRET_KEY (shared by every process: sessions must survive a switch)"
    if len(env["FLOOR_SECRET_KEY"].strip()) < MIN_SECRET_KEY:
        # It signs the session cookie: a short key is found from one cookie offline, and then
        # any session (an admin's) can be forged.
        return (
            f"FLOOR_SECRET_KEY is shorter than {MIN_SECRET_KEY} characters: make one with "
            "python -c 'import secrets; print(secrets.token_hex(32))'"
        )
    return None


def _whole(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` to ``high``, else argparse's one-line
    "invalid value" (exit 2), not a traceback."""

    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{raw[:40]!r}: a whole number from {low} to {high}")
        return value

    return parse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # A string default goes through its type as well: WORKERS=abc is refused like --workers abc.
    parser.add_argument(
        "--workers", type=_whole(1, 64), default=os.environ.get("WORKERS", "").strip() or "1"
    )
    parser.add_argument("--host", default=os.environ.get("FLOOR_HOST", "127.0.0.1"))
    parser.add_argument(
        "--base-port", type=_whole(1, 65535), default=5001, help="process i listens on +i"
    )
    parser.add_argument("--worker-connections", type=_whole(1, 100_000), default=WORKER_CONNECTIONS)
    parser.add_argument("--keep-alive", type=_whole(1, 3600), default=KEEP_ALIVE_S)
    parser.add_argument("--forwarded-allow-ips", default="127.0.0.1")
    parser.add_argument("--access-log", action="store_true")
    args = parser.parse_args(argv)
    if args.base_port + args.workers - 1 > 65535:
        parser.error(f"--base-port {args.base_port} leaves no port for process {args.workers}")
    env = dict(os.environ)
    if (why := refuse(args, env)) is not None:
        print(f"serve-prod: {why}", file=sys.stderr)
        return 2
    # The one-off commands run without FLOOR_RUN_SCHEDULER: with it, `flask db-upgrade` started
    # the scheduler leader (and its jobs) inside the migrating process.
    steps_env = {k: v for k, v in env.items() if k != "FLOOR_RUN_SCHEDULER"}
    env.update(FLOOR_RUN_SCHEDULER="1", FLOOR_ASYNC_MODE="gevent", PYTHONUNBUFFERED="1")
    for step in ("db-upgrade", "sync-printers") if env.get("FLOOR_PRINTERS") else ("db-upgrade",):
        done = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "app", step], cwd=ROOT, env=steps_env
        )
        if done.returncode != 0:  # it said why on stderr; a CalledProcessError added a traceback
            print(f"serve-prod: flask {step} failed; no process started", file=sys.stderr)
            return 2
    procs = []
    for i in range(args.workers):
        port = args.base_port + i
        # Process i on the i-th CPU (core.affinity), set before gunicorn starts: its worker
        # and every thread inherit it.
        cpu = choose_cpu(env.get("FLOOR_SERVER_CPU", "auto"), i)
        pin = None if cpu is None else functools.partial(os.sched_setaffinity, 0, {cpu})
        procs.append(
            # Its own session: a terminal's Ctrl-C (SIGINT to the whole foreground group) reaches
            # this script only, which stops each process with SIGTERM. Straight to the gevent
            # workers, SIGINT ended each with a "SystemExit: 0" traceback.
            subprocess.Popen(
                gunicorn_argv(args.host, port, args),
                cwd=ROOT,
                env=env,
                preexec_fn=pin,
                start_new_session=True,
            )
        )
        where = "" if cpu is None else f" (CPU {cpu})"
        print(f"serve-prod: process {i + 1} on http://{args.host}:{port}/{where}", flush=True)

    def stop(signum: int, _frame: object) -> None:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, stop)  # the terminal closed: its group no longer holds them
    code = 0
    while any(p.poll() is None for p in procs):
        for p in procs:  # one process gone: stop the rest, let the supervisor restart us
            if p.poll() is not None and p.returncode != 0 and code == 0:
                code = p.returncode or 1
                print(f"serve-prod: pid {p.pid} exited with {p.returncode}", file=sys.stderr)
                stop(signal.SIGTERM, None)
        time.sleep(0.5)
    return code


if __name__ == "__main__":
    sys.exit(main())
