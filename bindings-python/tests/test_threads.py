"""Slack copilot threads from Python on both backends: a thread ingested from Slack's JSON
(each ts once), extraction at its watermark through Keel's LLM calls on the loopback (a
failing model leaves the watermark), the Slack conclusion read from the web, a fleet agent's
row, forgetting, turns and history, and bad input typed."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

import keel

THREAD = "1733220000.000100"


def page(n: int) -> dict[str, Any]:
    """A `conversations.replies` page of `n` messages, the rep and the copilot's bot in turn."""
    messages = [
        {
            "type": "message",
            "user": "U1" if i % 2 == 0 else "UBOT",
            "ts": f"17332200{i:02d}.000100",
            "text": "Legal signed off on Acme Renewal; close Friday." if i == n - 1 else f"turn {i}",
        }
        for i in range(n)
    ]
    return {"ok": True, "messages": messages}


async def test_a_slack_thread_reaches_the_web_copilot(db: keel.Keel, loopback: Any) -> None:
    threads = db.slack_threads()
    org, user, deal = (str(uuid.uuid4()) for _ in range(3))
    thread = await threads.get_or_create(
        org_id=org, user_id=user, slack_team_id="T1", slack_channel_id="C1", slack_thread_ts=THREAD
    )
    done = await threads.ingest(org, thread["id"], page(10), bot_user_id="UBOT")
    assert (done["added"], done["extraction_due"]) == (10, True)
    again = await threads.ingest(org, thread["id"], page(10), bot_user_id="UBOT")
    assert (again["added"], again["duplicates"], again["message_count"]) == (0, 10, 10)

    llm = (await db.model_router(seed_defaults=False)).llm(providers=loopback.providers())
    model = {"provider": "openai", "model": "thread-model"}
    loopback.script("thread-model", {"error": 400, "message": "bad request"})
    failed = await threads.sweep(llm=llm, **model)
    assert (failed["claimed"], failed["failed"]) == (1, 1)
    kept = await threads.get(org, thread["id"])
    assert (kept["extracted_through"], kept["extraction_attempts"]) == (0, 1)
    assert kept["extraction_error"]

    answer = {
        "summary": "Acme Renewal: legal signed off; closing Friday.",
        "entities": [{"entity_type": "deal", "name": "Acme Renewal"}, {"entity_type": "company", "name": "Acme"}],
    }
    loopback.script("thread-model", {"text": json.dumps(answer)})
    extracted = await threads.extract(
        org, thread["id"], llm=llm, link=lambda kind, name: deal if kind == "deal" else None, **model
    )
    assert (extracted["status"], extracted["extracted_through"]) == ("extracted", 10)
    assert [e["entity_id"] for e in extracted["entities"]] == [deal, None]
    sent = [r for r in loopback.received() if r["model"] == "thread-model"][-1]
    assert "close Friday" in json.dumps(sent["body"]), "the latest message is read"

    memory = db.conversations()
    web = await memory.context_for_user(org, user, message="Where is Acme Renewal?", channel="web")
    assert web["block"] and "closing Friday" in web["block"]
    await memory.upsert_context(
        org_id=org,
        user_id=user,
        channel="agent",
        entity_type="deal",
        entity_id=deal,
        summary="Enriched Acme Renewal: 3 new stakeholders.",
        entity_name="Acme Renewal",
        agent_name="deal-enricher",
    )
    both = await memory.context_for_user(org, user, message="Acme Renewal")
    assert len(both["entries"]) == 2
    forgotten = await memory.forget_context(org, user, "deal", deal)
    assert forgotten["removed"] == 2

    turn = await threads.record_turn(org, thread["id"], intent="deal_query", credits=0.5, action={"type": "draft"})
    assert (turn["intents_used"], turn["credits_consumed"], len(turn["turns"])) == (["deal_query"], 0.5, 1)
    history = await threads.history(org, thread["id"], limit=2)
    assert [h["role"] for h in history] == ["user", "assistant"]
    assert history[-1]["content"].startswith("Legal signed off")


async def test_bad_input_is_typed(db: keel.Keel) -> None:
    threads = db.slack_threads()
    org, user = str(uuid.uuid4()), str(uuid.uuid4())
    with pytest.raises(keel.InvalidInputError) as bad:
        await threads.get_or_create(
            org_id=org, user_id=user, slack_team_id="T1", slack_channel_id="C1", slack_thread_ts="yesterday"
        )
    assert bad.value.field == "slack_thread_ts"
    thread = await threads.get_or_create(
        org_id=org, user_id=user, slack_team_id="T1", slack_channel_id="C1", slack_thread_ts=THREAD
    )
    with pytest.raises(keel.InvalidInputError) as bad:
        await threads.add_messages(org, thread["id"], [{"slack_ts": "1", "role": "user", "text": "hi"}])
    assert bad.value.field == "messages[0].slack_ts"
    with pytest.raises(keel.InvalidInputError) as bad:
        await threads.record_turn(org, thread["id"], credits=-1)
    assert bad.value.field == "credits"
    with pytest.raises(keel.InvalidInputError) as bad:
        db.slack_threads(extract_after_messages=0)
    assert bad.value.field == "extract_after_messages"
    with pytest.raises(keel.InvalidInputError) as bad:
        await db.conversations().forget_context(org, user, "opportunity", str(uuid.uuid4()))
    assert bad.value.field == "entity_type"
