"""Dead letters: a run that exhausted its retries is enqueued with its error chain, a worker
replays it through a handler that fails once and then succeeds, and failures are classified on
their structure. The same scenario runs in examples/rust/dead_letters.rs and
examples/node/dead_letters.mjs.

    python examples/python/dead_letters.py
    KEEL_DATABASE_URL=postgres://… python examples/python/dead_letters.py
"""

import asyncio
import os
from typing import Any

import keel
from keel.types import Replay


class Unavailable(Exception):
    status_code = 503


async def main() -> None:
    url = os.environ.get("KEEL_DATABASE_URL", "sqlite::memory:")
    # --8<-- [start:dead_letters]
    db = await keel.connect(url)
    letters = db.dead_letters()
    letter = await letters.enqueue(
        agent_name="deal-risk-batch",
        trigger_type="cron",
        payload={"deals": 42},
        org_id="system",
        errors=[{"kind": "transient", "message": "HTTP 503", "status": 503}],
        idempotency_key="deal-risk-batch:2026-12-03",
        delay_ms=0,
    )
    print(f"enqueued for {letter['agent_name']} (org {letter['org_id']}): {letter['status']}, {len(letter['errors'])} failure(s)")

    # The handler replays the run: the first retry meets a 503, the second succeeds.
    async def handler(replay: Replay) -> Any:
        if replay["retry"] == 1:
            raise Unavailable("upstream unavailable")
        return None

    for n in (1, 2):
        r = await letters.work_once(handler, backoff={"base_ms": 0, "cap_ms": 0})
        print(f"pass {n}: claimed {r['claimed']}, resolved {r['resolved']}, retrying {r['retrying']}")
    after = await letters.get(letter["id"])
    kinds = ", ".join(e.get("kind", "unknown") for e in after["errors"])
    print(f"{after['status']} after {after['retry_count']} retries; history: {kinds}")
    for c in (keel.classify_failure(message="request took 1400ms"), keel.classify_failure(status=429, retry_after="2")):
        after_ms = "None" if c["retry_after_ms"] is None else f"Some({c['retry_after_ms']})"
        print(f"classified {c['kind']} by {c['by']}, retry_after_ms={after_ms}")
    delays = keel.retry_delays(retries=4, seed=7)
    print("dead-letter backoff ceilings:", ", ".join(str(c) for c in delays["ceilings"]))
    await db.close()
    # --8<-- [end:dead_letters]


asyncio.run(main())
