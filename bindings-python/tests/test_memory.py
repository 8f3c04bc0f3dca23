"""The conversation store from Python, on SQLite and PostgreSQL (`db` runs each test on both)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

import keel
from conftest import Loopback
from keel.types import CompactOptions, Message


async def test_append_counts_tokens_and_reads_back(db: keel.Keel) -> None:
    store = db.conversations()
    org = str(uuid.uuid4())
    c = await store.start(org, "U042", "slack", channel_ref="1733220000.000100")
    assert (c["message_count"], c["total_tokens"], c["channel_ref"]) == (0, 0, "1733220000.000100")
    same = await store.start(org, "U042", "slack", channel_ref="1733220000.000100", title="Acme")
    assert (same["id"], same["title"]) == (c["id"], "Acme")
    batch: list[Message] = [
        {"role": "user", "content": "What is blocking the Acme renewal?"},
        {
            "role": "assistant",
            "content": [{"type": "tool_call", "id": "call-1", "name": "crm_lookup", "arguments": {"deal": "Acme"}}],
        },
    ]
    first = await store.append(org, c["id"], batch)
    # 8 tokens of o200k_base, "user" 1, framing 3: the count core keeps, exact for text.
    assert (first["first_seq"], first["last_seq"], first["tokens"][0]) == (1, 2, 12)
    answer: list[Message] = [{"role": "tool", "content": [{"type": "tool_result", "call_id": "call-1", "content": "legal"}]}]
    second = await store.append(org, c["id"], answer)
    assert second["total_tokens"] == sum(first["tokens"]) + second["tokens"][0]
    read = await store.messages(org, c["id"])
    assert [m["seq"] for m in read] == [1, 2, 3]
    assert read[0]["content"] == [{"type": "text", "text": "What is blocking the Acme renewal?"}]
    assert [m["tokens_exact"] for m in read] == [True, False, False]
    assert [m["seq"] for m in await store.messages(org, c["id"], after_seq=2)] == [3]
    stored = await store.get(org, c["id"])
    assert (stored["message_count"], stored["total_tokens"]) == (3, second["total_tokens"])


async def test_concurrent_appends_leave_an_exact_total(db: keel.Keel) -> None:
    store = db.conversations()
    org = str(uuid.uuid4())
    c = await store.start(org, "agent:pipeline", "agent", channel_ref="run-9")
    results = await asyncio.gather(
        *(store.append(org, c["id"], [{"role": "user", "content": "x" * (i * 5 + 1)}]) for i in range(32))
    )
    stored = await store.get(org, c["id"])
    assert stored["message_count"] == 32
    assert stored["total_tokens"] == sum(r["tokens"][0] for r in results)
    assert sorted(r["first_seq"] for r in results) == list(range(1, 33))


async def test_bad_input_names_the_field(db: keel.Keel) -> None:
    store = db.conversations()
    org = str(uuid.uuid4())
    c = await store.start(org, "U042", "web")
    for call, field in [
        (store.start(org, "U042", "email"), "channel"),  # type: ignore[arg-type]
        (store.start("not-a-uuid", "U042", "web"), "org_id"),
        (store.start(org, "U042", "web", channel_ref="x" * 300), "channel_ref"),
        (store.get(org, "42"), "conversation_id"),
        (store.append(org, c["id"], [{"role": "robot", "content": "hi"}]), "messages[0].role"),  # type: ignore[list-item]
        (store.append(org, c["id"], [{"role": "user"}]), "messages[0].content"),  # type: ignore[typeddict-item]
        (store.append(org, c["id"], "not a list"), "messages"),  # type: ignore[arg-type]
        (
            store.append(org, c["id"], [{"role": "tool", "content": [{"type": "tool_result", "call_id": "x", "content": "?"}]}]),
            "messages[0].content[0].call_id",
        ),
        (store.append(org, str(uuid.uuid4()), [{"role": "user", "content": "hi"}]), "conversation_id"),
        (store.messages(org, c["id"], limit=0), "limit"),
        (store.messages(org, c["id"], limti=5), "limti"),  # type: ignore[call-arg]
    ]:
        with pytest.raises(keel.KeelError) as info:
            await call
        assert (info.value.code, info.value.field) == ("invalid_input", field)
    with pytest.raises(TypeError):
        store.get(42, c["id"])  # type: ignore[arg-type]
    # A lone surrogate is replaced, never a crash; nothing of the refused batches was stored.
    await store.append(org, c["id"], [{"role": "user", "content": "\ud800 deal"}])
    assert (await store.get(org, c["id"]))["message_count"] == 1
    # One U+FFFD, as from Node.
    assert (await store.messages(org, c["id"]))[0]["content"] == [{"type": "text", "text": "\ufffd deal"}]


def rounds(turns: int) -> list[Message]:
    """`turns` rounds of a question, a CRM lookup and its 800-byte result."""
    out: list[Message] = []
    for i in range(turns):
        out.append({"role": "user", "content": f"What changed on the Acme deal, round {i}?"})
        out.append(
            {"role": "assistant", "content": [{"type": "tool_call", "id": f"call-{i}", "name": "crm_search", "arguments": {"round": i}}]}
        )
        out.append({"role": "tool", "content": [{"type": "tool_result", "call_id": f"call-{i}", "content": "r" * 800}]})
    return out


SMALL: CompactOptions = {"threshold": 4000, "recent_tokens": 1000, "tool_result_tokens": 500, "summary_input_tokens": 2000, "summary_tokens": 300}


async def test_compaction_summarises_through_keel_llm_calls(db: keel.Keel, loopback: Loopback) -> None:
    store = db.conversations()
    org = str(uuid.uuid4())
    c = await store.start(org, "U042", "web")
    await store.append(org, c["id"], rounds(100))
    llm = (await db.model_router(seed_defaults=False)).llm(providers=loopback.providers())
    loopback.script("summary-model", {"text": "**Decisions & Conclusions**\n- Acme moved to legal."})
    window = await store.context(org, c["id"], threshold=4000)
    assert window["trimmed"] and window["tokens"] <= 4000
    done = await store.compact(
        org, c["id"], llm=llm, summary_provider="openai", summary_model="summary-model", **SMALL
    )
    assert done["applied"] and done["compaction"] is not None
    compaction = done["compaction"]
    assert (compaction["method"], compaction["number"]) == ("summary", 1)
    assert compaction["tokens_after"] <= 4000 < compaction["tokens_before"]
    assert compaction["summary"] == "**Decisions & Conclusions**\n- Acme moved to legal."
    (request,) = (r["body"] for r in loopback.received())
    assert "Deal Stage Changes" in request["messages"][0]["content"]  # the original's headings
    assert request["max_tokens"] == 300
    window = await store.context(org, c["id"], threshold=4000)
    assert not window["trimmed"] and window["tokens"] == compaction["tokens_after"]
    assert window["messages"][0]["content"][0]["text"].startswith("Summary of the earlier conversation")
    # The transcript is untouched; the same state again compacts nothing.
    assert (await store.get(org, c["id"]))["message_count"] == 300
    again = await store.compact(org, c["id"], **SMALL)
    assert not again["applied"] and again["compaction"] is None


async def test_compaction_without_a_summarizer_trims_and_bad_input_names_its_field(db: keel.Keel) -> None:
    store = db.conversations()
    org = str(uuid.uuid4())
    c = await store.start(org, "U042", "web")
    await store.append(org, c["id"], rounds(100))
    done = await store.compact(org, c["id"], **SMALL)
    assert done["compaction"] is not None and done["compaction"]["method"] == "trim"
    assert done["compaction"]["note"] == "no summarizer"
    for call, field in [
        (store.compact(org, c["id"], threshold=0), "threshold"),
        (store.compact(org, c["id"], model="claude-haiku-4-5"), "model"),
        (store.compact(org, c["id"], recent_tokens=-1), "recent_tokens"),
        (store.context(str(uuid.uuid4()), c["id"], threshold=4000), "conversation_id"),
        (store.compact(org, c["id"], summary_model="x"), "summary_model"),
    ]:
        with pytest.raises(keel.KeelError) as info:
            await call
        assert (info.value.code, info.value.field) == ("invalid_input", field)


def test_plan_compaction_is_pure() -> None:
    view: list[Any] = [{"role": "user", "content": f"q{i}", "tokens": 100} for i in range(20)]
    plan = keel.plan_compaction(view, threshold=1000, min_recent=4, summary_tokens=50)
    assert (plan["action"], plan["fits"], plan["keep_from"]) == ("summarize", True, 12)
    with pytest.raises(keel.KeelError) as info:
        keel.plan_compaction([{"role": "robot", "content": "x"}])  # type: ignore[typeddict-item]
    assert info.value.field == "messages[0].role"


async def test_context_carries_from_slack_to_the_web_and_is_archived(db: keel.Keel) -> None:
    store = db.conversations()
    org, user, deal = (str(uuid.uuid4()) for _ in range(3))
    written = await store.upsert_context(
        org_id=org, user_id=user, channel="slack", channel_ref="1733220000.000100", entity_type="deal",
        entity_id=deal, summary="Acme Corp renewal is in legal review; Dana wants the usage report.",
    )
    assert (written["channel"], written["entity_id"]) == ("slack", deal)
    again = await store.upsert_context(
        org_id=org, user_id=user, channel="slack_copilot", channel_ref="1733220000.000100", entity_type="deal",
        entity_id=deal, summary="Acme Corp renewal: legal signed off.",
    )
    assert again["summary"] == "Acme Corp renewal: legal signed off."
    prior = await store.prior_context(org, user, "How do I prep for the Acme Corp call?")
    assert prior["terms"] == ["Acme Corp"]
    assert [(e["entry"]["entity_id"], e["score"]) for e in prior["entries"]] == [(deal, 5)]
    assert prior["block"] is not None and prior["block"].startswith("## Prior Conversation Context\n[Context from slack_copilot")
    assert await store.archive_context() == {"archived": 0}
    for call, field in [
        (store.upsert_context(org_id=org, user_id=user, channel="email", entity_type="deal", entity_id=deal, summary="x"), "channel"),  # type: ignore[typeddict-item]
        (store.upsert_context(org_id=org, user_id=user, channel="web", entity_type="lead", entity_id=deal, summary="x"), "entity_type"),  # type: ignore[typeddict-item]
        (store.upsert_context(org_id=org, user_id=user, channel="web", entity_type="deal", entity_id=deal, summary=""), "summary"),
        (store.prior_context(org, "nope", "Acme"), "user_id"),
        (store.archive_context(max_age_days=0), "max_age_days"),
    ]:
        with pytest.raises(keel.KeelError) as info:
            await call
        assert (info.value.code, info.value.field) == ("invalid_input", field)
