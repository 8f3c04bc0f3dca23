"""The operator console from Python on both backends: the reads `keel serve` answers, by
name (a letter, the queue's backlog over time, a log search), an action refused on a
read-only console and logged with its actor on one that allows it, the names core lists, and
bad input named by field."""

from __future__ import annotations

import typing
import uuid

import pytest

import keel
from keel.types import ConsoleAction, ConsoleRead


async def test_reads_and_a_logged_action(db: keel.Keel) -> None:
    letters = db.dead_letters()
    stored = await letters.enqueue(
        agent_name="console-py",
        org_id="system",
        payload={"deal": "d-1"},
        errors=[{"kind": "transient", "message": "HTTP 503"}],
    )
    await letters.abandon(stored["id"], reason="for the console test")
    await db.queue().enqueue([{"org_id": str(uuid.uuid4()), "source_agent": "a", "item_type": "deal", "title": "t", "queue_priority": 1}])

    read_only = await db.console()
    assert read_only.allows_actions is False
    about = await read_only.call("about")
    assert about["allow_actions"] is False and about["version"] == keel.__version__
    letter = await read_only.call("letter", id=stored["id"])
    assert letter["status"] == "abandoned"
    history = await read_only.call("queue_history", hours=1, points=7)
    assert len(history["times"]) == 7 and history["step_ms"] == 600_000
    assert [lane["backlog"][-1] for lane in history["lanes"]] == [0, 1, 0, 0]
    with pytest.raises(keel.InvalidInputError) as refused:
        await read_only.call("redrive_letter", id=stored["id"], actor="ann")
    assert refused.value.field == "op"

    console = await db.console(allow_actions=True)
    redriven = await console.call("redrive_letter", id=stored["id"], actor="ann")
    assert redriven["status"] == "pending"
    logged = await console.call("logs", text="console.action")
    action = logged["events"][0]["metadata"]
    assert (action["operation"], action["actor"], action["target"]) == ("redrive_letter", "ann", stored["id"])


async def test_the_names_are_core_s_and_bad_input_names_the_field(db: keel.Keel) -> None:
    assert keel.CONSOLE_READS == typing.get_args(ConsoleRead)
    assert keel.CONSOLE_ACTIONS == typing.get_args(ConsoleAction)
    console = await db.console()
    # An unknown call is refused as it is made, as a value that is not JSON is.
    with pytest.raises(keel.InvalidInputError) as refused:
        console.call("drop_tables")  # type: ignore[arg-type]
    assert refused.value.field == "op"
    for call, field in [
        (console.call("letter", id="nope"), "id"),
        (console.call("queue_history", hours=0), "hours"),
        (console.call("logs", limit=0), "limit"),
        (console.call("logs", level="loud"), "level"),
    ]:
        with pytest.raises(keel.InvalidInputError) as refused:
            await call
        assert refused.value.field == field, refused.value
    with pytest.raises(keel.InvalidInputError) as refused:
        await db.console(allow_everything=True)  # type: ignore[call-arg]
    assert refused.value.field == "allow_everything"
