"""Facts from Python, on SQLite and PostgreSQL (`db` runs each test on both): stored with a
Python entity linker, recalled in the order `rank_facts` gives, superseded, and extracted by a
model through Keel's LLM calls (the loopback provider)."""

from __future__ import annotations

import json
import uuid

import pytest

import keel
from conftest import Loopback
from keel.types import NewFact

FACTS: list[NewFact] = [
    {"category": "deal", "subject": "Acme pricing", "content": "Acme asked for 10% off the annual plan", "company_name": "Acme"},
    {"category": "commitment", "subject": "Acme demo", "content": "Security review before Friday's demo", "confidence": 0.8},
    {"category": "relationship", "subject": "Sarah Lee", "content": "Sarah in procurement prefers short calls", "contact_name": "Sarah Lee"},
    {"category": "preference", "subject": "Reports", "content": "Wants weekly pipeline reports by email"},
]


async def test_facts_are_linked_recalled_and_superseded(db: keel.Keel) -> None:
    store = db.conversations()
    org = str(uuid.uuid4())
    asked: list[tuple[str, str]] = []

    def link(kind: str, name: str) -> str | None:
        asked.append((kind, name))
        return {"Acme": "company-1", "Sarah Lee": "contact-7"}.get(name)

    stored = await store.add_facts(org, "U042", FACTS, link=link)
    assert [f["subject"] for f in stored] == [f["subject"] for f in FACTS]
    assert (stored[0]["company_id"], stored[2]["contact_id"]) == ("company-1", "contact-7")
    assert sorted(asked) == [("company", "Acme"), ("contact", "Sarah Lee")]
    recall = await store.recall(org, "U042", "What did Acme say about pricing?", record_access=False)
    expected = keel.rank_facts("What did Acme say about pricing?", await store.facts(org, "U042"))
    assert [r["fact"]["id"] for r in recall["facts"]] == [r["fact"]["id"] for r in expected]
    assert recall["facts"][0]["fact"]["subject"] == "Acme pricing" and recall["exact"]
    assert recall["block"].startswith("## Relevant Memories\n- **Acme pricing** (deal): ")
    counted = await store.recall(org, "U042", "Acme pricing")
    assert counted["facts"][0]["fact"]["access_count"] == 1
    newer = await store.add_facts(
        org, "U042", [{"category": "deal", "subject": "Acme pricing", "content": "Acme settled on 5% off", "supersedes": stored[0]["id"]}]
    )
    live = await store.facts(org, "U042")
    assert stored[0]["id"] not in [f["id"] for f in live]
    old = next(f for f in await store.facts(org, "U042", include_superseded=True) if f["id"] == stored[0]["id"])
    assert old["superseded_by"] == newer[0]["id"]
    # Bad input names the field; a failing linker stores nothing.
    for call, field in [
        (store.add_facts(org, "U042", [{"category": "gossip", "subject": "x", "content": "y"}]), "facts[0].category"),  # type: ignore[list-item]
        (store.add_facts(org, "U042", [dict(FACTS[0], confidence=2)]), "facts[0].confidence"),  # type: ignore[list-item]
        (store.add_facts(org, "", FACTS), "user_id"),
        (store.recall(org, "U042", "x", limit=0), "limit"),
        (store.add_facts(org, "U042", FACTS, link=lambda kind, name: 1 / 0), "link"),
    ]:
        with pytest.raises(keel.KeelError) as info:
            await call
        assert (info.value.code, info.value.field) == ("invalid_input", field)
    assert len(await store.facts(org, "U042")) == 4


async def test_extraction_through_keel_llm_calls(db: keel.Keel, loopback: Loopback) -> None:
    store = db.conversations()
    org = str(uuid.uuid4())
    c = await store.start(org, "U042", "web")
    await store.append(
        org,
        c["id"],
        [
            {"role": "user", "content": "Acme's budget is 80k and Sarah Lee signs off."},
            {"role": "assistant", "content": "Noted: 80k, Sarah Lee signs."},
        ],
    )
    llm = (await db.model_router(seed_defaults=False)).llm(providers=loopback.providers())
    answer = [
        {"category": "deal", "subject": "Acme budget", "content": "Acme's budget is 80k", "confidence": 0.9, "source": [1]},
        {"category": "relationship", "subject": "Sarah Lee", "content": "Sarah Lee signs off at Acme", "confidence": 0.8, "contact_name": "Sarah Lee"},
        {"category": "fact", "subject": "x", "content": "y", "confidence": 0.3},
    ]
    loopback.script("facts-model", {"text": "```json\n" + json.dumps(answer) + "\n```"})
    done = await store.extract_facts(
        org, c["id"], llm=llm, provider="openai", model="facts-model", link=lambda kind, name: "contact-7"
    )
    assert done["applied"] and done["range"] == [1, 2] and done["below_confidence"] == 1
    assert [(f["subject"], f["source_seqs"], f["conversation_id"]) for f in done["facts"]] == [
        ("Acme budget", [1], c["id"]),
        ("Sarah Lee", [1, 2], c["id"]),
    ]
    assert done["facts"][1]["contact_id"] == "contact-7"
    (request,) = (r["body"] for r in loopback.received())
    assert "- commitment: promises, deadlines, action items" in request["messages"][0]["content"]
    assert "[#1 user]: Acme's budget is 80k" in request["messages"][1]["content"]
    assert request["max_tokens"] == 2048
    again = await store.extract_facts(org, c["id"], llm=llm, provider="openai", model="facts-model")
    assert not again["applied"] and [f["id"] for f in again["facts"]] == [f["id"] for f in done["facts"]]
    assert len(loopback.received()) == 1
