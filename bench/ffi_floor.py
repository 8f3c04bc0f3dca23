"""FFI floor from Python: a no-op and a small-struct round trip through PyO3.

Prints one JSON object of nanoseconds per call. Run by bench/run.py (`make bench`).
"""

from __future__ import annotations

import json

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


if __name__ == "__main__":
    noop = _native._probe.noop
    roundtrip = _native._probe.roundtrip
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
