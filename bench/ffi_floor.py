"""FFI floor from Python: a no-op and a small-struct round trip through PyO3.

Prints one JSON object of nanoseconds per call. Run by bench/run.py (`make bench`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from keel import _native

PROBE = {"id": 1, "name": "deal-risk-scan", "score": 0.5, "tags": ["copilot", "slack"]}


def per_call_ns(fn: Callable[[], object], *, rounds: int = 7, calls: int = 200_000) -> float:
    """The best of `rounds` timings of `calls` calls, in ns per call (least disturbed by noise)."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter_ns()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter_ns() - start) / calls)
    return best


def python_noop() -> None:
    return None


def python_roundtrip(p: dict[str, object] = PROBE) -> dict[str, object]:
    out = dict(p)
    out["id"] = p["id"] + 1  # type: ignore[operator]
    out["score"] = p["score"] * 2  # type: ignore[operator]
    return out


if __name__ == "__main__":
    noop = _native.noop
    roundtrip = _native.roundtrip
    print(
        json.dumps(
            {
                "noop": per_call_ns(noop),
                "roundtrip": per_call_ns(lambda: roundtrip(PROBE)),
                "pure_noop": per_call_ns(python_noop),
                "pure_roundtrip": per_call_ns(lambda: python_roundtrip(PROBE)),
            }
        )
    )
