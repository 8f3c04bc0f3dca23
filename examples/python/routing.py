"""Routing: sync the library, then route web and Slack messages for an org: a skill, a
greeting, something out of scope, and the first question again from the cache, awaited and
without waiting. The same scenario runs in examples/rust/routing.rs and
examples/node/routing.mjs.

    python examples/python/routing.py
    KEEL_DATABASE_URL=postgres://… python examples/python/routing.py
"""

import asyncio
import os
import uuid

import keel

MESSAGES = [
    ("web", "What's the status of the Globex deal?"),
    ("slack", "how do we win against Rivalsoft?"),
    ("web", "thanks!"),
    ("web", "what's the weather in Paris?"),
    ("web", "what's the STATUS of the globex deal?"),
]


async def main() -> None:
    url = os.environ.get("KEEL_DATABASE_URL", "sqlite::memory:")
    org = str(uuid.uuid4())
    # --8<-- [start:routing]
    db = await keel.connect(url)
    skills = await db.skill_registry()
    await skills.sync("skills")
    router = skills.message_router()
    for channel, message in MESSAGES:
        d = await router.route(message, channel, org, "rep-7")
        how = "cache" if d["cached"] else ("out of scope" if d["out_of_scope"] else d["stage"])
        print(f"{channel:<5} {message!r:<42} -> {d['route']} ({d['confidence']:.2f}, {how})")
    # On a hot path, try_route answers without awaiting when nothing needs waiting for.
    hit = router.try_route("What's the status of the Globex deal?", "web", org)
    if hit is not None:
        print(f"without waiting: {hit['route']} (cached: {str(hit['cached']).lower()})")
    await router.flush()  # decisions are logged off the response path
    rows = await router.log(org)
    print(f"routing_logs: {len(rows)} decisions, {sum(r['cached'] for r in rows)} from the cache")
    await db.close()
    # --8<-- [end:routing]


if __name__ == "__main__":
    asyncio.run(main())
