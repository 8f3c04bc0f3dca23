"""Deduplication: three agents report the same risk on one deal (one primary, two merged, the
third agent escalates it once), a fourth phrases it differently under another action (a
near-duplicate by MinHash), another org's identical item stays its own; the post-scoring merge
and the counters; then the general-purpose MinHash index. The same scenario runs in
examples/rust/dedup.rs and examples/node/dedup.mjs.

    python examples/python/dedup.py
    KEEL_DATABASE_URL=postgres://… python examples/python/dedup.py
"""

import asyncio
import os
from typing import Any

import keel
from keel.types import NewItem

ORG = "00000000-0000-4000-8000-0000000000a1"
OTHER_ORG = "00000000-0000-4000-8000-0000000000b2"
DEAL = "00000000-0000-4000-8000-00000000de01"
RISK = "Acme renewal at risk: the champion stopped replying after the pricing call and procurement asked for a discount"


def report(org: str, agent: str, title: str, **context: Any) -> NewItem:
    return {"org_id": org, "source_agent": agent, "item_type": "deal_risk", "title": title,
            "deal_id": DEAL, "context": context}


async def main() -> None:
    url = os.environ.get("KEEL_DATABASE_URL", "sqlite::memory:")
    # --8<-- [start:dedup]
    db = await keel.connect(url)
    dedup = db.dedup()  # a 4 h merge window, near-duplicates at Jaccard 0.8
    checked = await dedup.enqueue([
        report(ORG, "deal-risk-scan", RISK, action_type="call", confidence=0.6, evidence=["no reply in 9 days"]),
        report(ORG, "email-signals", RISK, action_type="call", confidence=0.5, evidence=["pricing thread unanswered"]),
        report(ORG, "meeting-intel", RISK, action_type="call", confidence=0.7),
        report(ORG, "crm-hygiene", RISK + " this quarter", action_type="email", confidence=0.4),
        report(OTHER_ORG, "deal-risk-scan", RISK, action_type="call"),
    ])
    for c in checked:
        near = f" (jaccard {c['jaccard']:.2f})" if c["jaccard"] is not None else ""
        print(f"{c['verdict']}{near}{' escalated' if c['escalated'] else ''}")
    group = await dedup.group(checked[0]["id"])
    assert group is not None
    print(f"group: agents {group['contributing_agents']}, lane {group['queue_priority']}, "
          f"{len(group['merged_from'])} absorbed, merged confidence {group['merged_confidence']}")
    scored = await dedup.score(checked[0]["id"], 0.8)
    print(f"scored 0.8: group confidence {scored['merged_confidence']}")
    counts = await dedup.counts(ORG)
    print(f"counters: {counts['suppressed']} suppressed, {counts['near_merged']} near-merged, {counts['escalated']} escalated")

    index = keel.MinHashLsh(threshold=0.8)  # bands and rows follow the threshold
    index.insert("ticket-1", keel.minhash("Login page returns a 500 error after the password reset"))
    index.insert("ticket-2", keel.minhash("Invoice PDF shows the wrong currency for EU customers"))
    found = index.query(keel.minhash("login page returns a 500 error after the password reset!"))
    print([{"key": f["key"], "jaccard": f["jaccard"]} for f in found])
    await db.close()
    # --8<-- [end:dedup]


asyncio.run(main())
