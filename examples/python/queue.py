"""Backpressure: a burst of Command Centre items in four lanes, a worker with bounded
concurrency, a provider whose shared quota defers what it cannot take (without spending an
attempt), and the queue's health. The same scenario runs in examples/rust/queue.rs and
examples/node/queue.mjs.

    python examples/python/queue.py
    KEEL_DATABASE_URL=postgres://… python examples/python/queue.py
"""

import asyncio
import os
from typing import Any

import keel
from keel.types import NewItem, QueueItem

ORG = "00000000-0000-4000-8000-0000000000a1"


async def main() -> None:
    url = os.environ.get("KEEL_DATABASE_URL", "sqlite::memory:")
    # --8<-- [start:queue]
    db = await keel.connect(url)
    queue = db.queue()
    limiter = db.shared_limiter()
    items: list[NewItem] = [
        {
            "org_id": ORG,
            "source_agent": "deal-risk",
            "item_type": "outreach" if i % 3 == 0 else "deal_risk",
            "title": f"item {i}",
            "queue_priority": i % 4,
        }
        for i in range(12)
    ]
    await queue.enqueue(items)
    health = await queue.health()
    print(f"enqueued 12: due per lane {[lane['depth'] for lane in health['lanes']]}, mode {health['mode']}")

    hubspot = [{"provider": "hubspot", "limit": 2, "period_ms": 3_600_000, "burst": 2}]
    handled = 0
    stop = asyncio.Event()

    async def enrich(item: QueueItem) -> Any:
        nonlocal handled
        handled += 1
        if handled == len(items):
            stop.set()
        if item["item_type"] == "outreach":
            decision = await limiter.acquire(org_id=item["org_id"], providers=["hubspot"], limits=hubspot)
            if not decision["allowed"]:
                return {"defer_ms": decision["retry_after_ms"]}
        return {"enriched": True}

    report = await queue.work(enrich, stop, concurrency=3)
    print(f"worker: {report['claimed']} claimed, {report['completed']} completed, {report['deferred']} deferred, {report['failed']} failed")
    health = await queue.health()
    delayed = sum(lane["delayed"] for lane in health["lanes"])
    print(f"health: mode {health['mode']}, {health['depth']} due, {delayed} delayed, {health['in_flight']} in flight")
    await db.close()
    # --8<-- [end:queue]


asyncio.run(main())
