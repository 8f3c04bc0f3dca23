"""Slack threads: a copilot thread found or created for its first message, a
`conversations.replies` page ingested (a redelivery stored once), a turn recorded, the thread's
context extracted at its watermark by the router's enrichment model with the deal resolved by
your lookup, the Slack conclusion read from the web, forgotten, and the thread's history.

The same scenario runs in examples/rust/threads.rs and examples/node/threads.mjs.

    KEEL_LLM_BASE_URL=http://127.0.0.1:PORT python examples/python/threads.py   # `keel loopback`
    ANTHROPIC_API_KEY=… python examples/python/threads.py
"""

import asyncio
import os

import keel

ORG = "00000000-0000-4000-8000-0000000000a7"
REP = "00000000-0000-4000-8000-0000000000b7"
DEAL = "00000000-0000-4000-8000-00000000de07"
THREAD_TS = "1733220000.000100"
LINES = [
    "Where is the Acme Renewal?",
    "Legal has the redlines; Dana owns them.",
    "What did they push back on?",
    "The liability cap and a 12% discount.",
    "Can we hold the discount at 8%?",
    "Finance approved 8% on a two-year term.",
    "Draft the reply to Dana.",
    "Drafted: 8% on two years, cap unchanged.",
    "Sent. Dana says legal signs Friday.",
    "Noted: signature expected Friday.",
]


def replies_page() -> dict:
    """A `conversations.replies` page: the rep (U0REP) and the copilot's bot (U0BOT) in turn."""
    messages = [
        {"type": "message", "user": "U0BOT" if i % 2 else "U0REP", "text": text, "ts": f"17332200{i:02d}.000100"}
        for i, text in enumerate(LINES)
    ]
    return {"ok": True, "messages": messages}


async def main() -> None:
    url = os.environ.get("KEEL_DATABASE_URL", "sqlite::memory:")
    # A local server (`keel loopback`) when set; else Anthropic itself, with your key.
    base = os.environ.get("KEEL_LLM_BASE_URL")
    # --8<-- [start:threads]
    db = await keel.connect(url)
    threads = db.slack_threads()
    thread = await threads.get_or_create(
        org_id=ORG, user_id=REP, slack_team_id="T0ACME", slack_channel_id="C0DEALS", slack_thread_ts=THREAD_TS
    )
    page = replies_page()
    done = await threads.ingest(ORG, thread["id"], page, bot_user_id="U0BOT")
    first, last = done["seqs"]
    print(f"ingested {done['added']} messages as seqs {first}..{last}; extraction due: {str(done['extraction_due']).lower()}")
    again = await threads.ingest(ORG, thread["id"], page, bot_user_id="U0BOT")
    print(f"redelivered: {again['added']} added, {again['duplicates']} duplicates")
    turn = await threads.record_turn(ORG, thread["id"], intent="deal_query", credits=0.5)
    print(f"turns {len(turn['turns'])}, intents {', '.join(turn['intents_used'])}, credits {turn['credits_consumed']}")

    router = await db.model_router()
    llm = router.llm(providers={"anthropic": {"base_url": base}} if base else {})
    sweep = await threads.sweep(llm=llm, link=lambda kind, name: DEAL if name == "Acme Renewal" else None)
    extraction = sweep["threads"][0]
    print(f"sweep: {sweep['claimed']} claimed, {sweep['extracted']} extracted through {extraction['extracted_through']}")
    print(f"  summary: {extraction['summary']}")
    for e in extraction["entities"]:
        print(f"  {e['entity_type']} {e['name']}: {'resolved' if e['entity_id'] else 'kept as text'}")

    memory = db.conversations()
    web = await memory.context_for_user(ORG, REP, message="Where does the Acme Renewal stand?", channel="web")
    for chosen in web["entries"]:
        entry = chosen["entry"]
        print(f"web sees ({chosen['score']}): {entry['channel']} {entry['entity_type']} {entry['entity_name']}")
    forgotten = await memory.forget_context(ORG, REP, "deal", DEAL)
    print(f"forgot the deal: {forgotten['removed']} row(s)")
    for item in await threads.history(ORG, thread["id"], limit=2):
        print(f"  [{item['seq']}] {item['role']}: {item['content']}")
    try:
        await threads.history(ORG, thread["id"], limit=0)
    except keel.InvalidInputError as err:
        print(f"refused: {err.code} ({err.field})")
    # --8<-- [end:threads]
    await db.close()


asyncio.run(main())
