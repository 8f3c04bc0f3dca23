"""Deduplication from Python, on SQLite and PostgreSQL (`db` runs each test on both): the first
report a primary and later ones merged (each agent once, escalated once), near-duplicates by
text, the enrichment-stage check of an item in flight, the post-scoring merge, the sweep, and
the general-purpose MinHash index; bad input named by field."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import keel
from keel.types import NewItem

ORG = "00000000-0000-4000-8000-00000000000a"
DEAL = "00000000-0000-4000-8000-0000000000d1"


def report(agent: str, title: str = "Acme renewal at risk", **context: Any) -> NewItem:
    return {
        "org_id": ORG,
        "source_agent": agent,
        "item_type": "deal_risk",
        "title": title,
        "deal_id": DEAL,
        "context": {"action_type": "call", **context},
    }


async def test_later_reports_merge_into_the_first(db: keel.Keel) -> None:
    dedup = db.dedup()
    got = await dedup.enqueue(
        [
            report("deal-risk", confidence=0.5, evidence=["no reply"]),
            report("email", confidence=0.5, evidence=["no reply"]),
            report("calendar", confidence=0.2),
        ]
    )
    assert [c["verdict"] for c in got] == ["primary", "merged", "merged"]
    assert [c["escalated"] for c in got] == [False, False, True]
    group = await dedup.group(got[0]["id"])
    assert group is not None
    assert group["contributing_agents"] == ["deal-risk", "email", "calendar"]
    assert group["merged_from"] == [got[1]["id"], got[2]["id"]]
    assert group["merged_confidence"] == pytest.approx(1 - 0.5 * 0.5 * 0.8, abs=1e-4)
    assert group["queue_priority"] == 1
    assert [m["is_primary"] for m in group["members"]] == [True, False, False]
    counts = await dedup.counts(ORG)
    assert (counts["primaries"], counts["suppressed"], counts["escalated"]) == (1, 2, 1)


async def test_near_duplicates_and_the_enrichment_stage_check(db: keel.Keel) -> None:
    dedup = db.dedup()
    text = "Acme renewal is at risk because the champion stopped replying after the pricing call"
    first = await dedup.enqueue([report("deal-risk", text)])
    # Enqueued without dedup, claimed by a worker: only its lease holder may check it.
    queue = db.queue()
    await queue.enqueue([report("email", text + " last week", action_type="email")])
    held = next(i for i in await queue.claim("w1", n=5) if i["source_agent"] == "email")
    stranger = await dedup.check(held["id"])
    assert stranger["verdict"] == "in_flight"
    checked = await dedup.check(held["id"], lease_token=held["lease_token"])
    assert checked["verdict"] == "near_merged"
    assert checked["primary_id"] == first[0]["id"]
    assert checked["jaccard"] is not None and checked["jaccard"] >= 0.8


async def test_scoring_recomputes_the_group_and_the_sweep_is_idempotent(db: keel.Keel) -> None:
    dedup = db.dedup()
    got = await dedup.enqueue([report("a"), report("b", confidence=0.7)])
    scored = await dedup.score(got[0]["id"], 0.8)
    assert scored["merged_confidence"] == pytest.approx(0.94)
    assert scored["approved"] is False  # the primary is open, not ready
    await db.queue().enqueue([report("c", "Globex wants a demo", action_type="email")])
    dry = await dedup.sweep(dry_run=True)
    assert (dry["dry_run"], dry["checked"]) == (True, 1)
    swept = await dedup.sweep()
    assert (swept["checked"], swept["primaries"]) == (1, 1)
    assert (await dedup.sweep())["checked"] == 0


async def test_a_hundred_identical_events_at_once(db: keel.Keel) -> None:
    dedup = db.dedup()
    got = await asyncio.gather(*(dedup.enqueue([report(f"agent-{i % 5}")]) for i in range(100)))
    verdicts = [g[0]["verdict"] for g in got]
    assert verdicts.count("primary") == 1
    assert verdicts.count("merged") == 99


async def test_bad_input_is_named(db: keel.Keel) -> None:
    dedup = db.dedup()
    with pytest.raises(keel.InvalidInputError) as info:
        await dedup.score("00000000-0000-4000-8000-000000000001", float("nan"))
    assert info.value.field == "confidence"
    with pytest.raises(keel.InvalidInputError) as info:
        await dedup.enqueue([report("a", confidence=1.5)])
    assert info.value.field == "items[0].context.confidence"
    with pytest.raises(keel.InvalidInputError) as info:
        await dedup.enqueue([{**report("a"), "org_id": ""}])
    assert info.value.field == "items[0].org_id"
    with pytest.raises(keel.InvalidInputError) as info:
        db.dedup(threshold=1.0)
    assert info.value.field == "threshold"
    with pytest.raises(keel.InvalidInputError) as info:
        await dedup.check("not-a-uuid")
    assert info.value.field == "id"


def test_the_index_finds_near_duplicates_and_signatures_round_trip() -> None:
    lsh = keel.MinHashLsh(threshold=0.8)
    base = "Acme renewal is at risk because the champion stopped replying after the pricing call"
    lsh.insert("a", keel.minhash(base))
    lsh.insert("b", keel.minhash("Globex wants a demo of the reporting module for finance"))
    found = lsh.query(keel.minhash(base.upper() + "!"))
    assert [f["key"] for f in found] == ["a"] and found[0]["jaccard"] == 1.0
    assert len(lsh) == 2 and lsh.remove("a") and not lsh.remove("a")
    sig = keel.MinHasher(num_perm=64, seed=7).signature(base)
    assert keel.MinHash.from_bytes(sig.to_bytes()) == sig and sig.num_perm == 64
    with pytest.raises(keel.InvalidInputError) as info:
        lsh.insert("c", sig)
    assert info.value.field == "minhash"
