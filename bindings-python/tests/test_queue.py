"""The Command Centre queue and rate limits from Python, on SQLite and PostgreSQL (`db` runs
each test on both): claims by lane, fenced outcomes, deferral, the worker with bounded
concurrency and a clean stop, health and shedding by name, limiters all or none; bad input
named by field."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import keel
from keel.types import NewItem, QueueItem

ORG = "00000000-0000-4000-8000-00000000000a"


def item(lane: int, title: str, **more: Any) -> NewItem:
    base: NewItem = {
        "org_id": ORG,
        "source_agent": "deal-risk",
        "item_type": "deal_risk",
        "title": title,
        "context": {"dealName": "Acme", "camelCase": True},
        "queue_priority": lane,
    }
    base.update(more)  # type: ignore[typeddict-item]
    return base


async def test_claims_go_by_lane_and_outcomes_are_fenced(db: keel.Keel) -> None:
    q = db.queue()
    ids = await q.enqueue([item(3, "low"), item(0, "critical"), item(2, "normal")])
    assert len(ids) == 3
    claimed = await q.claim("w1", n=2)
    assert [i["title"] for i in claimed] == ["critical", "normal"]
    first = claimed[0]
    assert first["enrichment_status"] == "processing" and first["processing_attempts"] == 1
    assert first["context"] == {"dealName": "Acme", "camelCase": True}
    assert not await q.complete(first["id"], first["lease_token"] + 1)
    assert await q.complete(first["id"], first["lease_token"], context={"crm": {"stage": "won"}})
    stored = await q.get(first["id"])
    assert stored is not None and stored["enrichment_context"] == {"crm": {"stage": "won"}}
    second = claimed[1]
    assert await q.defer(second["id"], second["lease_token"], 60_000)
    back = await q.get(second["id"])
    assert back is not None and back["processing_attempts"] == 0
    failed = await q.fail(ids[0], 0, "stale holder")
    assert failed is None
    report = await q.sweep()
    assert report == {"requeued": 0, "failed": 0}
    rest = await q.claim("w2", n=5)
    after = await q.claim_after([{"id": i["id"], "lease_token": i["lease_token"]} for i in rest], "w2")
    assert sorted(after["completed"]) == sorted(i["id"] for i in rest) and after["items"] == []


async def test_the_worker_bounds_concurrency_and_stops_cleanly(db: keel.Keel) -> None:
    q = db.queue(max_attempts=1)
    await q.enqueue([item(i % 4, f"t{i}") for i in range(20)])
    running = peak = seen = 0
    stop = asyncio.Event()

    async def handler(it: QueueItem) -> Any:
        nonlocal running, peak, seen
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        seen += 1
        if seen == 20:
            stop.set()
        if it["title"] == "t1":
            return {"defer_ms": 3_600_000}
        if it["title"] == "t2":
            return {"fail": "bad deal", "retryable": False}
        if it["title"] == "t3":
            raise RuntimeError("hubspot 500")
        return {"enriched": True}

    report = await q.work(handler, stop, concurrency=3, poll_ms=20)
    assert peak <= 3 and running == 0
    assert report == {"claimed": 20, "completed": 17, "deferred": 1, "failed": 2, "lost": 0}
    health = await q.health()
    assert health["in_flight"] == 0 and health["depth"] == 0
    assert health["lanes"][1]["delayed"] == 1


async def test_health_names_the_mode_and_low_lanes_are_shed(db: keel.Keel) -> None:
    q = db.queue(shedding={"batch_depth": 2, "throttle_depth": 4, "shed_depth": 6, "refresh_ms": 1})
    await q.enqueue([item(1, f"h{i}") for i in range(7)])
    health = await q.health()
    assert health["mode"] == "shed" and health["lanes"][1]["depth"] == 7
    with pytest.raises(keel.OverloadedError) as caught:
        await q.enqueue([item(3, "refused")])
    assert caught.value.code == "overloaded" and caught.value.retry_after_ms == 60_000
    assert len(await q.enqueue([item(0, "urgent")])) == 1
    batch = await q.claim_batch("w", n=5)
    assert batch["mode"] == "shed" and sum(len(g["items"]) for g in batch["groups"]) == 5


async def test_limiters_take_every_key_or_none(db: keel.Keel) -> None:
    local = keel.LocalLimiter()
    first = local.check("calendar:o", limit=10)
    assert first["allowed"] and first["limit"] == 10
    both = local.acquire(org_id="o", providers=["hubspot", "calendar"])
    assert not both["allowed"] and both["key"] == "calendar:o" and both["retry_after_ms"] > 0
    assert local.check("hubspot:o", limit=8)["allowed"], "the denial spent nothing of hubspot's"
    assert local.acquire(org_id="o", providers=["crm"])["allowed"], "crm has no limit"
    shared = db.shared_limiter()
    assert (await shared.check("slack:o", limit=5))["allowed"]
    denied = await shared.acquire(org_id="o", providers=["slack"])
    assert not denied["allowed"] and 0 < denied["retry_after_ms"] <= 12_000


async def test_bad_input_names_the_field(db: keel.Keel) -> None:
    q = db.queue()
    cases: list[tuple[NewItem, str]] = [
        (item(4, "x"), "items[0].queue_priority"),
        (item(1, "x", delay_ms=-1), "items[0].delay_ms"),
        ({"source_agent": "a", "item_type": "t", "title": "x"}, "items[0].org_id"),  # type: ignore[typeddict-item]
    ]
    for bad, field in cases:
        with pytest.raises(keel.InvalidInputError) as caught:
            await q.enqueue([bad])
        assert caught.value.field == field
    with pytest.raises(keel.InvalidInputError) as caught:
        await q.claim("w", lanes=[0, 9])
    assert caught.value.field == "lanes[1]"
    with pytest.raises(keel.InvalidInputError) as caught:
        keel.LocalLimiter().check("k", limit=0)
    assert caught.value.field == "limits.k.limit"
    with pytest.raises(keel.InvalidInputError) as caught:
        db.queue(org_in_flight=0)
    assert caught.value.field == "org_in_flight"
    with pytest.raises(keel.InvalidInputError) as caught:
        await q.defer("00000000-0000-4000-8000-000000000001", 1, -5)
    assert caught.value.field == "delay_ms"


async def test_cancelling_the_worker_finishes_what_runs(db: keel.Keel) -> None:
    q = db.queue()
    await q.enqueue([item(2, f"c{i}") for i in range(6)])
    started = asyncio.Event()
    finished: list[str] = []

    async def slow(it: QueueItem) -> Any:
        started.set()
        await asyncio.sleep(0.2)
        finished.append(it["id"])
        return None

    task = asyncio.ensure_future(q.work(slow, concurrency=3, poll_ms=20))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    health = await q.health()
    # Every item it claimed ran to the end and was recorded; nothing is left in flight.
    assert health["in_flight"] == 0 and len(finished) >= 3
    assert health["lanes"][2]["depth"] == 6 - len(finished)
