"""Conversation memory: open a Slack thread's conversation, append a turn with a tool call and its
result, read the running total the database keeps, the compaction threshold of the model that will
answer, a compaction that masks old tool results, context carried from Slack to the web, and facts
recalled across conversations. The same scenario runs in examples/rust/memory.rs and examples/node/memory.mjs.

    python examples/python/memory.py
    KEEL_DATABASE_URL=postgres://… python examples/python/memory.py
"""

import asyncio
import os
import uuid

import keel
from keel.types import Message


async def main() -> None:
    url = os.environ.get("KEEL_DATABASE_URL", "sqlite::memory:")
    org = str(uuid.uuid4())
    # --8<-- [start:memory]
    db = await keel.connect(url)
    store = db.conversations()
    thread = await store.start(org, "U042", "slack", channel_ref="1733220000.000100")
    appended = await store.append(
        org,
        thread["id"],
        [
            {"role": "user", "content": "What is blocking the Acme renewal?"},
            {
                "role": "assistant",
                "content": [{"type": "tool_call", "id": "call-1", "name": "crm_lookup", "arguments": {"deal": "Acme"}}],
            },
            {"role": "tool", "content": [{"type": "tool_result", "call_id": "call-1", "content": "stage: legal review"}]},
        ],
    )
    first, last, total = appended["first_seq"], appended["last_seq"], appended["total_tokens"]
    print(f"appended messages {first}..{last}: {total} tokens in the conversation")
    messages = await store.messages(org, thread["id"])
    print("read back:", ", ".join(m["role"] for m in messages))
    # What the question costs: exact for an OpenAI model, estimated (and calibrated by the
    # usage a client's calls report) for Claude.
    question: list[Message] = [{"role": "user", "content": "What is blocking the Acme renewal?"}]
    for model in ("gpt-4o", "claude-haiku-4-5"):
        n = keel.count_message_tokens(model, question)
        print(f"{model}: {n['tokens']} input tokens ({'exact' if n['exact'] else 'estimated'})")
    # A tool result must answer a call still waiting for one.
    try:
        await store.append(
            org, thread["id"], [{"role": "tool", "content": [{"type": "tool_result", "call_id": "call-1", "content": "again"}]}]
        )
    except keel.KeelError as refused:
        print(f"a second answer to call-1 is refused: {refused.code}")
    router = await db.model_router()
    limit = router.compaction_threshold("claude-haiku-4-5-20251001")
    print(f"compact this thread above {limit['threshold']} tokens")
    # Twelve more lookups with 4 kB results, then a compaction under a small budget: old tool
    # results become stubs (no model call); with an `llm` the middle would also be summarised.
    for i in range(2, 14):
        turn: list[Message] = [
            {"role": "user", "content": f"And deal {i}?"},
            {
                "role": "assistant",
                "content": [{"type": "tool_call", "id": f"call-{i}", "name": "crm_lookup", "arguments": {"deal": i}}],
            },
            {"role": "tool", "content": [{"type": "tool_result", "call_id": f"call-{i}", "content": "x" * 4000}]},
        ]
        await store.append(org, thread["id"], turn)
    done = await store.compact(org, thread["id"], threshold=6000, tool_result_tokens=1000)
    c = done["compaction"]
    assert c is not None
    print(
        f"compaction {c['number']} ({c['method']}): {c['tokens_before']} -> {c['tokens_after']} tokens, "
        f"{len(c['masked'])} tool results masked"
    )
    window = await store.context(org, thread["id"], threshold=6000)
    print(f"sent to the model: {len(window['messages'])} messages, {window['tokens']} tokens")
    # What was said in the Slack thread about the Acme deal, carried into a web question.
    user, deal = str(uuid.uuid4()), str(uuid.uuid4())
    await store.upsert_context(
        org_id=org, user_id=user, channel="slack", channel_ref="1733220000.000100", entity_type="deal",
        entity_id=deal, summary="Acme renewal is in legal review; Dana wants the usage report.",
    )
    prior = await store.prior_context(org, user, "How do I prep for the Acme call?")
    chosen = prior["entries"][0]
    terms = ", ".join(f'"{t}"' for t in prior["terms"])
    print(f"prior context for [{terms}]: from {chosen['entry']['channel']} about the {chosen['entry']['entity_type']}, score {chosen['score']}")
    # Facts kept about the rep across conversations: the company linked to the platform's id by
    # a lookup of the caller's, then the best ones recalled for a later question.
    await store.add_facts(
        org,
        "U042",
        [
            {"category": "commitment", "subject": "Acme usage report", "content": "Dana wants the usage report by Friday", "company_name": "Acme"},
            {"category": "preference", "subject": "Reports", "content": "Prefers weekly pipeline reports by email"},
        ],
        link=lambda kind, name: "company-acme" if (kind, name) == ("company", "Acme") else None,
    )
    recall = await store.recall(org, "U042", "What does Dana need from us for Acme?")
    best = recall["facts"][0]
    print(f"recalled '{best['fact']['subject']}' (company {best['fact']['company_id']}), score {best['score']:.2f}")
    await db.close()
    # --8<-- [end:memory]


if __name__ == "__main__":
    asyncio.run(main())
