"""Runner overhead from Python: `db.run_agent` of an async executor that does nothing, on
SQLite (the row and spans only enqueued). Goal ≤ 30 µs per run. Prints one JSON object of µs
per run (best of rounds) on stdout. Run by bench/run.py (`make bench`).
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time

import keel


async def main() -> None:
    path = os.path.join(tempfile.mkdtemp(), "runs.db")
    db = await keel.connect(f"sqlite://{path}")

    async def noop(ctx: keel.AgentContext) -> int:
        return 1

    config = {"agent_name": "bench-agent"}
    best = float("inf")
    for _ in range(5):
        n = 2_000
        start = time.perf_counter_ns()
        for _ in range(n):
            await db.run_agent(config, noop)
        best = min(best, (time.perf_counter_ns() - start) / n / 1e3)
    await db.close()
    print(json.dumps({"run_noop_us": best}))


asyncio.run(main())
