"""Message routing from Python: the decision's shape, the fast path, the log, evaluation and bad
input (core: `keel::routing`, tested in depth in core/tests/routing.rs)."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest

import keel

ROOT = pathlib.Path(__file__).resolve().parents[2]
ORG = "0a0a0a0a-0000-4000-8000-00000000000a"
OTHER = "0b0b0b0b-0000-4000-8000-00000000000b"


async def router(db: keel.Keel) -> keel.MessageRouter:
    skills = await db.skill_registry()
    await skills.sync(ROOT / "skills")
    return skills.message_router()


async def test_route_returns_the_original_shape_and_more(db: keel.Keel) -> None:
    r = await router(db)
    d = await r.route("How's the Acme deal looking?", "slack", ORG, "user-1")
    assert d["route"] == d["skill_key"] == "slack-deal-query"
    assert d["matched_by"] == "skill_trigger" and d["stage"] == "index"
    assert d["entities"]["deal"] == "Acme" and d["band"] in ("direct", "with_clarification")
    assert 0.5 <= d["confidence"] <= 1 and not d["out_of_scope"] and not d["cached"]
    assert d["model_override"] is None and d["duration_ms"] >= 0 and len(d["trace_id"]) == 36
    assert d["candidates"][0]["skill_key"] == "slack-deal-query"
    assert d.to_dict()["route"] == d["route"] and "band" in d and len(d) == len(d.keys()) == 18
    with pytest.raises(KeyError):
        d["nope"]
    # The org's view is cached now: the same question in another spelling is answered at once
    # from the cache, keeping the stage that decided.
    again = r.route("how's the ACME deal   looking?", "slack", ORG)
    assert (await again)["cached"] is True
    hello = await r.route("hello there", "web", ORG)
    assert (hello["route"], hello["general_intent"], hello["out_of_scope"]) == ("general", "greeting", False)
    weather = await r.route("what's the weather in Paris", "web", ORG, trace_id="0190d5a8-0000-7000-8000-000000000001")
    assert weather["out_of_scope"] is True and weather["trace_id"] == "0190d5a8-0000-7000-8000-000000000001"


async def test_try_route_answers_without_waiting_or_says_none(db: keel.Keel) -> None:
    skills = await db.skill_registry()
    await skills.sync(ROOT / "skills")
    r = skills.message_router(log=False)
    # Nothing cached yet: the org's view must be read first, so there is no answer now.
    assert r.try_route("show me my forecast", "web", ORG) is None
    first = await r.route("show me my forecast", "web", ORG)
    d = r.try_route("Show me my   forecast", "web", ORG)
    assert d is not None and d["cached"] is True and d["route"] == first["route"] == "pipeline-summary"
    fresh = r.try_route("who is Dana Scully", "web", ORG, skip_cache=True)
    assert fresh is not None and fresh["route"] == "contact-lookup" and fresh["cached"] is False
    with pytest.raises(keel.InvalidInputError) as err:
        r.try_route("", "web", ORG)
    assert err.value.field == "message"
    with pytest.raises(keel.InvalidInputError) as err:
        r.try_route("hi", "email", ORG)
    assert err.value.field == "channel"


async def test_every_decision_is_in_the_log_and_orgs_see_their_own(db: keel.Keel) -> None:
    r = await router(db)
    for message, org in [("summarise my pipeline", ORG), ("summarise my pipeline", ORG), ("hi", OTHER)]:
        await r.route(message, "web", org)
    await r.flush()
    rows = await r.log(ORG, since=600)
    assert [row["cached"] for row in rows] == [True, False]
    assert rows[0]["route"] == "pipeline-summary" and rows[0]["org_id"] == ORG
    assert len(await r.log(OTHER)) == 1
    assert r.stats()["routes"] == 3 and r.stats()["cache_hits"] == 1


async def test_evaluate_scores_a_labelled_set(db: keel.Keel) -> None:
    r = await router(db)
    labelled = (ROOT / "testdata/routing/calibration.jsonl").read_text()
    e = await r.evaluate(labelled, ORG)
    assert e["total"] == 94 and 0.8 <= e["accuracy"] <= 1
    weighed = [c for m in e["misses"] for c in m["candidates"]]
    assert weighed and all(isinstance(key, str) and 0 <= p <= 1 for key, p in weighed)
    assert {label["label"] for label in e["labels"]} >= {"general", "out_of_scope", "deal-status"}
    assert e["fitted"] is not None and e["p99_us"] >= e["p50_us"] > 0


async def test_bad_input_is_invalid_input_naming_the_field(db: keel.Keel) -> None:
    r = await router(db)
    cases: list[tuple[tuple[Any, ...], str]] = [
        (("", "web", ORG), "message"),
        (("x" * (1 << 20), "web", ORG), "message"),
        (("hi", "email", ORG), "channel"),
        (("hi", "web", "not-a-uuid"), "org_id"),
    ]
    for args, field in cases:
        with pytest.raises(keel.InvalidInputError) as err:
            await r.route(*args)
        assert err.value.field == field
    with pytest.raises(keel.InvalidInputError):
        await r.route("\udc80 lone surrogate", "web", ORG)
    with pytest.raises(keel.InvalidInputError) as err:
        await r.route("hi", "web", ORG, allow_lm=True)  # type: ignore[call-arg]
    assert "allow_lm" in str(err.value)
    with pytest.raises(keel.InvalidInputError) as err:
        (await db.skill_registry()).message_router(thresholds={"skill": 2})
    assert err.value.field == "thresholds.skill"
    with pytest.raises(keel.InvalidInputError):
        await r.evaluate('{"message": "hi"}', ORG)
