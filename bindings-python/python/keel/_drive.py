"""A model call whose attempts go through the caller's own transports, driven on the caller's
event loop (core: ``keel::llm::DrivenCall``).

``Llm.complete`` returns this coroutine (inside its ``keel.Call``) when the client has
transports, the call is made on an event loop and core hands the call back to be driven. Core
decides everything: which model, what each attempt sends, how an answer or a failure is read,
whether to fall back, what the breaker and the spans record. This loop only awaits: the
transport, within the attempt's time, or ``call.wait()`` for a step on Keel's side (an attempt
through Keel's own client, the breaker report of a call that failed for good). No thread is
woken for an attempt a transport sends.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from keel._native import DrivenCall
from keel.types import Completion

Transport = Callable[[Any], Awaitable[Any]]

if sys.version_info >= (3, 11):

    async def _within(seconds: float, answer: Awaitable[Any]) -> Any:
        async with asyncio.timeout(seconds):
            return await answer

else:  # pragma: no cover - Python 3.10

    async def _within(seconds: float, answer: Awaitable[Any]) -> Any:
        return await asyncio.wait_for(answer, seconds)


async def drive(call: DrivenCall, transports: Mapping[str, Transport]) -> Completion:
    """Drives ``call`` to its completion; raises the call's error."""
    while True:
        request = call.transport_request()
        if request is None:
            done = await call.wait()
        else:
            try:
                reply = await _within(call.timeout(), transports[request["provider"]](request))
            except (TimeoutError, asyncio.TimeoutError):
                done = call.timed_out()
            except Exception as error:  # noqa: BLE001 - what the SDK raised is read by core
                done = call.failed(error)
            else:
                done = call.replied(reply)
        if done is not None:
            return done
