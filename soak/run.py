"""Soak and chaos: many Keel processes (Rust, Python, Node) share one PostgreSQL and run the
platform loop while faults are injected on a seeded schedule; then every invariant is checked.

    python soak/run.py [--seconds 300] [--seed 7] [--json] [--short]

`make soak` runs it for SOAK_SECONDS (default 300); `make test` runs `--short` (about 60 s).
It starts its own PostgreSQL (scripts/pg.sh, a private state folder) and `keel loopback` (the
LLM providers' and Slack's shapes), seeds orgs, credits, skills and conversations, starts the
workers (soak/worker.py, soak/worker.mjs, the Rust example `soak_worker`; soak/worker.kt with
`--languages rust,python,node,kotlin`), injects the faults,
stops the survivors with SIGTERM and runs soak/check.py. Exit status 1 when an invariant fails;
the report names the seed, so `--seed` replays the schedule.
"""

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keel

sys.path.insert(0, str(Path(__file__).parent))
import check  # noqa: E402
import faults  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
LEASE_MS = 2_000
# The breakers' first cooldown and probe timeout in every worker (the defaults are 30 s and 60 s).
COOLDOWN_MS = 2_000
PROBE_TIMEOUT_MS = 5_000
# The CRM quota every worker shares, per org: this many items a second, this burst.
RATE_LIMIT = 20
RATE_BURST = 10
MESSAGES = [
    "What's the status of the Globex deal?",
    "how do we win against Rivalsoft?",
    "thanks!",
    "How do I prep for my Acme meeting?",
    "what's the weather in Paris?",
    "Summarise my pipeline for this quarter",
    "who is the champion at Initech?",
    "draft a follow-up email to Dana about the renewal",
]

# Item titles are five of these words: few near-duplicates, so most items are primaries.
WORDS = (
    "renewal risk pricing champion silent procurement discount legal review security audit budget freeze "
    "expansion seats churn competitor pilot stalled escalation onboarding usage drop invoice overdue "
    "contract redline sponsor left forecast slip upsell trial migration integration"
).split()


@dataclass
class Worker:
    """One worker slot: its language and the incarnations it has had."""

    id: str
    lang: str
    incarnation: int = 0
    proc: subprocess.Popen[bytes] | None = None
    journals: list[Path] = field(default_factory=list)
    killed: list[int] = field(default_factory=list)


def worker_argv(lang: str, cfg: str) -> list[str]:
    if lang == "python":
        return [sys.executable, str(ROOT / "soak/worker.py"), cfg]
    if lang == "node":
        return ["node", str(ROOT / "soak/worker.mjs"), cfg]
    if lang == "kotlin":
        return ["java", f"-Djna.library.path={uniffi_library().parent}", "-cp", kotlin_classpath(), "dev.keel.soak.WorkerKt", cfg]
    return [str(rust_worker()), cfg]


def uniffi_library() -> Path:
    return newest("libkeel_uniffi.so", "make uniffi")


KOTLIN = ROOT / "examples" / "kotlin"


def build_kotlin() -> None:
    """Compiles soak/worker.kt with examples/kotlin (its pom.xml adds soak/) and writes the
    classpath the workers run with."""
    uniffi_library()
    subprocess.run(["mvn", "-B", "-q", "-Dstyle.color=never", "package"], cwd=KOTLIN, check=True)


def kotlin_classpath() -> str:
    return f"{KOTLIN}/target/classes:" + (KOTLIN / "target" / "classpath.txt").read_text().strip()


def newest(relative: str, build: str) -> Path:
    """The newer of the debug and release builds of `relative` under target/."""
    built = [p for p in (ROOT / "target" / profile / relative for profile in ("debug", "release")) if p.exists()]
    if not built:
        raise SystemExit(f"soak: build it first ({build})")
    return max(built, key=lambda p: p.stat().st_mtime)


def rust_worker() -> Path:
    return newest("examples/soak_worker", "cargo build -p keelcore --example soak_worker")


def keel_bin() -> Path:
    return newest("keel", "cargo build -p keel-cli")


