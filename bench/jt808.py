"""Benchmark: the JT/T 808 codec on the gateway's hot path, frames per second on one core.

Measures, with pure Python and no database:

- `Deframer.feed` + `decode_frame` + `decode_location` of typical 0x0200 frames (2013 and
  2019 headers, three extras each: mileage, signal, satellites), fed in reads of ~4 KiB as
  a busy TCP connection delivers them; a share of the frames need unescaping. Once with
  times within 30 s (live traffic: the BCD-time cache hits), once with times spread over
  days (backfill, skewed clocks: it misses);
- `decode_frame` + `decode_batch` of 0x0704 frames of 10 locations (frames/s and
  locations/s);
- `platform_reply`, the 0x8001 answer to each message, and the same through the generic
  `encode_frame` + `encode_general_reply` for comparison.

    .venv/bin/python -m bench.jt808            # full run (a few seconds)
    .venv/bin/python -m bench.jt808 --smoke    # a few frames, to see it runs

The targets (issue 6): ≥ 150,000 location frames/s through deframe+decode and ≥ 300,000
replies/s, so that a 2-core machine reaches 30,000 positions/s end to end. The last line
printed is the figures as JSON.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import sys
import time
from collections.abc import Callable

from yunbao.fleet import jt808

FULL = {"frames": 200_000, "batches": 20_000, "replies": 300_000, "repeat": 3}
SMOKE = {"frames": 500, "batches": 50, "replies": 500, "repeat": 1}
READ_SIZE = 4096


def _location(rng: random.Random, start: dt.datetime, spread: int = 30) -> jt808.Location:
    """A plausible vehicle in the pilot town, positioned, with the usual three extras, its
    time within `spread` seconds after `start`."""
    return jt808.Location(
        alarm=0,
        status=jt808.STATUS_ACC | jt808.STATUS_POSITIONED | (1 << 18) | (1 << 19),
        lat=round(rng.uniform(23.1, 23.4), 6),
        lon=round(rng.uniform(113.1, 113.4), 6),
        altitude=rng.randint(0, 80),
        speed_kmh=rng.randint(0, 800) / 10,
        course=rng.randint(0, 359),
        time=start + dt.timedelta(seconds=rng.randint(0, spread)),
        mileage_km=rng.randint(0, 10_000_000) / 10,
        signal=rng.randint(0, 31),
        satellites=rng.randint(4, 20),
    )


def _phones(rng: random.Random, count: int) -> list[str]:
    return [f"1{rng.randint(3, 9)}{rng.randint(0, 999_999_999):09d}" for _ in range(count)]


def _best(repeat: int, work: Callable[[], int]) -> float:
    """The best rate over `repeat` runs of `work` (which returns how many units it did)."""
    best = 0.0
    for _ in range(repeat):
        started = time.perf_counter()
        done = work()
        best = max(best, done / (time.perf_counter() - started))
    return best


def run(smoke: bool = False) -> dict[str, float]:
    size = SMOKE if smoke else FULL
    rng = random.Random(808)
    start = dt.datetime(2025, 3, 1, 2, 0, tzinfo=dt.UTC)
    phones = _phones(rng, 1000)

    # --- location frames through the deframer --------------------------------------------
    def stream_of(spread: int) -> tuple[list[bytes], int, float]:
        """~4 KiB reads of a stream of location frames (a quarter with 2019 headers), the
        frame count and the share of frames needing unescaping."""
        frames = [
            jt808.encode_frame(
                jt808.LOCATION,
                rng.choice(phones),
                i & 0xFFFF,
                jt808.encode_location(_location(rng, start, spread)),
                version=1 if i % 4 == 0 else None,
            )
            for i in range(size["frames"])
        ]
        escaped = sum(b"\x7d" in frame[1:-1] for frame in frames) / len(frames)
        stream = b"".join(frames)
        reads = [stream[i : i + READ_SIZE] for i in range(0, len(stream), READ_SIZE)]
        return reads, len(frames), escaped

    def deframe_decode(reads: list[bytes], expected: int) -> int:
        deframer = jt808.Deframer()
        decode_frame, decode_location = jt808.decode_frame, jt808.decode_location
        count = 0
        for data in reads:
            for frame in deframer.feed(data):
                message = decode_frame(frame)
                decode_location(message.body)
                count += 1
        if count != expected:
            raise AssertionError(f"decoded {count} of {expected} frames")
        return count

    # Live traffic: every terminal reports the last few seconds (the time cache hits).
    reads, frame_count, escaped = stream_of(30)
    average = sum(map(len, reads)) / frame_count
    locations = _best(size["repeat"], lambda: deframe_decode(reads, frame_count))
    # Backfilled or skewed clocks: times over ~12 days, nearly every one new to the cache.
    cold_reads, _, _ = stream_of(1_000_000)
    cold = _best(size["repeat"], lambda: deframe_decode(cold_reads, frame_count))

    # --- batch frames ----------------------------------------------------------------------
    batch_frames = [
        jt808.encode_frame(
            jt808.BATCH_LOCATION,
            rng.choice(phones),
            i & 0xFFFF,
            jt808.encode_batch([_location(rng, start) for _ in range(10)], type=1),
        )[1:-1]
        for i in range(size["batches"])
    ]

    def batches() -> int:
        decode_frame, decode_batch = jt808.decode_frame, jt808.decode_batch
        for frame in batch_frames:
            decode_batch(decode_frame(frame).body)
        return len(batch_frames)

    batch_rate = _best(size["repeat"], batches)

    # --- replies ---------------------------------------------------------------------------
    headers = [
        jt808.Header(jt808.LOCATION, phone, rng.randint(0, 0xFFFF), None, 0, 40) for phone in phones
    ]
    count = size["replies"]

    def replies() -> int:
        reply, ok = jt808.platform_reply, jt808.OK
        for i in range(count):
            reply(headers[i % 1000], ok, i & 0xFFFF)
        return count

    def generic_replies() -> int:
        encode_frame, body, reply_id = (
            jt808.encode_frame,
            jt808.encode_general_reply,
            jt808.PLATFORM_REPLY,
        )
        for i in range(count // 4):
            header = headers[i % 1000]
            encode_frame(
                reply_id,
                header.phone,
                i & 0xFFFF,
                body(jt808.GeneralReply(header.serial, header.msg_id, jt808.OK)),
            )
        return count // 4

    reply_rate = _best(size["repeat"], replies)
    generic_rate = _best(size["repeat"], generic_replies)

    figures = {
        "location_frames_per_s": round(locations),
        "location_frames_per_s_cold_times": round(cold),
        "location_frame_bytes": round(average, 1),
        "share_escaped": round(escaped, 3),
        "batch_frames_per_s": round(batch_rate),
        "batch_locations_per_s": round(batch_rate * 10),
        "platform_replies_per_s": round(reply_rate),
        "generic_replies_per_s": round(generic_rate),
    }
    print(
        f"deframe+decode 0x0200 ({average:.0f} B/frame, {escaped:.0%} escaped): "
        f"{locations:>10,.0f} frames/s"
    )
    print(f"  the same, times all different (cold cache): {cold:>10,.0f} frames/s")
    print(
        f"decode 0x0704 of 10 locations:               {batch_rate:>10,.0f} frames/s "
        f"({batch_rate * 10:,.0f} locations/s)"
    )
    print(f"platform_reply (0x8001):                     {reply_rate:>10,.0f} frames/s")
    print(f"encode_frame + encode_general_reply:         {generic_rate:>10,.0f} frames/s")
    print(json.dumps(figures))
    return {key: float(value) for key, value in figures.items()}


def main() -> None:
    run(smoke="--smoke" in sys.argv[1:])


if __name__ == "__main__":
    main()
