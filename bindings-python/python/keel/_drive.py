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
import math
import sys
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from keel._native import DrivenCall
from keel.types import Completion

Transport = Callable[[Any], Awaitable[Any]]

if sys.version_info >= (3, 11):

    class _Expiry:
        """Cancels an attempt's task when its time is up."""

        __slots__ = ("task", "fired")

        def __init__(self, task: asyncio.Task[Any]) -> None:
            self.task = task
            self.fired = False

        def __call__(self) -> None:
            self.fired = True
            self.task.cancel()

    class _Deadlines:
        """The attempts' deadlines on one event loop, behind one loop timer set at the
        earliest: an attempt that ends before it (most do) costs a dict entry, not a timer.
        Holds its loop only through the attempts in flight, so a finished loop is freed."""

        def __init__(self) -> None:
            self.waiting: dict[_Expiry, float] = {}
            self.timer: weakref.ref[asyncio.TimerHandle] | None = None
            self.timer_at = math.inf

        def add(self, loop: asyncio.AbstractEventLoop, expiry: _Expiry, seconds: float) -> None:
            deadline = loop.time() + seconds
            self.waiting[expiry] = deadline
            if deadline < self.timer_at:
                self._wake_at(loop, deadline)

        def remove(self, expiry: _Expiry) -> None:
            self.waiting.pop(expiry, None)

        def _wake_at(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
            timer = self.timer() if self.timer is not None else None
            if timer is not None:
                timer.cancel()
            self.timer = weakref.ref(loop.call_at(deadline, self._expire))
            self.timer_at = deadline

        def _expire(self) -> None:
            loop = asyncio.get_running_loop()
            self.timer, self.timer_at = None, math.inf
            now = loop.time() + _RESOLUTION  # as the loop compares a timer's time
            for expiry, deadline in list(self.waiting.items()):
                if deadline <= now:
                    del self.waiting[expiry]
                    expiry()
            if self.waiting:
                self._wake_at(loop, min(self.waiting.values()))

    _RESOLUTION = time.get_clock_info("monotonic").resolution
    _deadlines: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Deadlines] = weakref.WeakKeyDictionary()

    def _deadlines_of(loop: asyncio.AbstractEventLoop) -> _Deadlines:
        found = _deadlines.get(loop)
        if found is None:
            found = _deadlines[loop] = _Deadlines()
        return found

    async def _within(seconds: float, answer: Awaitable[Any]) -> Any:
        """``answer``, or ``TimeoutError`` after ``seconds``; a cancellation from elsewhere goes
        through, as with ``asyncio.timeout``."""
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a model call is awaited inside a task")
        cancelling = task.cancelling()
        expiry = _Expiry(task)
        loop = task.get_loop()
        deadlines = _deadlines_of(loop)
        deadlines.add(loop, expiry, seconds)
        uncancelled = False
        try:
            return await answer
        except asyncio.CancelledError:
            if expiry.fired:
                uncancelled = True
                if task.uncancel() <= cancelling:
                    raise TimeoutError from None
            raise
        finally:
            deadlines.remove(expiry)
            if expiry.fired and not uncancelled:
                task.uncancel()


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