class Postgres:
    """A private server from scripts/pg.sh (its own state folder), paused and resumed as a fault."""

    def __init__(self, state: Path) -> None:
        self.env = {**os.environ, "KEEL_PG_STATE": str(state)}
        self.pg("start")
        self.url = subprocess.run(
            [str(ROOT / "scripts/pg.sh"), "url"], env=self.env, check=True, capture_output=True, text=True
        ).stdout.strip()

    def pg(self, command: str) -> None:
        subprocess.run([str(ROOT / "scripts/pg.sh"), command], env=self.env, check=True, capture_output=True)

    def stop(self) -> None:
        self.pg("stop")


async def seed(url: str, orgs: list[str]) -> dict[str, Any]:
    """Skills, credits (one org on a shoestring), conversations, fleet agents."""
    db = await keel.connect(url)
    skills = await db.skill_registry()
    await skills.sync(str(ROOT / "skills"))
    router = await db.model_router()
    conversations: dict[str, list[str]] = {}
    store = db.conversations()
    for i, org in enumerate(orgs):
        await router.grant_credits(org, 0.02 if i == 0 else 1000, idempotency_key=f"soak-grant-{org}")
        conversations[org] = [(await store.start(org, f"rep-{j}", "web"))["id"] for j in range(2)]
    fleet = db.fleet()
    for lang in ("python", "node", "rust"):
        await fleet.set_agent(f"soak-{lang}", schedule="* * * * *")
    await db.close()
    return conversations


