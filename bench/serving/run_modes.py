"""Serving modes side by side: the echo app under each, its Socket.IO round trips, and what a
slowloris of N half-open connections does to ``/healthz`` and memory (docs/serving-notes.md).

    python -m bench.serving.run_modes                          # every mode, 1,000 and 19,000
    python -m bench.serving.run_modes --modes gunicorn-gevent --connections 1000 --hold 20

For each mode the echo app (``bench/serving/echo_app.py``) is started in its own process tree and:

1. **Round trips.** 10 python-socketio clients (WebSocket) flat out for ``--echo-s`` seconds,
   the same client loop as ``bench/bench_scanloop.py``: round trips/s and p50/p95/p99.
2. **Slow clients.** For each N in ``--connections``: ``bench/serving/slowloris.py`` holds N
   connections with unfinished headers for ``--hold`` seconds and then exits; meanwhile and for
   ``--after`` seconds afterwards, ``GET /healthz`` is probed on a new connection every 0.5 s
   (3 s time-out, like a load balancer's health check). Reported: probes answered / sent and the
   p50 / max latency during the attack, the same after it, how long until the first good probe
   after it, the server's memory (RSS of the whole process tree) before, at its peak and after,
   and its thread count at the peak. A mode that is wedged after an attack is restarted before
   the next one.

Modes (``MODES``): Werkzeug's development server in threading mode (what ``flask serve`` runs
now), gunicorn's ``gthread`` worker, gunicorn's ``gevent`` worker with simple-websocket, and
gunicorn with gevent-websocket's worker. Each is one worker process: Flask-SocketIO keeps a
client's state in the process that accepted it, so more processes need sticky sessions and a
message queue (docs/serving-notes.md).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
HERE = Path(__file__).resolve().parent
# engine.io picks gevent-websocket when it can import it; this path hides it (simple-websocket)
HIDE_GEVENTWEBSOCKET = HERE / "hide_geventwebsocket"


@dataclass(frozen=True)
class Mode:
    name: str
    argv: tuple[str, ...]  # {port} is replaced
    env: tuple[tuple[str, str], ...] = ()


GUNICORN = (str(BIN / "gunicorn"), "-b", "127.0.0.1:{port}", "-w", "1", "--log-level", "warning")
MODES = {
    m.name: m
    for m in (
        Mode(
            "werkzeug-threading",
            (sys.executable, "-m", "bench.serving.echo_app", "--port", "{port}"),
        ),
        Mode(
            "gunicorn-gthread",
            (
                *GUNICORN,
                "-k",
                "gthread",
                "--threads",
                "400",
                "--worker-connections",
                "20000",
                "--keep-alive",
                "5",
                "bench.serving.echo_app:make_app('threading')",
            ),
        ),
        Mode(
            "gunicorn-gevent",
            (
                *GUNICORN,
                "-k",
                "gevent",
                "--worker-connections",
                "20000",
                "--keep-alive",
                "5",
                "bench.serving.echo_app:make_app('gevent')",
            ),
            (("PYTHONPATH", str(HIDE_GEVENTWEBSOCKET)),),
        ),
        Mode(
            "gunicorn-geventwebsocket",
            (
                *GUNICORN,
                "-k",
                "geventwebsocket.gunicorn.workers.GeventWebSocketWorker",
                "--worker-connections",
                "20000",
                "--keep-alive",
                "5",
                "bench.serving.echo_app:make_app('gevent')",
            ),
        ),
    )
}


# --------------------------------------------------------------------------
# Processes and probes
# --------------------------------------------------------------------------


def tree(pid: int) -> list[int]:
    """The process and its children (gunicorn: master and worker)."""
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                kids.append(int(entry.name))
    return [pid, *kids]


def status_field(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_mib(pid: int) -> float:
    return sum(status_field(p, "VmRSS") for p in tree(pid)) / 1024


def threads(pid: int) -> int:
    return sum(status_field(p, "Threads") for p in tree(pid))


def probe(base: str, timeout_s: float = 3.0) -> float | None:
    """Seconds for GET /healthz on a new connection, or None if it failed or timed out."""
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(base + "/healthz", timeout=timeout_s) as r:
            r.read()
            return time.perf_counter() - t0 if r.status == 200 else None
    except OSError:
        return None


def start(mode: Mode, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ) | dict(mode.env)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH", ""), str(ROOT)) if p)
    argv = [a.replace("{port}", str(port)) for a in mode.argv]
    proc = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 30
    while probe(f"http://127.0.0.1:{port}", 1.0) is None:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{mode.name} did not start: {log.read_text()[-2000:]}")
        time.sleep(0.2)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


# --------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------


def echo_rate(base: str, proc: subprocess.Popen[bytes], seconds: float) -> dict[str, Any]:
    from bench.bench_scanloop import drive
    from bench.server_processes import Server

    out = asyncio.run(drive(base, [""] * 10, None, 1.0, seconds, Server(proc, base)))
    return {k: out[k] for k in ("scans_per_s", "p50_ms", "p95_ms", "p99_ms", "errors")}


def summary(lat: list[float | None]) -> dict[str, Any]:
    good = sorted(x for x in lat if x is not None)
    return {
        "answered": len(good),
        "probes": len(lat),
        "p50_ms": round(statistics.median(good) * 1000, 1) if good else None,
        "max_ms": round(good[-1] * 1000, 1) if good else None,
    }


def slowloris(
    base: str, port: int, pid: int, connections: int, hold_s: float, after_s: float
) -> dict[str, Any]:
    rss_before = rss_mib(pid)
    attacker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.serving.slowloris",
            "--port",
            str(port),
            "--connections",
            str(connections),
            "--hold",
            str(hold_s),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    during: list[float | None] = []
    peak_rss, peak_threads = rss_before, threads(pid)
    time.sleep(min(3.0, hold_s / 3))  # let the sockets open
    while attacker.poll() is None:
        during.append(probe(base))
        peak_rss = max(peak_rss, rss_mib(pid))
        peak_threads = max(peak_threads, threads(pid))
        time.sleep(0.5)
    attack = json.loads(attacker.stdout.read() or "{}")
    ended = time.perf_counter()
    after: list[float | None] = []
    first_good_s = None
    while time.perf_counter() - ended < after_s:
        took = probe(base)
        after.append(took)
        if took is not None and first_good_s is None:
            first_good_s = round(time.perf_counter() - ended, 1)
        time.sleep(0.5)
    return {
        "connections": connections,
        "attacker": attack,
        "during": summary(during),
        "after": summary(after),
        "first_good_after_s": first_good_s,
        "rss_mib": {
            "before": round(rss_before),
            "peak": round(peak_rss),
            "after": round(rss_mib(pid)),
        },
        "peak_threads": peak_threads,
    }


def run_mode(mode: Mode, args: argparse.Namespace, port: int) -> dict[str, Any]:
    log = Path(f"/tmp/serving-{mode.name}.log")
    base = f"http://127.0.0.1:{port}"
    proc = start(mode, port, log)
    result: dict[str, Any] = {"mode": mode.name, "argv": " ".join(mode.argv)}
    try:
        result["echo"] = echo_rate(base, proc, args.echo_s)
        result["slowloris"] = []
        for n in args.connections:
            if probe(base, 2.0) is None:  # wedged by the last attack: start afresh
                stop(proc)
                proc = start(mode, port, log)
                result.setdefault("restarted_before", []).append(n)
            one = slowloris(base, port, proc.pid, n, args.hold, args.after)
            result["slowloris"].append(one)
            print(f"  {mode.name} N={n}: {json.dumps(one)}", flush=True)
    finally:
        stop(proc)
    return result


def table(results: list[dict[str, Any]]) -> str:
    rows = [
        "| mode | echo round trips/s (p50 / p95 / p99 ms) | N half-open | /healthz during:"
        " answered, p50 / max | after: answered, first good | RSS before / peak / after |"
        " peak threads |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        e = r["echo"]
        echo = (
            f"{e['scans_per_s']:,.0f} ({e['p50_ms']:.1f} / {e['p95_ms']:.1f} / {e['p99_ms']:.1f})"
        )
        for s in r["slowloris"]:
            d, a, m = s["during"], s["after"], s["rss_mib"]
            rows.append(
                f"| {r['mode']} | {echo} | {s['connections']:,} (opened"
                f" {s['attacker'].get('opened', '?'):,}) | {d['answered']}/{d['probes']},"
                f" {d['p50_ms']} / {d['max_ms']} ms | {a['answered']}/{a['probes']},"
                f" {s['first_good_after_s']} s | {m['before']} / {m['peak']} / {m['after']} MiB"
                f" | {s['peak_threads']} |"
            )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", nargs="*", default=list(MODES), choices=list(MODES))
    parser.add_argument("--connections", nargs="*", type=int, default=[1000, 19000])
    parser.add_argument("--hold", type=float, default=20.0)
    parser.add_argument("--after", type=float, default=10.0)
    parser.add_argument("--echo-s", type=float, default=8.0)
    parser.add_argument("--port", type=int, default=5230)
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    args = parser.parse_args()
    results = []
    for name in args.modes:
        missing = importlib.util.find_spec("geventwebsocket") is None
        if name == "gunicorn-geventwebsocket" and missing:
            # not in requirements-dev.txt on purpose: installed, it stops plain `-k gevent` from
            # upgrading to WebSocket (engine.io prefers it). `pip install gevent-websocket` to run.
            print(f"  {name}: skipped (gevent-websocket is not installed)", flush=True)
            continue
        results.append(run_mode(MODES[name], args, args.port))
        time.sleep(2)  # let TIME_WAIT sockets of the last attack drain a little
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
