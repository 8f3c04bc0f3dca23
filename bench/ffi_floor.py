"""FFI floor from Python: a no-op and a small-struct round trip through PyO3, and an awaited
no-op (the trip from asyncio to Keel's runtime and back, under every awaited call; p50 and p99
of single awaits) beside the same trip made by a pure-Python thread.

Prints one JSON object of nanoseconds per call. Run by bench/run.py (`make bench`).
"""

from __future__ import annotations

import asyncio
import json
import queue
import threading
import time
from collections.abc import Awaitable, Callable

from keel import _native
from timing import per_call_ns

PROBE = {"id": 1, "name": "deal-risk-scan", "score": 0.5, "tags": ["copilot", "slack"]}


def python_noop() -> None:
    return None


def python_roundtrip(p: dict[str, object] = PROBE) -> dict[str, object]:
    out = dict(p)
    out["id"] = p["id"] + 1  # type: ignore[operator]
    out["score"] = p["score"] * 2  # type: ignore[operator]
    return out


def awaited_us(awaitable: Callable[[], Awaitable[object]]) -> tuple[float, float]:
    """p50 and p99 of single `await awaitable()`, in microseconds."""

    async def run() -> list[float]:
        samples = []
        for round_ in range(5_200):
            start = time.perf_counter()
            await awaitable()
            if round_ >= 200:
                samples.append((time.perf_counter() - start) * 1e6)
        return sorted(samples)

    samples = asyncio.run(run())
    return samples[len(samples) // 2], samples[round((len(samples) - 1) * 0.99)]


def thread_hop() -> Callable[[], Awaitable[object]]:
    """The same trip in pure Python: a thread settles the asyncio future through
    `call_soon_threadsafe`, as Keel's runtime does. Any design that does the work off the event
    loop's thread pays at least this."""
    asks: queue.SimpleQueue[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = queue.SimpleQueue()

    def settle() -> None:
        while True:
            loop, future = asks.get()
            loop.call_soon_threadsafe(future.set_result, None)

    threading.Thread(target=settle, daemon=True).start()

    def ask() -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        asks.put((loop, future))
        return future

    return ask


if __name__ == "__main__":
    await_p50, await_p99 = awaited_us(_native._probe.noop_async)
    hop_p50, hop_p99 = awaited_us(thread_hop())
    noop = _native._probe.noop
    roundtrip = _native._probe.roundtrip
    print(
        json.dumps(
            {
                "noop": per_call_ns(noop),
                "roundtrip": per_call_ns(lambda: roundtrip(PROBE)),
                "pure_noop": per_call_ns(python_noop),
                "pure_roundtrip": per_call_ns(lambda: python_roundtrip(PROBE)),
                "await_noop_p50_us": await_p50,
                "await_noop_p99_us": await_p99,
                "thread_hop_p50_us": hop_p50,
                "thread_hop_p99_us": hop_p99,
            }
        )
    )
