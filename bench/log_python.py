"""Per-call cost of logging from Python: Keel's create_logger against stdlib `logging` with a
JSON formatter, both writing to /dev/null. Run by bench/run.py with stdout sent to /dev/null;
prints one JSON object of ns per call (best of rounds) on stderr.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections.abc import Callable

import keel

CALLS = 100_000
ROUNDS = 7
META = {"gen_ai.request.model": "claude-sonnet-4-6", "gen_ai.usage.input_tokens": 1240}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, with the `extra` fields, as JSON logging setups do."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "timestamp": self.formatTime(record),
            "level": record.levelname.lower(),
            "service": record.name,
            "action": record.getMessage(),
            "metadata": getattr(record, "metadata", {}),
        }
        return json.dumps(payload)


async def best(fn: Callable[[], object], log: keel.Logger) -> float:
    """Best of ROUNDS; Keel's writer catches up between rounds, so its queue never drops."""
    result = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter_ns()
        for _ in range(CALLS):
            fn()
        result = min(result, (time.perf_counter_ns() - start) / CALLS)
        await log.flush()
    return result


async def main() -> None:
    log = keel.create_logger("bench", org_id="0a0a0a0a-0000-4000-8000-00000000000a")
    std = logging.getLogger("bench")
    handler = logging.StreamHandler(open("/dev/null", "w"))  # noqa: SIM115
    handler.setFormatter(JsonFormatter())
    std.addHandler(handler)
    std.setLevel(logging.INFO)
    std.propagate = False
    results = {
        "keel_info": await best(lambda: log.info("model_router.tier_resolved", META), log),
        "stdlib_json_info": await best(lambda: std.info("model_router.tier_resolved", extra={"metadata": META}), log),
        "keel_info_no_meta": await best(lambda: log.info("model_router.tier_resolved"), log),
        "stdlib_json_info_no_meta": await best(lambda: std.info("model_router.tier_resolved"), log),
    }
    _, _, dropped = await log.flush()
    results["keel_dropped"] = dropped
    print(json.dumps(results), file=sys.stderr)


if __name__ == "__main__":
    asyncio.run(main())
