"""The timing every side-by-side script shares."""

from __future__ import annotations

import time
from collections.abc import Callable


def per_call_ns(fn: Callable[[], object], *, rounds: int = 7, calls: int = 200_000) -> float:
    """The best of `rounds` timings of `calls` calls, in ns per call (least disturbed by noise)."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter_ns()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter_ns() - start) / calls)
    return best
