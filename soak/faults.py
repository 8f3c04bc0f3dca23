"""The soak's faults: a schedule drawn from the seed, injected while the workers run.

Every kind comes at least once; the full run adds one more fault of a random kind about every
six seconds. Faults land between 10 % and 80 % of the run, so the end sees recovery.
"""

import asyncio
import functools
import json
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import keel

KINDS = [
    "kill",  # SIGKILL of a worker, restarted as its next incarnation
    "stop",  # SIGSTOP past the queue's lease, then SIGCONT
    "postgres_restart",  # the server stopped (fast) and started again
    "provider_5xx",  # the primary models answer 500, 502, 503 and 529 for a while
    "provider_429",  # every model answers 429 with Retry-After
    "provider_slow",  # the primary models stall past the attempt timeout
    "slack_429",  # the alert webhook answers 429 with Retry-After
    "skills_sync",  # a changed library synced: the next version of one skill
    "org_override",  # a skill disabled or enabled for one org
]


class Schedule:
    def __init__(self, seed: int, seconds: float, short: bool) -> None:
        self.rng = random.Random(seed)
        self.seconds = seconds
        kinds = KINDS + ["kill"] + ([] if short else [self.rng.choice(KINDS) for _ in range(int(seconds / 6))])
        times = sorted(self.rng.uniform(0.1, 0.8) * seconds for _ in kinds)
        self.rng.shuffle(kinds)
        self.events = list(zip(times, kinds))

    def run(
        self, workers: list[Any], pg: Any, base: str, orgs: list[str], restart: Callable[[Any], None], root: Path
    ) -> dict[str, int]:
        """Injects every event at its time, then waits out the run; returns the counts per kind."""
        began = time.monotonic()
        done: Counter[str] = Counter()
        later: list[tuple[float, Callable[[], None]]] = []  # the ends of faults under way
        models = primary_models(pg.url)
        stopped: set[str] = set()  # the ids of workers under SIGSTOP

        def cont(w: Any) -> None:
            w.proc.send_signal(signal.SIGCONT)
            stopped.discard(w.id)

        library = Library(root / "skills", pg.url, orgs)
        for at, kind in self.events + [(self.seconds, "end")]:
            while True:
                now = time.monotonic() - began
                for entry in [e for e in later if e[0] <= now]:
                    entry[1]()
                    later.remove(entry)
                if now >= at:
                    break
                time.sleep(min(0.1, at - now))
            if kind == "end":
                break
            w = self.rng.choice(workers)
            target = f" {w.id}" if kind in ("kill", "stop") else ""
            print(f"soak: [{now:6.1f} s] {kind}{target}", file=sys.stderr, flush=True)
            if kind == "kill":
                w.proc.kill()
                w.proc.wait()
                w.killed.append(w.incarnation)
                w.incarnation += 1
                restart(w)
            elif kind == "stop":
                if w.id in stopped:
                    continue
                w.proc.send_signal(signal.SIGSTOP)
                stopped.add(w.id)
                later.append((now + self.rng.uniform(3.0, 5.0), lambda w=w: cont(w)))
            elif kind == "postgres_restart":
                pg.pg("pause")
                time.sleep(self.rng.uniform(1.0, 3.0))
                pg.pg("resume")
            elif kind == "provider_5xx":
                # A storm lasts a few seconds whoever calls: the models answer it whenever
                # their scripts are spent, until the storm ends.
                for model in models["primary"]:
                    status = self.rng.choice([500, 502, 503, 529])
                    always(base, model, {"error": status, "message": "overloaded"})
                later.append((now + self.rng.uniform(2.0, 4.0), lambda: calm(base, models["all"])))
            elif kind == "provider_429":
                for model in models["all"]:
                    always(base, model, {"error": 429, "message": "rate limited", "retry_after": "1"})
                later.append((now + self.rng.uniform(1.0, 3.0), lambda: calm(base, models["all"])))
            elif kind == "provider_slow":
                for model in models["primary"]:
                    script(base, model, [{"stall_ms": 2500}] * 4)
            elif kind == "slack_429":
                script(base, "incoming-webhook", [{"error": 429, "message": "rate_limited", "retry_after": "1"}] * 5)
            elif kind == "skills_sync":
                library.next_version(self.rng)
            elif kind == "org_override":
                library.toggle(self.rng)
            done[kind] += 1
        for _, end in later:
            end()
        library.close()
        return {kind: done[kind] for kind in KINDS}


def loopback(base: str, path: str, body: Any) -> None:
    request = urllib.request.Request(
        base + path, data=json.dumps(body).encode(), headers={"content-type": "application/json"}, method="POST"
    )
    urllib.request.urlopen(request, timeout=5).read()


def script(base: str, model: str, replies: list[Any]) -> None:
    """`model` answers `replies` to its next requests."""
    loopback(base, "/_loopback/script", {"model": model, "replies": replies})


def always(base: str, model: str, reply: Any) -> None:
    """`model` answers `reply` whenever its script is spent."""
    loopback(base, "/_loopback/always", {"model": model, "reply": reply})


def calm(base: str, models: list[str]) -> None:
    """The storm ends: every model answers normally again."""
    for model in models:
        always(base, model, {"text": f"ok from {model}"})


def primary_models(url: str) -> dict[str, list[str]]:
    """The copilot feature's models (primary of each tier, and all), from model_config."""
    rows = psql(url, "SELECT model_id, is_primary FROM keel.model_config WHERE feature = 'copilot' AND is_active")
    return {
        "primary": sorted({r[0] for r in rows if r[1] == "t"}),
        "all": sorted({r[0] for r in rows}),
    }


def psql(url: str, sql: str) -> list[list[str]]:
    out = subprocess.run(
        [psql_bin(), url, "-qAt", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql],
        check=True, capture_output=True, text=True,
    ).stdout
    return [line.split("\t") for line in out.splitlines() if line]


@functools.cache
def psql_bin() -> str:
    found = shutil.which("psql")
    if found:
        return found
    dirs = sorted(Path("/usr/lib/postgresql").glob("*/bin/psql"))
    return str(dirs[-1])


class Library:
    """The skills changes of a run: a copy of the library whose next sync bumps one skill, and
    per-org enable/disable overrides, through Keel's own registry."""

    def __init__(self, skills: Path, url: str, orgs: list[str]) -> None:
        self.copy = Path(tempfile.mkdtemp(prefix="keel-soak-skills.")) / "skills"
        shutil.copytree(skills, self.copy)
        self.url = url
        self.orgs = orgs
        self.revision = 0
        self.disabled: set[tuple[str, str]] = set()

    def files(self) -> list[Path]:
        return sorted(self.copy.glob("*/*/SKILL.md"))

    def next_version(self, rng: random.Random) -> None:
        self.revision += 1
        path = rng.choice(self.files())
        text = path.read_text()
        path.write_text(text.rstrip("\n") + f"\n\nRevision {self.revision} of the soak.\n")
        asyncio.run(self.registry(lambda r: r.sync(str(self.copy))))

    def toggle(self, rng: random.Random) -> None:
        org = rng.choice(self.orgs)
        key = rng.choice(self.files()).parent.name
        enabled = (org, key) in self.disabled
        asyncio.run(self.registry(lambda r: r.set_enabled(org, key, enabled)))
        (self.disabled.discard if enabled else self.disabled.add)((org, key))

    async def registry(self, change: Callable[[Any], Any]) -> None:
        db = await keel.connect(self.url)
        try:
            await change(await db.skill_registry())
        finally:
            await db.close()

    def close(self) -> None:
        shutil.rmtree(self.copy.parent, ignore_errors=True)
