"""Model tasks from Python against the loopback provider: the vectors of
testdata/llm_tasks.json (classify answers, bad requests, embeddings, the prompts sent). The
tasks store nothing but spans, so they run on SQLite only."""

from __future__ import annotations

import pathlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

import keel
from conftest import Loopback, load_vectors

VECTORS: dict[str, Any] = load_vectors("llm_tasks.json")  # type: ignore[assignment]
MODEL = "task-model"
ROUTED = {"provider": "openai", "model": MODEL}


@pytest.fixture
async def llm(tmp_path: pathlib.Path, loopback: Loopback) -> AsyncIterator[keel.Llm]:
    db = await keel.connect(f"sqlite://{tmp_path / 'keel.db'}")
    yield (await db.model_router(seed_defaults=False)).llm(providers=loopback.providers())
    await db.close()


@pytest.mark.parametrize("case", VECTORS["classify"], ids=lambda c: c["name"])
async def test_classify_reads_each_answer(llm: keel.Llm, loopback: Loopback, case: dict[str, Any]) -> None:
    loopback.script(MODEL, {"text": case["answer"]})
    if "code" in case:
        with pytest.raises(keel.KeelError) as info:
            await llm.classify(text="Can I add five seats?", labels=VECTORS["labels"], **ROUTED)
        assert info.value.code == case["code"]
        assert len(info.value.attempts) == 1
        return
    done = await llm.classify(text="Can I add five seats?", labels=VECTORS["labels"], **ROUTED)
    assert (done["label"], done["confidence"]) == (case["label"], case["confidence"])
    assert done["completion"] is not None and done["completion"]["model"] == MODEL


async def test_each_task_sends_its_prompt(llm: keel.Llm, loopback: Loopback) -> None:
    loopback.script(MODEL, {"text": '{"label": "billing"}'}, {"text": " Acme wants five seats. "})
    done = await llm.classify(
        text="Refund please", labels=VECTORS["labels"], instructions="Route support email.", **ROUTED
    )
    assert done["label"] == "billing"
    summary = await llm.summarize(text="A long thread about seats", max_tokens=50, **ROUTED)
    assert summary["text"] == "Acme wants five seats."
    classify, summarize = (r["body"] for r in loopback.received())
    assert classify["messages"][0] == {"role": "system", "content": VECTORS["system"]["classify"]}
    assert classify["temperature"] == 0 and classify["max_tokens"] == 100
    assert summarize["messages"][0]["content"] == VECTORS["system"]["summarize"]
    assert summarize["max_tokens"] == 50


@pytest.mark.parametrize("case", VECTORS["invalid"], ids=lambda c: f"{c['task']}:{c['field']}")
async def test_bad_requests_name_their_field(llm: keel.Llm, loopback: Loopback, case: dict[str, Any]) -> None:
    request = dict(case["request"])
    if case["task"] != "embed":
        request.update(ROUTED)
    with pytest.raises(keel.InvalidInputError) as info:
        await getattr(llm, case["task"])(**request)
    assert info.value.field == case["field"]
    assert loopback.received() == []


@pytest.mark.parametrize(
    ("provider", "path"),
    [("openai", "/v1/embeddings"), ("google", "/v1beta/models/gemini-embedding-001:batchEmbedContents")],
)
async def test_embeddings_come_back_in_order(llm: keel.Llm, loopback: Loopback, provider: str, path: str) -> None:
    done = await llm.embed(provider=provider, **VECTORS["embed"])
    vectors = done["vectors"]
    assert len(vectors) == 3 and done["dimensions"] == 4 and all(len(v) == 4 for v in vectors)
    assert vectors[0] == vectors[2] and vectors[0] != vectors[1]
    assert loopback.received()[-1]["path"] == path
    assert done["input_tokens"] == (10 if provider == "openai" else None)


async def test_embedding_failures_are_typed(llm: keel.Llm, loopback: Loopback) -> None:
    loopback.script("text-embedding-3-small", {"error": 429, "message": "slow down", "retry_after": "3"})
    with pytest.raises(keel.RateLimitedError) as info:
        await llm.embed(texts=["a"])
    assert info.value.retry_after_ms == 3000
    assert [a["outcome"] for a in info.value.attempts] == ["rate_limited"]