def summarize(workers: list[Worker], seconds: float) -> dict[str, Any]:
    """Operations per second and p50/p99 per kind, from every incarnation's journal."""
    by_kind: dict[str, list[float]] = {}
    failed: dict[str, int] = {}
    for w in workers:
        for path in w.journals:
            for line in check.journal(path):
                if line["op"] in ("ack", "allowed", "enqueued", "stopped"):
                    continue
                by_kind.setdefault(line["op"], []).append(line["ms"])
                failed[line["op"]] = failed.get(line["op"], 0) + (0 if line["ok"] else 1)
    ops = {}
    for kind, times in sorted(by_kind.items()):
        times.sort()
        ops[kind] = {
            "count": len(times),
            "per_second": round(len(times) / seconds, 1),
            "failed": failed[kind],
            "p50_ms": round(times[len(times) // 2], 2),
            "p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))], 2),
        }
    return ops


def read_json(stream: Any) -> Any:
    """The first JSON document a process prints (pretty-printed over several lines)."""
    text = ""
    while True:
        line = stream.readline()
        if not line:
            raise SystemExit(f"soak: expected JSON, got {text!r}")
        text += line.decode()
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            continue


def start(w: Worker, base_cfg: dict[str, Any], out: Path) -> None:
    journal = out / f"{w.id}.{w.incarnation}.jsonl"
    cfg = {**base_cfg, "id": w.id, "incarnation": w.incarnation, "out": str(journal), "agent": f"soak-{w.lang}"}
    w.journals.append(journal)
    log = open(out / f"{w.id}.{w.incarnation}.log", "wb")
    w.proc = subprocess.Popen(worker_argv(w.lang, json.dumps(cfg)), stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)


def print_report(report: dict[str, Any]) -> None:
    print(f"soak: seed {report['seed']}, {report['seconds']} s, {len(report['workers'])} workers "
          f"({', '.join(f'{n} {lang}' for lang, n in report['languages'].items())})")
    print(f"\n{'operation':<10} {'count':>8} {'per s':>8} {'failed':>7} {'p50 ms':>8} {'p99 ms':>8}")
    for kind, o in report["operations"].items():
        print(f"{kind:<10} {o['count']:>8} {o['per_second']:>8} {o['failed']:>7} {o['p50_ms']:>8} {o['p99_ms']:>8}")
    print("\nfaults: " + ", ".join(f"{kind} {n}" for kind, n in report["faults"].items()))
    print(f"\n{'invariant':<44} {'result':<6} detail")
    for inv in report["invariants"]:
        print(f"{inv['name']:<44} {'ok' if inv['ok'] else 'FAIL':<6} {inv['detail']}")
    verdict = "every invariant holds" if report["ok"] else f"FAILED: replay with --seed {report['seed']}"
    print(f"\n{verdict}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_SECONDS", 300)))
    parser.add_argument("--seed", type=int, default=int(os.environ.get("SOAK_SEED", 7)))
    parser.add_argument("--short", action="store_true", help="about 60 s with fewer faults (make test)")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON document")
    parser.add_argument("--keep", action="store_true", help="keep the journals and logs folder")
    parser.add_argument(
        "--languages", default="rust,python,node", help="the workers' languages, three of each (rust, python, node, kotlin)"
    )
    args = parser.parse_args()
    seconds = 60.0 if args.short and "SOAK_SECONDS" not in os.environ else args.seconds
    work = Path(tempfile.mkdtemp(prefix="keel-soak."))
    pg = Postgres(work / "pg")
    loopback = None
    workers: list[Worker] = []
    passed = False
    try:
        subprocess.run([str(keel_bin()), "migrate", "--database-url", pg.url], check=True, capture_output=True)
        loopback = subprocess.Popen([str(keel_bin()), "loopback", "--json"], stdout=subprocess.PIPE)
        assert loopback.stdout is not None
        base = read_json(loopback.stdout)["base_url"]
        faults.loopback(base, "/_loopback/quiet", {})
        orgs = [str(uuid.UUID(int=random.Random(args.seed).getrandbits(128) | i)) for i in range(6)]
        conversations = asyncio.run(seed(pg.url, orgs))
        # The shoestring org's grace is small too, so its calls are refused once it is spent.
        faults.psql(pg.url, f"UPDATE keel.org_credit_balance SET grace_threshold_credits = 0.02 WHERE org_id = '{orgs[0]}'")
        base_cfg = {
            "url": pg.url, "base_url": base, "orgs": orgs, "conversations": conversations, "seed": args.seed,
            "messages": MESSAGES, "words": WORDS, "lease_ms": LEASE_MS, "cooldown_ms": COOLDOWN_MS, "probe_timeout_ms": PROBE_TIMEOUT_MS, "compact_above": 3000,
            "rate_limit": RATE_LIMIT, "rate_burst": RATE_BURST, "health_every": 3,
        }
        langs = args.languages.split(",")
        if "kotlin" in langs:
            build_kotlin()
        workers = [Worker(f"{lang[:2]}-{i}", lang) for i in range(3) for lang in langs]
        out = work / "journals"
        out.mkdir()
        for w in workers:
            start(w, base_cfg, out)
        schedule = faults.Schedule(args.seed, seconds, short=args.short)
        injected = schedule.run(workers, pg, base, orgs, lambda w: start(w, base_cfg, out), ROOT)
        stopped_at = time.monotonic()
        for w in workers:
            if w.proc and w.proc.poll() is None:
                w.proc.send_signal(signal.SIGTERM)
        for w in workers:
            try:
                if w.proc:
                    w.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                w.proc.kill()
                w.proc.wait()
                w.killed.append(w.incarnation)
        report: dict[str, Any] = {
            "seed": args.seed,
            "seconds": seconds,
            "workers": [w.id for w in workers],
            "languages": {lang: sum(w.lang == lang for w in workers) for lang in langs},
            "operations": summarize(workers, seconds),
            "faults": injected,
        }
        report["invariants"] = check.run(pg.url, orgs, workers, LEASE_MS, COOLDOWN_MS, (RATE_LIMIT, RATE_BURST), stopped_at)
        report["ok"] = passed = all(i["ok"] for i in report["invariants"])
        exits = {w.id: w.proc.returncode for w in workers if w.proc}
        report["exits"] = exits
        if args.json:
            print(json.dumps(report, indent=2))
        else:
            print_report(report)
        return 0 if passed else 1
    finally:
        for w in workers:
            if w.proc and w.proc.poll() is None:
                w.proc.kill()
        if loopback:
            loopback.kill()
        pg.stop()
        if passed and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"journals and logs kept in {work}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
