"""Slack: a thread read page by page and ingested into messages (the bot's as the
assistant's); Events API payloads with an edit, a deletion and an event that is not a message;
a reply posted into the thread; a user looked up; a bad timestamp refused before any request.

The same scenario runs in examples/rust/slack.rs and examples/node/slack.mjs.

    KEEL_LLM_BASE_URL=http://127.0.0.1:PORT python examples/python/slack.py   # `keel loopback`
    SLACK_BOT_TOKEN=xoxb-… SLACK_CHANNEL=C… SLACK_THREAD_TS=… python examples/python/slack.py
"""

import asyncio
import os
from typing import Any

import keel


def event(**fields: Any) -> dict[str, Any]:
    """An Events API payload carrying one message event."""
    return {"type": "event_callback", "event": {"type": "message", "channel": "C0123", **fields}}


async def main() -> None:
    url = os.environ.get("KEEL_DATABASE_URL", "sqlite::memory:")
    # A local server (`keel loopback`) when set; else Slack itself, with your bot's token.
    base = os.environ.get("KEEL_LLM_BASE_URL")
    channel = os.environ.get("SLACK_CHANNEL", "C0123")
    thread_ts = os.environ.get("SLACK_THREAD_TS", "1712345678.000100")
    # --8<-- [start:slack]
    db = await keel.connect(url)
    options = {"base_url": base + "/api"} if base else {}
    slack = db.slack(token=os.environ.get("SLACK_BOT_TOKEN", "xoxb-example"), workspace="T0123", **options)

    thread = await slack.replies(channel, thread_ts)  # every page, following the cursor
    got = keel.slack_ingest(thread, bot_user_id="UBOT")
    print(f"thread: {len(thread)} read, {len(got['messages'])} messages, {len(got['skipped'])} skipped")
    for m in got["messages"][:2]:
        print(f"  {m['role']}: {m['text']}")

    events = keel.slack_ingest(
        [
            event(user="U1", text="Acme wants five more seats", ts="1712346000.000100"),
            event(user="U2", text="", ts="1712346001.000100", files=[{"name": "dpa.pdf"}]),
            event(subtype="message_changed", message={"user": "U1", "text": "Acme wants six more seats", "ts": "1712346000.000100"}),
            event(subtype="message_deleted", deleted_ts="1712346001.000100"),
            {"type": "event_callback", "event": {"type": "reaction_added", "reaction": "eyes"}},
        ]
    )
    texts = "; ".join(m["text"] for m in events["messages"])
    print(f"events: {texts} ({events['edits']} edit, {len(events['deleted'])} deleted)")
    for skipped in events["skipped"]:
        print(f"  skipped #{skipped['index']}: {skipped['reason']}")

    posted = await slack.post_message(channel, "Acme: legal review by Friday.", thread_ts=thread_ts)
    print(f"posted into the thread in {posted['channel']}")
    user = await slack.user("U1")
    print(f"U1 is {user['display_name']}")
    try:
        await slack.update(channel, "yesterday", "edited")
    except keel.InvalidInputError as err:
        print(f"refused before any request: {err.code} ({err.field})")
    # --8<-- [end:slack]
    await db.close()


asyncio.run(main())
