"""The operator console from code: the reads `keel serve` answers (the queue's backlog per lane
over the last hour, the dead letters), an action refused on a read-only console, then run on
one that allows actions and found in the log with its actor. The same scenario runs in
examples/rust/console.rs and examples/node/console.mjs.

    python examples/python/console.py
    KEEL_DATABASE_URL=postgres://… python examples/python/console.py
"""

import asyncio
import os

import keel

ORG = "00000000-0000-4000-8000-0000000000a1"


async def main() -> None:
    url = os.environ.get("KEEL_DATABASE_URL", "sqlite::memory:")
    # --8<-- [start:console]
    db = await keel.connect(url)
    items = [{"org_id": ORG, "source_agent": "deal-risk", "item_type": "deal_risk", "title": f"item {i}", "queue_priority": i % 3} for i in range(6)]
    await db.queue().enqueue(items)
    letters = db.dead_letters()
    letter = await letters.enqueue(agent_name="crm-sync", org_id=ORG, errors=[{"message": "HTTP 401"}])
    await letters.abandon(letter["id"], reason="the token was revoked")
    print(f"{len(keel.CONSOLE_READS)} reads, {len(keel.CONSOLE_ACTIONS)} actions")

    console = await db.console()
    history = await console.call("queue_history", hours=1, points=5)
    print(f"backlog per lane now: [{', '.join(str(lane['backlog'][4]) for lane in history['lanes'])}]")
    abandoned = await console.call("letters", status=["abandoned"])
    print(f"abandoned letters: {len(abandoned)}")
    try:
        await console.call("redrive_letter", id=letter["id"], actor="ann")
    except keel.InvalidInputError as err:
        print(f"read-only: {err.code} on {err.field}")

    console = await db.console(allow_actions=True)
    redriven = await console.call("redrive_letter", id=letter["id"], actor="ann")
    print(f"redriven: {redriven['status']}")
    logged = await console.call("logs", text="console.action")
    action = logged["events"][0]["metadata"]
    print(f"logged: {action['operation']} by {action['actor']}")
    await db.close()
    # --8<-- [end:console]


asyncio.run(main())
