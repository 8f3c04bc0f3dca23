"""Slack from Python against the loopback's Slack Web API: a thread read page by page and
ingested, a post into a thread, Slack's errors typed (the token never shown), a 429 waited
out, and the ingest of Events API payloads with what it skipped."""

from __future__ import annotations

import time
from typing import Any

import pytest

import keel

TOKEN = "xoxb-python-secret"
THREAD = "1712345678.000100"


def slack(db: keel.Keel, loopback: Any, **options: Any) -> keel.Slack:
    return db.slack(token=TOKEN, base_url=loopback.base_url + "/api", workspace="T-py", **options)


async def test_a_thread_is_read_and_ingested_in_order(db: keel.Keel, loopback: Any) -> None:
    client = slack(db, loopback)
    page = await client.replies_page("C1", THREAD)
    assert len(page["messages"]) == 200 and page["next_cursor"]
    messages = await client.replies("C1", THREAD)
    assert len(messages) == 450
    got = keel.slack_ingest(messages, bot_user_id="UBOT")
    assert [m["role"] for m in got["messages"][:2]] == ["user", "assistant"]
    assert got["messages"][-1]["text"] == "message 449"
    assert got["skipped"] == []
    posted = await client.post_message("C1", "Acme is in legal review", thread_ts=THREAD)
    assert posted["channel"] == "C1"
    sent = [r for r in loopback.received() if r["model"] == "chat.postMessage"]
    assert sent[-1]["body"]["thread_ts"] == THREAD


async def test_slack_errors_are_typed_and_a_429_is_waited_out(db: keel.Keel, loopback: Any) -> None:
    client = slack(db, loopback, max_retries=1)
    with pytest.raises(keel.ProviderError, match="channel_not_found") as failed:
        await client.replies_page("C404", THREAD)
    assert TOKEN not in str(failed.value)
    loopback.script("users.info", {"error": 429, "message": "ratelimited", "retry_after": "1"})
    started = time.monotonic()
    user = await client.user("U1")
    assert time.monotonic() - started >= 0.9
    assert user["display_name"] == "Dana Scully"
    loopback.script(
        "chat.update",
        {"error": 429, "message": "ratelimited", "retry_after": "1"},
        {"error": 429, "message": "ratelimited", "retry_after": "2"},
    )
    with pytest.raises(keel.RateLimitedError) as limited:
        await client.update("C1", THREAD, "edited")
    assert limited.value.retry_after_ms == 2000


async def test_bad_arguments_name_their_field(db: keel.Keel, loopback: Any) -> None:
    with pytest.raises(keel.InvalidInputError) as bad:
        db.slack(token="")
    assert bad.value.field == "token"
    with pytest.raises(keel.InvalidInputError) as bad:
        db.slack(token=TOKEN, base_url="http://slack.example/api")
    assert bad.value.field == "base_url"
    with pytest.raises(keel.InvalidInputError) as bad:
        db.slack(token=TOKEN, tiemout_ms=5)  # type: ignore[call-arg]
    assert bad.value.field == "tiemout_ms"
    client = slack(db, loopback)
    with pytest.raises(keel.InvalidInputError) as bad:
        await client.update("C1", "yesterday", "x")
    assert bad.value.field == "ts"


def test_events_are_ingested_edits_applied_and_the_rest_counted() -> None:
    def event(**fields: Any) -> dict[str, Any]:
        return {"type": "event_callback", "event": {"type": "message", "channel": "C1", **fields}}

    got = keel.slack_ingest(
        [
            event(user="U1", text="first", ts="1712345678.000100"),
            event(user="U2", text="", ts="1712345679.000100", files=[{"name": "deck.pdf"}]),
            event(subtype="message_changed", message={"user": "U1", "text": "first, fixed", "ts": "1712345678.000100"}),
            event(subtype="message_deleted", deleted_ts="1712345679.000100"),
            {"type": "event_callback", "event": {"type": "reaction_added"}},
            event(user="U3", text="bad", ts="not-a-ts"),
        ]
    )
    assert [m["text"] for m in got["messages"]] == ["first, fixed"]
    assert got["deleted"] == ["1712345679.000100"] and got["edits"] == 1
    assert [s["index"] for s in got["skipped"]] == [4, 5]
    with pytest.raises(keel.InvalidInputError) as bad:
        keel.slack_ingest("not a payload")
    assert bad.value.field == "payload"
