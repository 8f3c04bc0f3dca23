"""Agent runs: an executor retried after a transient failure, a committed step that a retry
skips, a budget that stops the run at its next step with partial results, and the
agent_executions rows they left. The same scenario runs in examples/rust/agent_runs.rs and
examples/node/agent_runs.mjs.

    python examples/python/agent_runs.py
    KEEL_DATABASE_URL=postgres://… python examples/python/agent_runs.py
"""

import asyncio
import json
import os
from typing import Any

import keel


class Unavailable(Exception):
    status_code = 503


async def main() -> None:
    url = os.environ.get("KEEL_DATABASE_URL", "sqlite::memory:")
    # --8<-- [start:agent_runs]
    db = await keel.connect(url)
    quick = {"kinds": {"transient": {"max_attempts": 3, "backoff": {"base_ms": 0, "cap_ms": 0}}}}

    async def score(ctx: keel.AgentContext) -> Any:
        if ctx.attempt == 1:
            raise Unavailable("CRM unavailable")
        ctx.add_items(emitted=3, processed=42)
        return {"at_risk": 3}

    result = await db.run_agent({"agent_name": "deal-risk-scan", "org_id": "system", "policy": quick}, score)
    data = json.dumps(result["data"], separators=(",", ":"))
    print(f"deal-risk-scan: {result['status']} after {result['attempts']} attempts; first failure {result['errors'][0]['kind']}; data {data}")

    writes = []

    async def write() -> dict[str, int]:
        writes.append(1)
        return {"crm_id": 42}

    async def sync(ctx: keel.AgentContext) -> Any:
        saved = await ctx.step("write_crm", write)
        if ctx.attempt == 1:
            raise ConnectionResetError("connection reset")
        return saved

    result = await db.run_agent({"agent_name": "crm-sync", "org_id": "system", "policy": quick}, sync)
    print(f"crm-sync: {result['status']}; the step ran {len(writes)} time(s); steps {', '.join(result['steps'])}")

    async def briefing(ctx: keel.AgentContext) -> Any:
        async def gather() -> list[str]:
            ctx.add_credits(1.5)  # the model calls of this step, say
            return ["deal-1", "deal-2"]

        deals = await ctx.step("gather", gather)
        await ctx.step("write", write)  # refused: the budget is spent
        return deals

    config = {"agent_name": "morning-briefing", "org_id": "system", "budget": 1, "allow_partial_results": True}
    result = await db.run_agent(config, briefing)
    kept = json.dumps(result["steps"], separators=(",", ":"))
    print(f"morning-briefing: {result['status']}, partial {json.dumps(result['partial'])}; kept {kept}; the write ran {len(writes) - 1} time(s)")

    runs = db.runs()
    await runs.flush()
    for row in reversed(await runs.list(org_id="system")):
        print(f"row {row['agent_name']}: {row['status']}, {row['attempts']} attempt(s), credits {row['credits_consumed']:.1f}")
    await db.close()
    # --8<-- [end:agent_runs]


asyncio.run(main())
