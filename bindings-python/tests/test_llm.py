"""Model calls from Python against the loopback provider: the wire bodies it receives, fallback
and credits on both backends, typed errors with their attempts, streaming, and cancellation
releasing the reservation."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

import keel
from conftest import Loopback

PRIMARY, SECOND, THIRD = "claude-a", "gemini-b", "gpt-c"
# 10 input tokens cost 1 credit, 5 output tokens 1 credit: the loopback's usage costs 2.
PRICES = {"credit_cost": 1.0, "input_cost_per_mtok": 100_000.0, "output_cost_per_mtok": 200_000.0, "max_tokens": 100}
HELLO = [{"role": "user", "content": "hello"}]


async def setup(db: keel.Keel, loopback: Loopback, **options: Any) -> keel.Llm:
    router = await db.model_router(seed_defaults=False)
    await router.set_model("copilot", "low", "anthropic", PRIMARY, **PRICES)
    await router.set_model("copilot", "low", "google", SECOND, fallback_order=1, **PRICES)
    await router.set_model("copilot", "low", "openai", THIRD, fallback_order=2, **PRICES)
    return router.llm(providers=loopback.providers(), **options)


async def funded(db: keel.Keel, credits: float = 100.0) -> tuple[keel.ModelRouter, str]:
    router = await db.model_router()
    org = str(uuid.uuid4())
    await router.grant_credits(org, credits)
    return router, org


async def test_a_call_falls_back_and_charges_the_model_that_answered(db: keel.Keel, loopback: Loopback) -> None:
    llm = await setup(db, loopback)
    router, org = await funded(db)
    loopback.script(PRIMARY, {"error": 500, "message": "boom"})
    loopback.script(SECOND, {"error": 503, "message": "The model is overloaded."})
    done = await llm.complete(feature="copilot", tier="low", org_id=org, system="be brief", messages=HELLO)
    assert [a["outcome"] for a in done["attempts"]] == ["server_error", "overloaded", "ok"]
    assert (done["provider"], done["model"], done["text"]) == ("openai", THIRD, f"ok from {THIRD}")
    assert done["usage"] == {"input_tokens": 10, "output_tokens": 5}
    assert done["credits_charged"] == 2.0 and done["was_fallback"]
    assert (await router.check_budget(org)).remaining == 98.0
    sent = loopback.received()
    assert [r["model"] for r in sent] == [PRIMARY, SECOND, THIRD]
    assert sent[2]["body"]["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hello"},
    ]
    assert sent[0]["body"]["system"] == "be brief" and sent[0]["path"] == "/v1/messages"


@pytest.mark.parametrize(
    ("reply", "error", "kind"),
    [
        ({"error": 401, "message": "invalid x-api-key"}, keel.ProviderError, "client_error"),
        ({"error": 413, "message": "request too large"}, keel.ContextTooLongError, "context_too_long"),
        ({"error": 429, "message": "slow down", "retry_after": "7"}, keel.RateLimitedError, "rate_limited"),
    ],
)
async def test_errors_are_typed_and_carry_their_attempts(
    db: keel.Keel, loopback: Loopback, reply: dict[str, Any], error: type[keel.KeelError], kind: str
) -> None:
    llm = await setup(db, loopback)
    loopback.script(PRIMARY, reply)
    with pytest.raises(error) as info:
        await llm.complete(provider="anthropic", model=PRIMARY, messages=HELLO)
    assert info.value.code == error.code
    assert [a["outcome"] for a in info.value.attempts] == [kind]
    if kind == "rate_limited":
        assert info.value.retry_after_ms == 7000


async def test_bad_input_is_refused_before_any_request(db: keel.Keel, loopback: Loopback) -> None:
    llm = await setup(db, loopback)
    for request, field in [
        ({"messages": HELLO}, "feature"),
        ({"feature": "copilot", "messages": []}, "messages"),
        ({"feature": "copilot", "messages": HELLO, "max_tokens": -1}, "max_tokens"),
        ({"provider": "acme", "model": "x", "messages": HELLO}, "provider"),
        ({"feature": "copilot", "messages": HELLO, "colour": "red"}, "colour"),
    ]:
        with pytest.raises(keel.InvalidInputError) as info:
            await llm.complete(**request)
        assert info.value.field == field, request
    with pytest.raises(keel.InvalidInputError) as info:
        (await db.model_router()).llm(providers={"gemini": {}})
    assert info.value.field == "providers"
    assert loopback.received() == []


async def test_a_stream_yields_deltas_then_the_completion(db: keel.Keel, loopback: Loopback) -> None:
    llm = await setup(db, loopback)
    router, org = await funded(db)
    loopback.script(PRIMARY, {"stream": [], "end": "error"})
    stream = await llm.stream(feature="copilot", tier="low", org_id=org, messages=HELLO)
    events = [event async for event in stream]
    deltas = "".join(e["text"] for e in events if e["event"] == "delta")
    done = events[-1]
    assert deltas == f"ok from {SECOND}", "the primary failed after its preamble: the call fell back"
    assert done["event"] == "done" and done["credits_charged"] == 2.0
    assert [a["outcome"] for a in done["attempts"]] == ["overloaded", "ok"]
    assert (await router.check_budget(org)).remaining == 98.0


async def test_a_failure_after_the_first_delta_ends_the_stream(db: keel.Keel, loopback: Loopback) -> None:
    llm = await setup(db, loopback)
    loopback.script(PRIMARY, {"stream": ["Hel"], "end": "reset"})
    stream = await llm.stream(feature="copilot", tier="low", messages=HELLO)
    seen = []
    with pytest.raises(keel.ProviderError) as info:
        async for event in stream:
            seen.append(event)
    assert seen == [{"event": "delta", "type": "text", "text": "Hel"}]
    assert [a["outcome"] for a in info.value.attempts] == ["connection"]


async def buffered_stream(db: keel.Keel, loopback: Loopback, chunks: list[str]) -> Any:
    """A stream of `chunks` whose every event is buffered in core before it is read."""
    llm = await setup(db, loopback)
    loopback.script(PRIMARY, {"stream": chunks, "end": "complete"})
    stream = await llm.stream(feature="copilot", tier="low", messages=HELLO)
    await asyncio.sleep(0.3)
    return stream


async def test_events_read_ahead_are_handed_over_without_a_trip(db: keel.Keel, loopback: Loopback) -> None:
    chunks = [f"w{i} " for i in range(50)]
    stream = await buffered_stream(db, loopback, chunks)
    texts = [(await stream.__anext__())["text"]]  # one trip brings every buffered event
    trips = 0
    while True:
        step = stream.__anext__()
        try:
            step.send(None)
        except StopIteration as answered:
            event = answered.value  # answered on its first step: no trip, no wait on the loop
        else:
            trips += 1
            event = await step
        if event["event"] == "done":
            break
        texts.append(event["text"])
    assert "".join(texts) == "".join(chunks)
    # One trip at most, should a busy machine stretch the handing over past its slice.
    assert trips <= 1, f"{trips} of 50 events took a trip to Keel's runtime"


async def test_a_burst_of_read_ahead_events_lets_the_event_loop_run(db: keel.Keel, loopback: Loopback) -> None:
    stream = await buffered_stream(db, loopback, [f"w{i} " for i in range(50)])
    loop = asyncio.get_running_loop()
    seen = 0
    ran_at: list[int] = []
    async for event in stream:
        if seen == 0:
            loop.call_soon(lambda: ran_at.append(seen))
        seen += event["event"] == "delta"
        until = time.perf_counter() + 0.001  # a consumer that spends 1 ms on each event
        while time.perf_counter() < until:
            pass
    assert seen == 50
    # Handed over without waiting on the loop, the callback would run after the whole burst.
    assert ran_at and ran_at[0] < 10, f"the event loop ran after {ran_at} of 50 events"


async def test_cancelling_a_call_releases_its_credits(db: keel.Keel, loopback: Loopback) -> None:
    llm = await setup(db, loopback)
    router, org = await funded(db)
    loopback.script(PRIMARY, {"stall_ms": 30_000})
    task = asyncio.ensure_future(llm.complete(feature="copilot", tier="low", org_id=org, messages=HELLO))
    async with asyncio.timeout(10):
        while not loopback.received():
            await asyncio.sleep(0.01)
        assert (await router.check_budget(org)).remaining < 100.0, "credits are held during the call"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        while (await router.check_budget(org)).remaining != 100.0:
            await asyncio.sleep(0.01)


async def test_reported_usage_calibrates_a_model_s_estimate(db: keel.Keel, loopback: Loopback) -> None:
    llm = await setup(db, loopback)
    _, org = await funded(db, 10_000.0)
    messages = [{"role": "user", "content": "word " * 200}]
    before = llm.count_tokens(PRIMARY, messages)
    assert (before["exact"], before["factor"]) == (False, 1.2)
    raw = round(before["tokens"] / 1.2)
    # Anthropic bills twice what o200k_base counts: each call moves the factor 30 % of the way.
    body = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": PRIMARY,
        "content": [{"type": "text", "text": "ok"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": raw * 2, "output_tokens": 1},
    }
    for _ in range(3):
        loopback.script(PRIMARY, {"status": 200, "body": body})
        await llm.complete(feature="copilot", tier="low", org_id=org, messages=messages)
    after = llm.count_tokens(PRIMARY, messages)
    assert after["factor"] == pytest.approx(1.2 + 0.8 * (1 - 0.7**3))
    assert after["tokens"] > before["tokens"] * 1.4
    # The module's counter is not this client's: it starts from the default.
    assert keel.count_message_tokens(PRIMARY, messages)["factor"] == 1.2
