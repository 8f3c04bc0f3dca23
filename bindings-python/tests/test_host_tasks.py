"""Model tasks done by the platform's own models: an async callable as routing's classifier and
embedder and as compaction's summarizer (core: `keel::llm::HostTask`, which writes what the
callable is handed and reads what it answers), on both backends."""

from __future__ import annotations

import pathlib
import uuid
from typing import Any

import pytest

import keel
from keel.types import HostClassifyTask, HostEmbedTask, HostSummaryTask
from conftest import Loopback, load_vectors
from test_memory import SMALL, rounds

ROOT = pathlib.Path(__file__).resolve().parents[2]
ORG = "0a0a0a0a-0000-4000-8000-00000000000c"
# The index never decides, so every route reaches the model stages.
UNDECIDED: dict[str, Any] = {"thresholds": {"sequence": 1.0, "skill": 1.0}, "log": False, "llm_timeout": 1.0}
VOCABULARY = ["deal", "pipeline", "forecast", "meeting", "email", "risk"]
#: What a host function may answer and how it reads (core: keel::llm::host's readers).
ANSWERS: dict[str, Any] = load_vectors("host_answers.json")  # type: ignore[assignment]


def named(case: dict[str, Any]) -> str:
    return str(case["name"])


async def skills(db: keel.Keel) -> keel.SkillRegistry:
    registry = await db.skill_registry()
    await registry.sync(ROOT / "skills")
    return registry


async def test_an_async_callable_is_the_llm_stage(db: keel.Keel) -> None:
    registry = await skills(db)
    asked: list[HostClassifyTask] = []

    async def classify(task: HostClassifyTask) -> Any:
        asked.append(task)
        return {"label": "deal-status", "confidence": 0.8}

    router = registry.message_router(classifier=classify, **UNDECIDED)
    d = await router.route("how is the Globex deal going", "web", ORG, allow_llm=True)
    assert (d["route"], d["stage"], d["matched_by"], d["confidence"]) == ("deal-status", "llm", "llm", 0.8)
    (task,) = asked
    assert set(task) == {"text", "labels", "instructions"}
    assert task["text"] == "how is the Globex deal going"
    names = [label["name"] for label in task["labels"]]
    assert "deal-status" in names and names[-1] == "none", names
    assert all(set(label) == {"name", "description"} for label in task["labels"])
    # Not allowed, not asked.
    await router.route("where are we with the Initech deal", "web", ORG)
    assert len(asked) == 1


async def test_keel_llm_is_the_llm_stage(db: keel.Keel, loopback: Loopback) -> None:
    """The LLM stage over Keel's own client: the `copilot` feature resolved by the model
    router, the candidates offered to the model on the wire, its answer deciding."""
    registry = await skills(db)
    models = await db.model_router(seed_defaults=False)
    await models.set_model("copilot", "medium", "openai", "route-model", credit_cost=1.0)
    llm = models.llm(providers=loopback.providers())
    loopback.script("route-model", {"text": '{"label": "deal-status", "confidence": 0.9}'})
    router = registry.message_router(classifier=llm, **UNDECIDED)
    d = await router.route("how is the Globex deal going", "web", ORG, allow_llm=True)
    assert (d["route"], d["stage"], d["matched_by"], d["confidence"]) == ("deal-status", "llm", "llm", 0.9)
    (request,) = (r for r in loopback.received())
    assert request["model"] == "route-model"
    sent = str(request["body"]["messages"])
    assert "deal-status" in sent and "how is the Globex deal going" in sent and "none" in sent
    # An answer outside the candidates falls through, uncached: the model is asked again.
    loopback.script("route-model", {"text": "email-draft"}, {"text": "email-draft"})
    other = registry.message_router(classifier=llm, **UNDECIDED)
    for _ in range(2):
        fallen = await other.route("how is the Globex deal going", "web", ORG, allow_llm=True)
        assert (fallen["route"], fallen["stage"]) == ("general", "fallback")
    assert len(loopback.received()) == 3


@pytest.mark.parametrize("answer", ["email-draft-nope", "none", 42, {"label": "deal-status", "confidence": 7}, RuntimeError("down")])
async def test_an_answer_that_is_no_candidate_or_a_raise_falls_through(db: keel.Keel, answer: Any) -> None:
    registry = await skills(db)

    async def classify(task: HostClassifyTask) -> Any:
        if isinstance(answer, Exception):
            raise answer
        return answer

    router = registry.message_router(classifier=classify, **UNDECIDED)
    d = await router.route("how is the Globex deal going", "web", ORG, allow_llm=True)
    assert (d["route"], d["stage"], d["out_of_scope"]) == ("general", "fallback", True)


async def test_an_async_callable_is_the_embedding_stage(db: keel.Keel) -> None:
    registry = await skills(db)
    embedded: list[str] = []

    async def embed(task: HostEmbedTask) -> Any:
        assert set(task) == {"texts", "model", "dimensions"}
        embedded.extend(task["texts"])
        return {"vectors": [[float(t.lower().count(w)) for w in VOCABULARY] for t in task["texts"]]}

    router = registry.message_router(embedder=embed, **UNDECIDED)
    d = await router.route("deal deal risk risk", "web", ORG)
    assert (d["stage"], d["matched_by"]) == ("embedding", "semantic")
    skills_and_message = len(embedded)
    assert skills_and_message >= 17
    await router.route("pipeline forecast", "web", ORG, skip_cache=True)
    assert len(embedded) == skills_and_message + 1, "each skill version is embedded once"

    # One vector too few, or of another length: the stage fails and the route falls through.
    async def short(task: HostEmbedTask) -> Any:
        return [[1.0, 0.0]] * (len(task["texts"]) - 1) or [[]]

    fallen = await registry.message_router(embedder=short, **UNDECIDED).route("deal deal risk", "web", ORG)
    assert fallen["stage"] == "fallback"


