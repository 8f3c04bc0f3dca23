"""Dead letters from Python, on SQLite and PostgreSQL (`db` runs each test on both): enqueued
once per key, replayed by a Python async handler that fails, then accepts, then succeeds;
a raised exception's status, body, Retry-After and kind classified in core; operator changes;
bad input named by field."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

import keel
from keel.types import NewDeadLetter, Replay


def letter(agent: str, **more: Any) -> NewDeadLetter:
    base: NewDeadLetter = {
        "agent_name": agent,
        "payload": {"deal_id": "d-1", "camelCase": True},
        "org_id": "system",
        "user_id": str(uuid.uuid4()),
        "errors": [{"kind": "transient", "message": "HTTP 503", "status": 503}],
        "delay_ms": 0,
    }
    base.update(more)  # type: ignore[typeddict-item]
    return base


class Upstream(Exception):
    """An SDK-style error: a status code, a body and response headers."""

    def __init__(self, status_code: int, body: dict[str, Any], retry_after: str | None = None, kind: str | None = None):
        super().__init__(f"HTTP {status_code}")
        self.status_code = status_code
        self.body = body
        if kind is not None:
            self.kind = kind

        class Response:
            headers = {"retry-after": retry_after} if retry_after else {}

        self.response = Response()


async def test_a_python_handler_fails_accepts_and_succeeds(db: keel.Keel) -> None:
    letters = db.dead_letters()
    flaky = await letters.enqueue(**letter("flaky", idempotency_key="run-7"))
    again = await letters.enqueue(**letter("flaky", idempotency_key="run-7"))
    assert again["id"] == flaky["id"] and flaky["org_id"] == "system"
    slow = await letters.enqueue(**letter("orchestrator"))
    broken = await letters.enqueue(**letter("broken"))
    seen: list[Replay] = []

    async def handler(replay: Replay) -> Any:
        seen.append(replay)
        if replay["agent_name"] == "broken":
            raise Upstream(422, {"error": {"type": "invalid_request_error", "message": "no deal"}})
        if replay["agent_name"] == "orchestrator":
            return "accepted"
        if replay["retry"] == 1:
            raise Upstream(429, {"error": {"type": "rate_limit_error"}}, retry_after="0")
        return None

    first = await letters.work_once(handler, seed=1, backoff={"base_ms": 0, "cap_ms": 0})
    assert (first["claimed"], first["retrying"], first["accepted"], first["abandoned"]) == (3, 1, 1, 1)
    assert {r["idempotency_key"] for r in seen} == {f"dlq:{x['id']}" for x in (flaky, slow, broken)}
    assert seen[0]["payload"] == {"deal_id": "d-1", "camelCase": True}
    retried = await letters.get(flaky["id"])
    assert retried["status"] == "pending" and retried["error_kind"] == "rate_limited"
    assert retried["errors"][-1]["status"] == 429
    gone = await letters.get(broken["id"])
    assert gone["status"] == "abandoned" and gone["abandoned_reason"] == "a validation failure is not retried"
    second = await letters.work_once(handler, seed=1)
    assert (second["claimed"], second["resolved"]) == (1, 1)
    assert (await letters.get(slow["id"]))["status"] == "accepted"
    assert (await letters.resolve(slow["id"]))["status"] == "resolved"
    back = await letters.redrive(broken["id"])
    assert (back["status"], back["retry_count"]) == ("pending", 0)
    dropped = await letters.abandon(broken["id"], reason="operator: duplicate")
    assert dropped["abandoned_reason"] == "operator: duplicate"
    listed = await letters.list(status=["resolved"])
    assert sorted(x["id"] for x in listed) == sorted([flaky["id"], slow["id"]])
    assert await letters.purge() == 0  # resolved just now: kept for 30 days


async def test_an_explicit_kind_wins_and_a_handler_that_raises_anything_is_recorded(db: keel.Keel) -> None:
    letters = db.dead_letters()
    stored = await letters.enqueue(**letter("kinds", max_retries=5))

    async def explicit(replay: Replay) -> Any:
        raise Upstream(400, {}, kind="transient")

    report = await letters.work_once(explicit, seed=2, backoff={"base_ms": 0, "cap_ms": 0})
    assert report["retrying"] == 1
    assert (await letters.get(stored["id"]))["error_kind"] == "transient"

    async def odd(replay: Replay) -> Any:
        raise KeyError("not an HTTP error")  # no status: a connection-less, unknown failure

    report = await letters.work_once(odd, seed=2, backoff={"base_ms": 0, "cap_ms": 0})
    assert report["retrying"] == 1
    after = await letters.get(stored["id"])
    assert after["error_kind"] == "unknown" and "not an HTTP error" in after["errors"][-1]["message"]


async def test_bad_input_names_the_field(db: keel.Keel) -> None:
    letters = db.dead_letters()
    # A payload that is not JSON is refused where it is, never stored as its repr().
    for payload, field in [({"deal": {"ids": [1, object()]}}, "payload.deal.ids[1]"), ({"x": float("nan")}, "payload.x"), ({1: "a"}, "payload")]:
        with pytest.raises(keel.InvalidInputError) as refused:
            letters.enqueue(**letter("x", payload=payload))
        assert refused.value.field == field
    for call, field in [
        (letters.enqueue(**letter("x", errors=[])), "errors"),
        (letters.enqueue(**letter("", )), "agent_name"),
        (letters.enqueue(**letter("x", trace_id="nope")), "trace_id"),
        (letters.get("not-a-uuid"), "id"),
        (letters.get(str(uuid.uuid4())), "id"),
        (letters.list(limit=0), "limit"),
        (letters.purge(days=0), "days"),
        (letters.work_once(), "handler"),
        (letters.work_once(batch=0, url="http://127.0.0.1:9/"), "batch"),
        (letters.work_once(url="ftp://x"), "url"),
        (letters.work_once(lease_ms=-1, url="http://127.0.0.1:9/"), "lease_ms"),
    ]:
        with pytest.raises(keel.InvalidInputError) as info:
            await call
        assert info.value.field == field, (field, info.value)


def test_classify_failure_and_retry_delays_are_core_s() -> None:
    assert keel.classify_failure(message="took 1400ms") == {"kind": "unknown", "retry_after_ms": None, "by": "none"}
    assert keel.classify_failure(status=429, retry_after="2")["retry_after_ms"] == 2000
    delays = keel.retry_delays(kind="transient", retries=2, seed=42)
    assert delays["ceilings"] == [1000, 4000] and delays["max_attempts"] == 3
    with pytest.raises(keel.InvalidInputError) as info:
        keel.classify_failure(kind="flaky")  # type: ignore[arg-type]
    assert info.value.field == "kind"


def test_a_python_handler_needs_a_running_event_loop() -> None:
    db = keel.connect("sqlite::memory:").wait()

    async def handler(replay: Replay) -> None:
        return None

    with pytest.raises(keel.InvalidInputError) as info:
        db.dead_letters().work_once(handler)
    assert info.value.field == "handler"
    db.close().wait()
