"""Agent runs from Python, on SQLite and PostgreSQL (`db` runs each test on both): an async
executor retried by failure kind, steps skipped on retry and re-raising the caller's own
exception, the budget stopping at a step with partial results, a hung executor cut by its
timeout, a run that fails for good becoming a dead letter, cancellation, the execution row
with raw ids, and bad configs named by field."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import keel
from keel.types import AgentConfig

QUICK: Any = {
    "kinds": {
        kind: {"max_attempts": n, "backoff": {"base_ms": 0, "cap_ms": 0}}
        for kind, n in [("transient", 3), ("timeout", 2), ("unknown", 2)]
    }
}


def config(agent: str, **more: Any) -> AgentConfig:
    base: AgentConfig = {"agent_name": agent, "policy": QUICK}
    base.update(more)  # type: ignore[typeddict-item]
    return base


class Upstream(Exception):
    def __init__(self, status_code: int) -> None:
        super().__init__(f"HTTP {status_code}")
        self.status_code = status_code


async def test_a_transient_failure_is_retried_and_recorded(db: keel.Keel) -> None:
    seen: list[int] = []

    async def executor(ctx: keel.AgentContext) -> Any:
        seen.append(ctx.attempt)
        ctx.add_items(emitted=1, processed=3)
        ctx.add_credits(0.25)
        ctx.logger.info("scoring.batch", {"deals": 3})
        if ctx.attempt == 1:
            raise Upstream(503)
        return {"scored": 3, "trace": ctx.trace_id}

    result = await db.run_agent(
        config("deal-risk-scan", user_id="system", org_id="system", triggered_by="cron"), executor
    )
    assert result["success"] and seen == [1, 2]
    assert result["data"] == {"scored": 3, "trace": result["trace_id"]}
    assert result["attempts"] == 2 and result["retries_used"] == 1
    assert result["errors"][0]["kind"] == "transient" and result["errors"][0]["status"] == 503
    assert result["credits_consumed"] == 0.5
    runs = db.runs()
    await runs.flush()
    row = await runs.get(result["execution_id"])
    assert row["status"] == "completed" and row["attempts"] == 2
    assert (row["items_emitted"], row["items_processed"]) == (2, 6)
    assert row["user_id"] == "system" and row["triggered_by"] == "cron"
    listed = await runs.list(agent_name="deal-risk-scan", status=["completed"])
    assert [r["id"] for r in listed] == [result["execution_id"]]


async def test_steps_run_once_and_raise_the_callers_own_exception(db: keel.Keel) -> None:
    writes: list[str] = []

    async def write() -> dict[str, int]:
        writes.append("crm")
        return {"crm_id": 42}

    async def bad() -> None:
        raise KeyError("deal-9")

    async def executor(ctx: keel.AgentContext) -> Any:
        done = await ctx.step("write", write)
        if ctx.attempt == 1:
            raise ConnectionResetError("connection reset by peer")
        with pytest.raises(KeyError):
            await ctx.step("bad", bad)
        return done

    result = await db.run_agent(config("crm-sync"), executor)
    assert result["success"], result
    assert result["data"] == {"crm_id": 42} and writes == ["crm"]
    assert result["steps"] == {"write": {"crm_id": 42}}


async def test_a_spent_budget_stops_at_the_next_step(db: keel.Keel) -> None:
    later: list[int] = []

    async def gather() -> list[str]:
        return ["deal-1"]

    async def spend_then_gather(ctx: keel.AgentContext) -> Any:
        ctx.add_credits(2)
        return await gather()

    async def executor(ctx: keel.AgentContext) -> Any:
        await ctx.step("gather", lambda: spend_then_gather(ctx))
        async def write() -> None:
            later.append(1)

        with pytest.raises(keel.BudgetExceededError):
            await ctx.step("write", write)
        assert ctx.check_budget().exceeded and ctx.credits_used == 2
        raise RuntimeError("stopped")

    result = await db.run_agent(config("briefing", budget=1, allow_partial_results=True), executor)
    assert result["status"] == "budget_exceeded" and result["partial"] and not result["success"]
    assert result["steps"] == {"gather": ["deal-1"]} and later == []
    assert result["dead_letter_id"] is None


async def test_a_hung_executor_times_out_and_becomes_a_dead_letter(db: keel.Keel) -> None:
    async def executor(ctx: keel.AgentContext) -> Any:
        await asyncio.sleep(30)

    result = await db.run_agent(
        config("hangs", attempt_timeout_ms=50, payload={"deal": "Acme"}, trigger_type="cron"), executor
    )
    assert result["status"] == "failed" and result["error_kind"] == "timeout"
    assert result["attempts"] == 2
    assert result["dead_letter_id"] is not None
    letter = await db.dead_letters().get(result["dead_letter_id"])
    assert letter["payload"] == {"deal": "Acme"} and len(letter["errors"]) == 2
    runs = db.runs()
    await runs.flush()
    assert (await runs.get(result["execution_id"]))["status"] == "failed"


async def test_cancelling_the_task_fails_the_row(db: keel.Keel) -> None:
    started = asyncio.Event()
    ids: list[str] = []

    async def executor(ctx: keel.AgentContext) -> Any:
        ids.append(ctx.execution_id)
        started.set()
        await asyncio.sleep(30)

    task = asyncio.ensure_future(db.run_agent(config("slow"), executor))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    runs = db.runs()
    for _ in range(50):
        await runs.flush()
        row = await runs.get(ids[0])
        if row["status"] != "running":
            break
        await asyncio.sleep(0.05)
    assert row["status"] == "failed" and (row["error_message"] or "").startswith("cancelled")


async def test_bad_configs_and_odd_failures(db: keel.Keel) -> None:
    async def ok(ctx: keel.AgentContext) -> int:
        return 1

    with pytest.raises(keel.InvalidInputError) as e:
        await db.run_agent(config("a", attempt_timeout_ms=-1), ok)
    assert e.value.field == "config.attempt_timeout_ms"
    with pytest.raises(keel.InvalidInputError) as e:
        await db.run_agent({"agent_name": ""}, ok)
    assert e.value.field == "config.agent_name"
    with pytest.raises(keel.InvalidInputError) as e:
        await db.run_agent(config("a", payload={"x": object()}), ok)
    assert e.value.field == "config.payload.x"

    class Odd(Exception):
        kind = "cosmic_ray"

    async def odd(ctx: keel.AgentContext) -> Any:
        raise Odd("strange")

    result = await db.run_agent(config("odd"), odd)
    assert result["error_kind"] == "unknown" and result["attempts"] == 2
