"""Skills from Python: parse + validate per file (vs PyYAML's C loader on the frontmatter alone,
no validation), compile with 20 substitutions, and a cached resolve_skills for an org with 500
skills. Prints one JSON object of ns per call (best of rounds). Run by bench/run.py."""

from __future__ import annotations

import asyncio
import json
import pathlib
import tempfile
import time
import uuid

import yaml

import keel
from timing import per_call_ns

ROOT = pathlib.Path(__file__).resolve().parents[1]


def synthetic_library(root: pathlib.Path, n: int) -> None:
    for i in range(n):
        ns = ("copilot", "slack", "fleet", "shared")[i % 4]
        d = root / ns / f"skill-{i:04}"
        d.mkdir(parents=True)
        (d / "SKILL.md").write_text(
            f"---\nname: skill-{i:04}\ndescription: Synthetic skill {i}.\nmetadata:\n  required_context: [deal]\n---\n"
            f"For ${{company_name}}: look at ${{deal.name}}.\n"
        )


async def main() -> None:
    files = [(p.parent.name, p.read_text()) for p in sorted((ROOT / "skills").glob("*/*/SKILL.md"))]

    def keel_parse() -> None:
        for folder, text in files:
            keel.parse_skill(text, folder)

    def pyyaml_parse() -> None:
        for _, text in files:
            yaml.load(text.split("---", 2)[1], Loader=yaml.CSafeLoader)

    body = "".join(
        ("- ${deal.name|upper} %d\n", '- ${contacts|join:", "} %d\n', '- ${owner|default:"unassigned"} %d\n', "- ${company_name|capitalize} %d\n")[i % 4] % i
        for i in range(20)
    )
    text = f"---\nname: bench\ndescription: d\n---\n{body}"
    context = {"company_name": "acme", "deal": {"name": "renewal"}, "contacts": ["Dana", "Marcus", "Priya"]}

    with tempfile.TemporaryDirectory() as tmp:
        lib = pathlib.Path(tmp) / "skills"
        synthetic_library(lib, 500)
        db = await keel.connect(f"sqlite://{tmp}/bench.db")
        skills = await db.skill_registry()
        await skills.sync(lib)
        org = str(uuid.uuid4())
        await skills.set_org_context(org, {"company_name": "Acme"})
        view = await skills.resolve_skills(org, "slack")
        assert len(view) == 250

        async def awaited(n: int) -> float:
            start = time.perf_counter_ns()
            for _ in range(n):
                await skills.resolve_skills(org, "slack")
            return (time.perf_counter_ns() - start) / n

        result = {
            "keel_parse_validate_per_file": per_call_ns(keel_parse, rounds=5, calls=50) / len(files),
            "pyyaml_c_parse_per_file": per_call_ns(pyyaml_parse, rounds=5, calls=50) / len(files),
            "keel_compile_20": per_call_ns(lambda: keel.compile_skill(text, context), rounds=5, calls=20_000),
            "keel_cached": per_call_ns(lambda: skills.cached(org, "slack"), rounds=5),
            "keel_resolve_awaited": min([await awaited(5_000) for _ in range(3)]),
        }
        await db.close()
    print(json.dumps(result))


asyncio.run(main())