async def test_an_async_callable_writes_the_compaction_summary(db: keel.Keel) -> None:
    store = db.conversations()
    org = str(uuid.uuid4())
    c = await store.start(org, "U042", "web")
    await store.append(org, c["id"], rounds(100))
    asked: list[HostSummaryTask] = []

    async def summarize(task: HostSummaryTask) -> Any:
        asked.append(task)
        return {"text": "Acme moved to legal; the rep owns the redlines."}

    done = await store.compact(org, c["id"], summarizer=summarize, **SMALL)
    compaction = done["compaction"]
    assert compaction is not None and (compaction["method"], compaction["summary"]) == (
        "summary",
        "Acme moved to legal; the rep owns the redlines.",
    )
    (task,) = asked
    assert set(task) == {"text", "instructions"} and "Acme deal" in task["text"]
    assert "Deal Stage Changes" in (task["instructions"] or ""), "the original's headings"

    # A summarizer that raises or answers nothing usable: the compaction trims, saying why.
    for answer in (ValueError("the model is down"), {"summary": "wrong key"}):
        other = await store.start(org, f"U-{answer!r}"[:40], "web")
        await store.append(org, other["id"], rounds(100))

        async def failing(task: HostSummaryTask, answer: Any = answer) -> Any:
            if isinstance(answer, Exception):
                raise answer
            return answer

        trimmed = (await store.compact(org, other["id"], summarizer=failing, **SMALL))["compaction"]
        assert trimmed is not None and trimmed["method"] == "trim"
        assert "the model is down" in trimmed["note"] or "{text}" in trimmed["note"], trimmed["note"]


async def test_a_model_that_is_neither_an_llm_nor_callable_is_named(db: keel.Keel) -> None:
    registry = await skills(db)
    for field in ("classifier", "embedder"):
        with pytest.raises(keel.InvalidInputError) as err:
            registry.message_router(**{field: "gpt-5"})
        assert err.value.field == field
    store = db.conversations()
    org = str(uuid.uuid4())
    c = await store.start(org, "U1", "web")
    with pytest.raises(keel.InvalidInputError) as err:
        await store.compact(org, c["id"], summarizer=42)
    assert err.value.field == "summarizer"


@pytest.mark.parametrize("case", ANSWERS["classify"], ids=named)
async def test_classify_answers_of_the_vectors_decide_or_fall_through(db: keel.Keel, case: dict[str, Any]) -> None:
    registry = await skills(db)
    asked: list[HostClassifyTask] = []

    async def classify(task: HostClassifyTask) -> Any:
        asked.append(task)
        return case["answer"]

    router = registry.message_router(classifier=classify, **UNDECIDED)
    d = await router.route(ANSWERS["message"], "web", ORG, allow_llm=True)
    await router.route(ANSWERS["message"], "web", ORG, allow_llm=True)
    if case.get("label") not in (None, "none"):
        assert (d["route"], d["stage"]) == (case["label"], "llm")
        if case["confidence"] is not None:
            assert d["confidence"] == case["confidence"]
    else:
        assert (d["route"], d["stage"]) == ("general", "fallback")
    # A failed stage is never cached, so the second route asks again; an answer is.
    assert len(asked) == (2 if "code" in case else 1)


@pytest.mark.parametrize("case", ANSWERS["embed"], ids=named)
async def test_embed_answers_of_the_vectors_decide_or_fall_through(db: keel.Keel, case: dict[str, Any]) -> None:
    registry = await skills(db)
    asked: list[HostEmbedTask] = []

    async def embed(task: HostEmbedTask) -> Any:
        asked.append(task)
        rows = [case["row"]] * (case["answer_rows"] or len(task["texts"]))
        return rows if case["as"] == "list" else {"vectors" if case["as"] == "object" else case["as"]: rows}

    router = registry.message_router(embedder=embed, **UNDECIDED)
    d = await router.route("deal deal risk", "web", ORG)
    await router.route("deal deal risk", "web", ORG)
    assert d["stage"] == ("fallback" if "code" in case else "embedding")
    assert len(asked) == (2 if "code" in case else 1)


@pytest.mark.parametrize("case", ANSWERS["summarize"], ids=named)
async def test_summary_answers_of_the_vectors_summarize_or_trim(db: keel.Keel, case: dict[str, Any]) -> None:
    store = db.conversations()
    org = str(uuid.uuid4())
    c = await store.start(org, "U042", "web")
    await store.append(org, c["id"], rounds(100))

    async def summarize(task: HostSummaryTask) -> Any:
        return case["answer"]

    compaction = (await store.compact(org, c["id"], summarizer=summarize, **SMALL))["compaction"]
    assert compaction is not None
    if "code" in case:
        assert compaction["method"] == "trim"
    else:
        assert (compaction["method"], compaction["summary"]) == ("summary", case["summary"])
