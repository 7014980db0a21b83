"""Benchmark: serial scanner frames decoded per second by ``devices.framing.FrameDecoder``.

Run from the repository root::

    python -m bench.bench_serial                 # 200,000 frames, 5 rounds
    python -m bench.bench_serial --frames 20000  # quicker

The stream is what a busy pack station sends: EAN-13s, tote and order codes, and GS1-128
strings with lot and expiry whose group separator arrives as the substitute ``<GS>``,
all behind a ``]C1`` prefix and ended by CR, with one garbage frame in a hundred.  It is
fed in 64-byte pieces (a USB-serial read rarely returns more), so the timing includes the
decoder's buffering.  Decoding only - no port, no thread: the pty round trip belongs to
the frame -> pack-page benchmark.  Prints the best and median rounds.
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import time

from devices.config import SerialDeviceConfig, Suffix
from devices.framing import Frame, FrameDecoder

CHUNK = 64


def make_stream(frames: int, seed: int = 1) -> bytes:
    rng = random.Random(seed)
    codes = [
        b"5901234123457",
        b"TOTE-0042",
        b"ORD-2024-000187",
        b"0109501101530003" + b"10LOT-42<GS>17261130",
        b"00376130321109103420",
    ]
    parts = []
    for _ in range(frames):
        code = b"\xff\xfe\x07!" if rng.random() < 0.01 else rng.choice(codes)
        parts.append(b"]C1" + code + b"\r")
    return b"".join(parts)


def decode_round(config: SerialDeviceConfig, stream: bytes) -> tuple[float, int, int]:
    decoder = FrameDecoder(config)
    good = bad = 0
    started = time.perf_counter()
    for start in range(0, len(stream), CHUNK):
        for result in decoder.feed(stream[start : start + CHUNK], 0.0):
            if isinstance(result, Frame):
                good += 1
            else:
                bad += 1
    return time.perf_counter() - started, good, bad


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    config = SerialDeviceConfig(
        station="PACK-01", url="loop://", suffix=Suffix.cr, prefix="]C1", gs="<GS>"
    )
    stream = make_stream(args.frames)
    rates = []
    for _ in range(args.rounds):
        elapsed_s, good, bad = decode_round(config, stream)
        assert good + bad == args.frames, (good, bad)
        rates.append(args.frames / elapsed_s)
    print(
        f"serial FrameDecoder: {max(rates):,.0f} frames/s best, "
        f"{statistics.median(rates):,.0f} median ({args.frames:,} frames x {args.rounds} "
        f"rounds, {len(stream) / args.frames:.1f} bytes/frame, {CHUNK}-byte reads, "
        f"{good:,} good / {bad:,} rejected; Python {platform.python_version()})"
    )


if __name__ == "__main__":
    main()
