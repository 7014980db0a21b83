"""The benchmarks' server processes, started as a user would start them, and what they cost:
``flask serve`` (with its SQL statements counted, ``bench._sqlcount``), the app under one
gunicorn worker, ``make serve-prod``'s processes, the bare Socket.IO echo; the CPU seconds of a
process tree and of the whole machine. Used by ``bench_scanloop``, ``bench_printing`` and
``bench.serving.run_modes``."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout_s: float = 60.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer within {timeout_s} s")
        time.sleep(0.2)


def machine_busy() -> float:
    """CPU seconds all cores of this machine have spent busy since boot (``/proc/stat``)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK")


def _tree(pid: int) -> tuple[set[int], dict[int, tuple[int, float]]]:
    """A process and all its descendants, and each process's (parent, CPU ticks)."""
    stats: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(entry.name)] = (int(stat[1]), int(stat[11]) + int(stat[12]))
    tree, grew = {pid}, True
    while grew:
        grew = False
        for p, (ppid, _) in stats.items():
            if ppid in tree and p not in tree:
                tree.add(p)
                grew = True
    return tree, stats


def cpu_s(pid: int) -> float:
    """User + system CPU seconds so far of a process and all its descendants (gunicorn
    workers; serve-prod's gunicorn masters and their workers)."""
    tree, stats = _tree(pid)
    return sum(stats.get(p, (0, 0))[1] for p in tree) / os.sysconf("SC_CLK_TCK")


def pause(pid: int, paused: bool) -> None:
    """Stop (SIGSTOP) or continue (SIGCONT) a server's whole process tree: the server not being
    measured takes no CPU from the one that is, not even its background threads."""
    for p in _tree(pid)[0]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGSTOP if paused else signal.SIGCONT)


@dataclass
class Server:
    """A server subprocess and how to reach it."""

    proc: subprocess.Popen[bytes]
    base: str
    count_file: Path | None = None
    bases: list[str] = field(default_factory=list)  # serve-prod: one per process

    def sql_count(self) -> int:
        if self.count_file is None:
            return 0
        time.sleep(0.25)  # the counter file is rewritten every 0.1 s
        return int(self.count_file.read_text() or 0)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def flask_env(db_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOOR_")}
    env.update(
        FLOOR_DATABASE_URL=db_url,
        FLOOR_SECRET_KEY="bench-scanloop-secret",
        PYTHONUNBUFFERED="1",
    )
    return env


def flask_cli(db_url: str, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *args],
        cwd=ROOT,
        env=flask_env(db_url),
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"flask {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout


SERVE_MODES = ("flask", "gthread", "gevent", "prod")


def serve_argv(mode: str, port: int) -> list[str]:
    """How the server is started: ``flask serve`` (Werkzeug, threading: what ``make run`` runs)
    or the app factory under one gunicorn worker (docs/serving-notes.md)."""
    if mode == "flask":
        return ["--app", "app", "serve", "--port", str(port)]
    gunicorn = ["gunicorn", "-w", "1", "-b", f"127.0.0.1:{port}", "--log-level", "warning"]
    if mode == "gthread":
        return [*gunicorn, "-k", "gthread", "--threads", "400", "app:create_app()"]
    return [*gunicorn, "-k", "gevent", "--worker-connections", "4000", "app:create_app()"]


def start_prod_servers(
    db_url: str,
    workdir: Path,
    processes: int,
    redis_url: str,
    env_extra: dict[str, str] | None = None,
) -> Server:
    """``python -m web.serve_prod --workers N`` (what ``make serve-prod`` runs): N gunicorn
    gevent processes on consecutive ports; handhelds are spread over them round-robin, as
    nginx ``ip_hash`` would. No SQL counter (the workers are grandchildren)."""
    port = free_port() + 1
    env = flask_env(db_url) | (env_extra or {})
    if redis_url:
        env["FLOOR_REDIS_URL"] = redis_url
    log = (workdir / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "web.serve_prod", "--workers", str(processes),
         "--base-port", str(port)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    bases = [f"http://127.0.0.1:{port + i}" for i in range(processes)]
    server = Server(proc, bases[0], None, bases)
    try:
        for base in bases:
            wait_http(base + "/healthz")
    except RuntimeError:
        server.stop()
        raise
    return server


def start_floor_server(
    db_url: str, workdir: Path, mode: str = "flask", env_extra: dict[str, str] | None = None
) -> Server:
    port = free_port()
    count_file = workdir / "sql_count"
    env = flask_env(db_url) | {"BENCH_SQL_COUNT_FILE": str(count_file)} | (env_extra or {})
    if mode != "flask":
        env["FLOOR_RUN_SCHEDULER"] = "1"  # what `serve` turns on; gunicorn runs the factory
    log = (workdir / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench._sqlcount", *serve_argv(mode, port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = Server(proc, f"http://127.0.0.1:{port}", count_file)
    try:
        wait_http(server.base + "/healthz")
    except RuntimeError:
        server.stop()
        raise
    return server


def start_echo_server(workdir: Path) -> Server:
    port = free_port()
    log = (workdir / "echo.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.serving.echo_app", "--port", str(port)],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = Server(proc, f"http://127.0.0.1:{port}")
    wait_http(server.base + "/healthz")
    return server
