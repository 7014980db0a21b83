"""The scan loop benchmark's report: a row of docs/benchmarks-scanloop.md's table, and the page
itself (``bench.bench_scanloop --write``: the measured table rewritten, each session's notes
below it kept)."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
from typing import Any

from bench.server_processes import ROOT

DOC = ROOT / "docs" / "benchmarks-scanloop.md"


def load_label(row: dict[str, Any]) -> str:
    who = f"{row['handhelds']} handheld{'s' if row['handhelds'] != 1 else ''}"
    if row["rate"] is None:
        return f"{who}, flat out"
    return f"{who}, {row['rate']:g} scan/s each"


def errors_text(r: dict[str, Any]) -> str:
    parts = [f"{k} {v}" for k, v in sorted(r["errors"].items())]
    if r["connect_failures"]:
        parts.append(f"connect failed {r['connect_failures']}")
    if r["out_of_work"]:
        parts.append(f"out of work {r['out_of_work']}")
    return ", ".join(parts) or "0"


def markdown_row(row: dict[str, Any]) -> str:
    f, e = row["floor"], row["echo"]
    asked = f" of {f['asked_per_s']:g} asked" if f["asked_per_s"] else ""
    sql = f"{f['sql_per_scan']:.1f}" if f["sql_per_scan"] is not None else "—"
    return (
        f"| {load_label(row)} | {row['db']}{'' if row['serve'] == 'flask' else ', ' + row['serve']}"
        f" | {f['scans_per_s']:.1f}{asked} | "
        f"{f['p50_ms']:,.0f} / {f['p95_ms']:,.0f} / {f['p99_ms']:,.0f} ms | "
        f"{errors_text(f)} | {sql} | {f['server_cpu_pct']:.0f} %{machine_text(f)} | "
        f"{f['load_1m']:.1f} | "
        f"{e['scans_per_s']:,.0f}; {e['p50_ms']:.1f} / {e['p95_ms']:.1f} / {e['p99_ms']:.1f} ms"
        f" | {errors_text(e)} | {of_echo_text(row)} |"
    )


def of_echo_text(row: dict[str, Any]) -> str:
    """The floor's scans/s in % of the echo's round trips/s; by window when they took turns."""
    f, e = row["floor"], row["echo"]
    if row["rate"] is not None or not e["scans_per_s"]:
        return "—"  # paced: both do what was asked; the ratio says nothing
    text = f"{100 * f['scans_per_s'] / e['scans_per_s']:.1f} %"
    pairs = [v for v in row.get("of_echo_by_window") or [] if v is not None]
    if len(pairs) > 1:
        text += " (windows: " + ", ".join(f"{100 * v:.1f}" for v in pairs) + ")"
    return text


def machine_text(f: dict[str, Any]) -> str:
    busy = f.get("machine_cpu_pct")  # rows of earlier runs have none
    return f" (machine {busy:.0f} %)" if busy is not None else ""


TABLE_HEAD = (
    "| load | db | scans/s | scan → ack p50 / p95 / p99 | errors | SQL per scan | server CPU |"
    " load avg | bare echo, same clients: round trips/s; p50 / p95 / p99 | echo errors |"
    " scans/s in % of the echo's round trips/s |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|"
)


def machine() -> str:
    mem = subprocess.run(["free", "-h"], capture_output=True, text=True, check=False).stdout
    return (
        f"{platform.platform()}, Python {platform.python_version()}, `nproc` = {os.cpu_count()}\n\n"
        f"```\n$ free -h\n{mem.rstrip()}\n```"
    )


def write_doc(rows: list[dict[str, Any]], command: str) -> None:
    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    history = _history()
    DOC.write_text(
        "# Scan loop benchmark\n\n"
        "Written by `bench/bench_scanloop.py` (how it works: its docstring). Handhelds are\n"
        "real python-socketio `AsyncClient`s in one asyncio process on the same machine, logged\n"
        "in by badge, running `task:next` → `scan` against `flask --app app serve` (Werkzeug,\n"
        "threading) on a fresh database; the bare Flask-SocketIO echo\n"
        "(`bench/serving/echo_app.py`, threading mode) is measured by the same clients with the\n"
        "same load in the same run. Flat-out rows take turns: floor, echo, floor, echo … (4\n"
        "windows each by default, `--windows`), the idle server stopped, so a drift of the\n"
        "machine's speed during the run slows both alike; the last column gives each pair.\n\n"
        f"- Date: {today}\n- Command: `{command}`\n- Machine: {machine()}\n\n"
        f"{TABLE_HEAD}\n" + "\n".join(markdown_row(r) for r in rows) + "\n\n"
        "- *scans/s*: acknowledged `ok` scans sent in the window ÷ window; paced rows say how\n"
        "  many were asked for.\n"
        "- *SQL per scan*: every statement the server process ran in the window (the scans, the\n"
        "  `task:next` calls between pick lists, the scheduler's jobs) ÷ good scans whose ack\n"
        "  arrived in the window (the server's work in the window), counted by\n"
        "  `bench/_sqlcount.py` (a SQLAlchemy `before_cursor_execute` listener;\n"
        "  an `executemany` counts once).\n"
        "- *server CPU*: the server process's user+system CPU over the window, % of one core;\n"
        "  *machine*: every core's busy time over the window (server, database, clients and\n"
        "  anything else), % of one core (this machine has `nproc` × 100 %).\n"
        "- *load avg*: the machine's 1-minute load average as the window began (the machine\n"
        "  has 2 cores and may be shared with other work: a load above ~2.5 means contention).\n\n"
        "Raw results (JSON):\n\n```json\n" + json.dumps(rows, indent=1) + "\n```\n" + history
    )
    print(f"written {DOC.relative_to(ROOT)}")


def _history() -> str:
    """The doc's sections below its measured table (each session's notes, ``## …``): a new
    run rewrites the table and keeps them."""
    text = DOC.read_text() if DOC.exists() else ""
    start = text.find("\n## ")
    return "\n" + text[start + 1 :] if start >= 0 else ""
