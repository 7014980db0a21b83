"""A bounded slowloris: N connections that send half a request and then trickle, then stop.

    python -m bench.serving.slowloris --port 5200 --connections 1000 --hold 20

Each connection sends a request line and one header (``GET /healthz HTTP/1.1``, ``Host``) but
never the blank line that ends the headers; every ``--trickle`` seconds it sends one more
header line so that a server's idle time-out alone does not end it. After ``--hold`` seconds every
socket is closed and the script exits (it never runs longer than ``--hold`` plus the time to
open the sockets, which is capped by ``--open-timeout``). Only 127.0.0.1 is allowed as target.

It prints one JSON line: how many sockets were opened, refused, and closed by the server while
held (a server with a read time-out closes them; Werkzeug's development server never does).
The file-descriptor limit is raised to the hard limit first (20,000 sockets need it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time


async def one(
    host: str,
    port: int,
    hold_until: float,
    trickle_s: float,
    stats: dict[str, int],
    gate: asyncio.Semaphore,
) -> None:
    loop = asyncio.get_running_loop()
    try:
        async with gate:  # at most so many handshakes in flight, like a patient attacker
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
    except (OSError, TimeoutError):
        stats["refused"] += 1
        return
    stats["opened"] += 1
    try:
        writer.write(f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n".encode())
        await writer.drain()
        n = 0
        while loop.time() < hold_until:
            try:
                data = await asyncio.wait_for(
                    reader.read(1024), timeout=min(trickle_s, max(0.0, hold_until - loop.time()))
                )
            except TimeoutError:
                n += 1
                writer.write(f"X-Slow-{n}: a\r\n".encode())
                await writer.drain()
                continue
            if not data:  # the server closed it (or answered and closed)
                stats["closed_by_server"] += 1
                return
            stats["answered"] += 1  # the server answered a request that was never finished
            return
    except OSError:
        stats["reset_by_server"] += 1
    finally:
        writer.close()


async def attack(args: argparse.Namespace) -> dict[str, int]:
    stats = {"opened": 0, "refused": 0, "closed_by_server": 0, "reset_by_server": 0, "answered": 0}
    loop = asyncio.get_running_loop()
    hold_until = loop.time() + args.hold
    gate = asyncio.Semaphore(200)
    jobs = [
        asyncio.create_task(one(args.host, args.port, hold_until, args.trickle, stats, gate))
        for _ in range(args.connections)
    ]
    try:
        await asyncio.wait_for(asyncio.gather(*jobs), timeout=args.hold + args.open_timeout)
    except TimeoutError:
        for j in jobs:
            j.cancel()
        stats["unfinished"] = sum(1 for j in jobs if not j.done())
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", choices=["127.0.0.1"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--hold", type=float, default=20.0, help="seconds to hold them open")
    parser.add_argument("--trickle", type=float, default=5.0, help="seconds between headers")
    parser.add_argument("--open-timeout", type=float, default=30.0)
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    started = time.monotonic()
    stats = asyncio.run(attack(args))
    print(json.dumps(stats | {"took_s": round(time.monotonic() - started, 1)}), flush=True)


if __name__ == "__main__":
    main()
