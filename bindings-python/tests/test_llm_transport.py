"""A Python async function as a provider's transport (a platform's own vendor SDK client):
Keel hands it the provider's request body and reads its reply or its SDK-style error, so
fallback, typed errors, streams and cancellation work the same around it."""

from __future__ import annotations

import asyncio
import pathlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

import keel
from conftest import Loopback

PRIMARY, SECOND = "claude-a", "gemini-b"
HELLO = [{"role": "user", "content": "hello"}]


def message(text: str) -> dict[str, Any]:
    """An Anthropic Messages reply body."""
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": PRIMARY,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 3, "output_tokens": 2},
    }


class Response:
    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers


class APIStatusError(Exception):
    """Shaped like the Anthropic and OpenAI SDKs' errors."""

    def __init__(self, status_code: int, message: str, retry_after: str | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = {"type": "error", "error": {"type": "api_error", "message": message}}
        self.response = Response({"retry-after": retry_after} if retry_after else {})


class Reply:
    """Shaped like an SDK's pydantic reply."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body

    def model_dump(self, mode: str = "python") -> dict[str, Any]:
        assert mode == "json"
        return self.body


class FakeSdk:
    """Answers from a script, recording what it was sent."""

    def __init__(self, *replies: Any) -> None:
        self.replies = list(replies)
        self.sent: list[dict[str, Any]] = []
        self.cancelled = asyncio.Event()

    async def __call__(self, request: dict[str, Any]) -> Any:
        self.sent.append(request)
        reply = self.replies.pop(0)
        if reply == "stall":
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                self.cancelled.set()
                raise
        if isinstance(reply, Exception):
            raise reply
        return reply


@pytest.fixture
async def router(tmp_path: pathlib.Path) -> AsyncIterator[keel.ModelRouter]:
    db = await keel.connect(f"sqlite://{tmp_path / 'keel.db'}")
    router = await db.model_router(seed_defaults=False)
    await router.set_model("copilot", "low", "anthropic", PRIMARY)
    await router.set_model("copilot", "low", "google", SECOND, fallback_order=1)
    yield router
    await db.close()


async def test_the_transport_gets_the_provider_body_and_its_reply_is_read(
    router: keel.ModelRouter, loopback: Loopback
) -> None:
    sdk = FakeSdk(message("from the SDK"), Reply(message("from a pydantic reply")))
    llm = router.llm(providers=loopback.providers(), transports={"anthropic": sdk})
    done = await llm.complete(feature="copilot", tier="low", system="be brief", messages=HELLO)
    assert (done["model"], done["text"]) == (PRIMARY, "from the SDK")
    assert done["usage"] == {"input_tokens": 3, "output_tokens": 2}
    sent = sdk.sent[0]
    assert (sent["provider"], sent["model"], sent["operation"]) == ("anthropic", PRIMARY, "chat")
    assert sent["body"]["system"] == "be brief" and "stream" not in sent["body"]
    assert sent["body"]["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hello"}]}]
    done = await llm.complete(provider="anthropic", model=PRIMARY, messages=HELLO)
    assert done["text"] == "from a pydantic reply"
    assert loopback.received() == [], "nothing went over HTTP"


async def test_a_lone_surrogate_in_a_reply_is_one_replacement_character(
    router: keel.ModelRouter, loopback: Loopback
) -> None:
    # As from Node: one U+FFFD for each lone surrogate (not one for each byte of its
    # surrogatepass encoding), and a pair written as two code points is its character.
    sdk = FakeSdk(message("bad \ud800 end"), message("pair \ud83d\ude00 and \udfff"))
    llm = router.llm(providers=loopback.providers(), transports={"anthropic": sdk})
    ask = lambda: llm.complete(provider="anthropic", model=PRIMARY, messages=HELLO)  # noqa: E731
    assert (await ask())["text"] == "bad \ufffd end"
    assert (await ask())["text"] == "pair \U0001F600 and \ufffd"


async def test_sdk_errors_are_classified_and_fall_back(router: keel.ModelRouter, loopback: Loopback) -> None:
    sdk = FakeSdk(APIStatusError(529, "Overloaded"), APIStatusError(429, "slow down", retry_after="7"))
    llm = router.llm(providers=loopback.providers(), transports={"anthropic": sdk})
    done = await llm.complete(feature="copilot", tier="low", messages=HELLO)
    assert [a["outcome"] for a in done["attempts"]] == ["overloaded", "ok"]
    assert done["model"] == SECOND
    with pytest.raises(keel.RateLimitedError) as info:
        await llm.complete(provider="anthropic", model=PRIMARY, messages=HELLO)
    assert info.value.retry_after_ms == 7000
    assert "slow down" in str(info.value)


async def test_a_stream_through_a_transport_delivers_the_whole_reply(
    router: keel.ModelRouter, loopback: Loopback
) -> None:
    llm = router.llm(providers=loopback.providers(), transports={"anthropic": FakeSdk(message("all at once"))})
    stream = await llm.stream(feature="copilot", tier="low", messages=HELLO)
    events = [e async for e in stream]
    assert events[0] == {"event": "delta", "type": "text", "text": "all at once"}
    assert events[-1]["event"] == "done" and events[-1]["text"] == "all at once"


async def test_a_cancelled_call_cancels_the_transport(router: keel.ModelRouter, loopback: Loopback) -> None:
    sdk = FakeSdk("stall")
    llm = router.llm(providers=loopback.providers(), transports={"anthropic": sdk})
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(llm.complete(provider="anthropic", model=PRIMARY, messages=HELLO), 0.3)
    await asyncio.wait_for(sdk.cancelled.wait(), 5)


async def test_bad_transports_are_refused(router: keel.ModelRouter) -> None:
    with pytest.raises(keel.InvalidInputError) as info:
        router.llm(transports={"anthropic": "not a function"})
    assert info.value.field == "transports.anthropic"
    with pytest.raises(keel.InvalidInputError) as info:
        router.llm(transports={"gemini": FakeSdk()})
    assert info.value.field == "transports"


async def test_a_transport_runs_in_the_callers_own_task(router: keel.ModelRouter, loopback: Loopback) -> None:
    """On an event loop the call is driven there: the transport is awaited by the caller's
    task itself, with no thread woken and no task of its own."""
    tasks: list[asyncio.Task[Any] | None] = []

    async def sdk(request: dict[str, Any]) -> dict[str, Any]:
        tasks.append(asyncio.current_task())
        return message("driven")

    llm = router.llm(providers=loopback.providers(), transports={"anthropic": sdk})
    done = await llm.complete(provider="anthropic", model=PRIMARY, messages=HELLO)
    assert done["text"] == "driven"
    assert tasks == [asyncio.current_task()]


async def test_an_attempt_past_its_time_falls_back_over_keels_own_client(
    router: keel.ModelRouter, loopback: Loopback
) -> None:
    sdk = FakeSdk("stall")
    llm = router.llm(providers=loopback.providers(), transports={"anthropic": sdk})
    done = await llm.complete(feature="copilot", tier="low", messages=HELLO, attempt_timeout=0.2)
    assert [a["outcome"] for a in done["attempts"]] == ["timeout", "ok"]
    assert done["model"] == SECOND and done["was_fallback"]
    assert [r["model"] for r in loopback.received()] == [SECOND], "the fallback went over HTTP"
    await asyncio.wait_for(sdk.cancelled.wait(), 5)


async def test_a_call_that_fails_for_good_raises_with_every_attempt(
    router: keel.ModelRouter, loopback: Loopback
) -> None:
    sdk = FakeSdk(APIStatusError(500, "down"), APIStatusError(503, "still down"))
    llm = router.llm(providers=loopback.providers(), transports={"anthropic": sdk, "google": sdk})
    with pytest.raises(keel.ProviderError) as info:
        await llm.complete(feature="copilot", tier="low", messages=HELLO)
    assert [a["outcome"] for a in info.value.attempts] == ["server_error", "server_error"]
    assert [s["provider"] for s in sdk.sent] == ["anthropic", "google"]
    assert loopback.received() == []
    # A driven call closed before it is awaited ends without a "never awaited" warning.
    llm.complete(feature="copilot", tier="low", messages=HELLO).close()


async def test_attempt_deadlines_share_one_timer_and_each_expires_on_time() -> None:
    """`keel._drive` keeps the attempts' deadlines behind one loop timer: an attempt added
    with an earlier deadline than the timer's still expires on time, a later one waits for its
    own, a finished one leaves nothing behind, and a cancellation from elsewhere stays a
    cancellation, not a timeout."""
    from keel import _drive

    loop = asyncio.get_running_loop()

    async def attempt(seconds: float) -> float:
        started = loop.time()
        try:
            await _drive._within(seconds, asyncio.sleep(10))
        except TimeoutError:
            return loop.time() - started
        raise AssertionError("no timeout")

    late = asyncio.ensure_future(attempt(0.6))
    await asyncio.sleep(0.01)
    early = asyncio.ensure_future(attempt(0.1))
    assert 0.09 <= await early < 0.4
    assert not late.done()
    assert 0.59 <= await late < 1.2
    deadlines = _drive._deadlines_of(loop)
    assert await _drive._within(5, asyncio.sleep(0, "answered")) == "answered"
    assert deadlines.waiting == {}

    stalled = asyncio.ensure_future(_drive._within(5, asyncio.sleep(10)))
    await asyncio.sleep(0.01)
    stalled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stalled
    assert deadlines.waiting == {}


def test_a_finished_event_loop_is_freed_with_its_deadlines() -> None:
    """The deadlines kept per event loop never keep the loop itself alive."""
    import gc
    import weakref

    from keel import _drive

    async def one_attempt() -> Any:
        return await _drive._within(5, asyncio.sleep(0, "answered"))

    loop = asyncio.new_event_loop()
    assert loop.run_until_complete(one_attempt()) == "answered"
    loop.close()
    gone = weakref.ref(loop)
    del loop
    gc.collect()
    assert gone() is None
