"""Drives a queue worker on the running asyncio loop (``Queue.work``).

Core's worker session decides everything: how many items to claim, when to wait, when to
extend leases, what a handler's answer means, and writes the outcomes (completions together).
This only runs the handlers it hands out, each in its own task, and tells the session how each
ended. Setting ``stop`` (or cancelling the awaiting task) stops claiming; the running handlers
finish and their outcomes are written before it returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from keel import _native


async def _one(session: Any, handler: Callable[[Any], Awaitable[Any]], item: Any) -> None:
    """Runs the handler on one item and settles it."""
    try:
        value = await handler(item)
    except Exception as err:  # the handler's failure: a retryable one, in core
        session.settle(item["id"], item["lease_token"], None, str(err) or type(err).__name__)
    else:
        session.settle(item["id"], item["lease_token"], value)


async def work(
    queue: _native.Queue,
    handler: Callable[[Any], Awaitable[Any]],
    stop: asyncio.Event | None,
    options: dict[str, Any],
) -> Any:
    """``queue.work(handler, stop, **options)``."""
    session = queue._session(**options)
    running: set[asyncio.Task[None]] = set()
    watcher = None
    if stop is not None:

        async def watch() -> None:
            await stop.wait()
            session.stop()

        watcher = asyncio.ensure_future(watch())
    cancelled = False
    pending: asyncio.Future[Any] | None = None
    try:
        while True:
            # One `next` at a time: a cancelled wait keeps the call under way (it may have
            # claimed items, which must still run) and awaits it again.
            if pending is None:
                pending = asyncio.ensure_future(session.next())
            try:
                items = await asyncio.shield(pending)
            except asyncio.CancelledError:
                # Stop claiming, and keep driving until the running items are recorded.
                cancelled = True
                session.stop()
                continue
            pending = None
            if items is None:
                break
            for item in items:
                task = asyncio.ensure_future(_one(session, handler, item))
                running.add(task)
                task.add_done_callback(running.discard)
    finally:
        if watcher is not None:
            watcher.cancel()
    if cancelled:
        raise asyncio.CancelledError
    return session.report()
