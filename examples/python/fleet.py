"""Fleet health: the seeded agent registry, an agent registered by its cron schedule, its runs
judged by one health run (every seeded agent that never ran is stale), alerts posted once to a
Slack webhook, a second run that sends nothing, and a schedule that is not cron refused.

The same scenario runs in examples/rust/fleet.rs and examples/node/fleet.mjs.

    KEEL_LLM_BASE_URL=http://127.0.0.1:PORT python examples/python/fleet.py   # `keel loopback`
    SLACK_WEBHOOK_URL=https://hooks.slack.com/services/… python examples/python/fleet.py
"""

import asyncio
import os
from typing import Any

import keel


class Unavailable(Exception):
    status_code = 503


async def main() -> None:
    url = os.environ.get("KEEL_DATABASE_URL", "sqlite::memory:")
    # A local Slack (`keel loopback`) when set; else SLACK_WEBHOOK_URL and friends.
    base = os.environ.get("KEEL_LLM_BASE_URL")
    options = {"webhook_url": base + "/services/T0/B0/example"} if base else {}
    # --8<-- [start:fleet]
    db = await keel.connect(url)
    fleet = db.fleet(**options)
    agents = await fleet.agents()
    weekly = next(a for a in agents if a["agent_name"] == "pipeline-snapshot")
    print(f"{len(agents)} agents registered; pipeline-snapshot every {weekly['cadence_ms'] // 86_400_000} d ({weekly['schedule']})")
    crm = await fleet.set_agent("crm-sync", schedule="*/30 * * * *")
    print(f"crm-sync every {crm['cadence_ms'] // 60_000} min")

    for ok in (True, False, True, False):

        async def sync(ctx: keel.AgentContext, ok: bool = ok) -> Any:
            if not ok:
                raise Unavailable("CRM unavailable")
            return {"synced": 12}

        await db.run_agent({"agent_name": "crm-sync", "max_retries": 0, "dead_letter": False}, sync)
    await db.runs().flush()

    health = await fleet.check_fleet_health()
    for agent in health["agents"]:
        why = agent["reasons"][0] if agent["reasons"] else ""
        print(f"  {agent['name']:<20} {agent['status']:<8} {why}")
    print(f"{health['total_alerts_fired']} alerts queued, {health['delivery']['delivered']} delivered")
    again = await fleet.check_fleet_health()
    print(f"a second run: {again['total_alerts_fired']} new alerts")

    try:
        await fleet.set_agent("x", schedule="every day")
    except keel.InvalidInputError as err:
        print(f"refused: {err.code} ({err.field})")
    # --8<-- [end:fleet]
    await db.close()


asyncio.run(main())
