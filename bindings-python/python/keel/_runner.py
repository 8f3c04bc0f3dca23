"""Drives an agent run on the running asyncio loop (``Keel.run_agent``).

Core's run driver decides everything: whether to attempt, each attempt's time limit, how long
to wait, how the run ended. This only does what it asks, on the caller's loop: await the
executor (in the caller's own task, with no thread hop), sleep, await a database call, and
tell the driver what happened. Cancelling the awaiting task cancels the run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from keel import _native


async def _attempt(run: Any, executor: Callable[[Any], Awaitable[Any]], ctx: Any, timeout: float) -> None:
    """One attempt under its time limit, its outcome told to the driver."""
    timer = asyncio.timeout(timeout) if hasattr(asyncio, "timeout") else None
    try:
        if timer is None:  # Python 3.10
            value = await asyncio.wait_for(executor(ctx), timeout)
        else:
            async with timer:
                value = await executor(ctx)
    except (TimeoutError, asyncio.TimeoutError) as err:
        if timer is None or timer.expired():
            run.timed_out()
        else:
            run.failed(err)
    except Exception as err:  # the executor's failure: classified in core
        run.failed(err)
    else:
        run.succeeded(value)


async def run(
    db: _native.Keel,
    config: Any,
    executor: Callable[[Any], Awaitable[Any]],
    llm: _native.Llm | None,
) -> Any:
    """``db.run_agent(config, executor, llm)``."""
    agent_run = db._start_run(config, executor, llm)
    try:
        while True:
            step = agent_run.next()
            if step[0] == "attempt":
                await _attempt(agent_run, executor, step[1], step[2])
            elif step[0] == "wait":
                await asyncio.sleep(step[1])
            elif step[0] == "claim":
                await agent_run.claim()
            elif step[0] == "finish":
                await agent_run.finish()
            else:
                return agent_run.result()
    except BaseException:
        agent_run.cancel()
        raise
