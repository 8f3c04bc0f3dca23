"""The conversation store from Python, on SQLite and PostgreSQL (`db` runs each test on both)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

import keel
from keel.types import Message


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
    assert (first["first_seq"], first["last_seq"], first["tokens"][0]) == (1, 2, 13)
    answer: list[Message] = [{"role": "tool", "content": [{"type": "tool_result", "call_id": "call-1", "content": "legal"}]}]
    second = await store.append(org, c["id"], answer)
    assert second["total_tokens"] == sum(first["tokens"]) + second["tokens"][0]
    read = await store.messages(org, c["id"])
    assert [m["seq"] for m in read] == [1, 2, 3]
    assert read[0]["content"] == [{"type": "text", "text": "What is blocking the Acme renewal?"}]
    assert not read[0]["tokens_exact"]
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
