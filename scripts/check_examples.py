"""Runs every example in Rust, Python and Node (and Kotlin's, for the scenarios its binding
covers) on SQLite and on a fresh PostgreSQL database, and compares each output with its golden
file, examples/expected/<scenario>.txt; then runs the demo (`keel demo`) on both backends and
compares it with examples/expected/demo.txt.

Every language must print the same text: ids, timings and the database URL are
normalised first. `--update` rewrites the golden files from the Rust output (review the diff).
Needs KEEL_TEST_PG_URL (`make test` starts the throwaway PostgreSQL), the built bindings and,
for Kotlin, the uniffi library (`make uniffi`) and Maven.
"""

from __future__ import annotations

import difflib
import os
import pathlib
import re
import subprocess
import sys
import uuid

ROOT = pathlib.Path(__file__).resolve().parents[1]
#: The scenarios examples/kotlin has (the API its uniffi binding covers).
KOTLIN = {"quickstart": "QuickstartKt", "model_router": "ModelRouterKt", "skills": "SkillsKt", "llm": "LlmKt", "routing": "RoutingKt", "queue": "QueueKt", "agent_runs": "AgentRunsKt", "dead_letters": "DeadLettersKt", "dedup": "DedupKt", "fleet": "FleetKt", "slack": "SlackKt", "threads": "ThreadsKt", "console": "ConsoleKt"}
KOTLIN_DIR = ROOT / "examples" / "kotlin"
SCENARIOS = ["quickstart", "model_router", "skills", "llm", "otlp", "routing", "memory", "dead_letters", "agent_runs", "queue", "dedup", "slack", "threads", "fleet", "console"]
NORMALISE = [
    (re.compile(r"connected to \S+ \((sqlite|postgres)\)"), "connected to <database>"),
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<uuid>"),
    (re.compile(r"\b\d+(\.\d+)? ms\b"), "<ms>"),
]


def command(language: str, scenario: str) -> list[str]:
    if language == "kotlin":
        return ["java", f"-Djna.library.path={ROOT}/target/debug", "-cp", kotlin_classpath(), KOTLIN[scenario]]
    return {
        "rust": ["cargo", "run", "-q", "-p", "keelcore", "--example", scenario],
        "python": [sys.executable, f"examples/python/{scenario}.py"],
        "node": ["node", f"examples/node/{scenario}.mjs"],
    }[language]


#: The READMEs whose ```kotlin blocks are compiled with the examples and run as printed.
KOTLIN_READMES = ["bindings-uniffi/README.md", "README.md"]


def readme_kotlin() -> list[str]:
    """Writes every ```kotlin block of the READMEs into examples/kotlin/src/readme/ (each in a
    package of its own); their main classes."""
    folder = KOTLIN_DIR / "src" / "readme"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.kt"):
        old.unlink()
    mains = []
    for readme in KOTLIN_READMES:
        text = (ROOT / readme).read_text()
        for match in re.finditer(r"^```kotlin\n(.*?)^```", text, re.S | re.M):
            n = len(mains) + 1
            (folder / f"Readme{n}.kt").write_text(f"// {readme}, line {text.count(chr(10), 0, match.start()) + 1}\npackage readme{n}\n\n{match.group(1)}")
            mains.append(f"readme{n}.Readme{n}Kt")
    return mains


def build_kotlin() -> list[str]:
    """Compiles examples/kotlin and the READMEs' Kotlin blocks with the binding's sources, and
    writes the classpath; the READMEs' main classes."""
    mains = readme_kotlin()
    subprocess.run(["mvn", "-B", "-q", "-Dstyle.color=never", "package"], cwd=KOTLIN_DIR, check=True)
    return mains


def kotlin_classpath() -> str:
    return f"{KOTLIN_DIR}/target/classes:" + (KOTLIN_DIR / "target" / "classpath.txt").read_text().strip()


def fresh_pg_url() -> str:
    admin = os.environ.get("KEEL_TEST_PG_URL")
    if not admin:
        sys.exit("KEEL_TEST_PG_URL is not set: run through `make test` or scripts/with-postgres.sh")
    name = f"keel_example_{uuid.uuid4().hex[:12]}"
    subprocess.run(["psql", admin, "-qc", f"CREATE DATABASE {name}"], check=True)
    return admin.rsplit("/", 1)[0] + "/" + name


#: What varies between two runs of the demo besides ids and timings.
DEMO_NORMALISE = [
    (re.compile(r"\b00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]\b"), "<traceparent>"),
    (re.compile(r"demo on \S+ \((sqlite|postgres)\)"), "demo on <database>"),
    (re.compile(r"\b20\d\d-\d\d-\d\d\b"), "<date>"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), "<uuid>"),
    (re.compile(r"\b\d+(\.\d+)? ms\b"), "<ms>"),
]


def demo(update: bool) -> int:
    """The demo's narration on each backend, against its golden file."""
    golden = ROOT / "examples" / "expected" / "demo.txt"
    failures = 0
    for backend in ("sqlite", "postgres"):
        url = fresh_pg_url() if backend == "postgres" else f"sqlite://{ROOT}/target/demo-check-{uuid.uuid4().hex[:8]}.db"
        cmd = ["cargo", "run", "-q", "-p", "keel-cli", "--", "demo", "--database-url", url]
        run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        label = f"demo ({backend})"
        if run.returncode != 0:
            print(f"FAILED {label}: exit {run.returncode}\n{run.stderr}")
            failures += 1
            continue
        failures += compare(label, normalise(run.stdout, DEMO_NORMALISE), golden, update and backend == "sqlite")
    return failures


def normalise(text: str, rules: list[tuple[re.Pattern[str], str]] = NORMALISE) -> str:
    for pattern, replacement in rules:
        text = pattern.sub(replacement, text)
    return text


def compare(label: str, got: str, golden: pathlib.Path, write: bool) -> int:
    """1 (and the diff printed) when `got` differs from the golden file, else 0; `write`
    rewrites the golden file from `got` first."""
    if write:
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(got)
    want = golden.read_text() if golden.exists() else ""
    if got == want:
        print(f"ok {label}")
        return 0
    diff = difflib.unified_diff(want.splitlines(), got.splitlines(), "expected", label, lineterm="")
    print(f"FAILED {label}: output differs from {golden.relative_to(ROOT)}")
    print("\n".join(diff))
    return 1


def start_loopback() -> tuple[subprocess.Popen[str], str]:
    """`keel loopback`, the model provider the llm example calls."""
    subprocess.run(["cargo", "build", "-q", "-p", "keel-cli"], cwd=ROOT, check=True)
    proc = subprocess.Popen([str(ROOT / "target/debug/keel"), "loopback"], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"http://\S+", line)
    if not match:
        proc.kill()
        sys.exit(f"keel loopback printed {line!r}")
    return proc, match.group(0)


def main() -> int:
    update = "--update" in sys.argv
    failures = 0
    loopback, base_url = start_loopback()
    readme_mains = build_kotlin()
    runs = 2 + len(readme_mains)
    for main_class in readme_mains:
        run = subprocess.run(
            ["java", f"-Djna.library.path={ROOT}/target/debug", "-cp", kotlin_classpath(), main_class],
            cwd=ROOT, capture_output=True, text=True,
        )
        if run.returncode != 0:
            print(f"FAILED README Kotlin block {main_class}: exit {run.returncode}\n{run.stderr}")
            failures += 1
        else:
            print(f"ok README Kotlin block {main_class}")
    for scenario in SCENARIOS:
        golden = ROOT / "examples" / "expected" / f"{scenario}.txt"
        languages = ("rust", "python", "node", "kotlin") if scenario in KOTLIN else ("rust", "python", "node")
        for backend in ("sqlite", "postgres"):
            for language in languages:
                runs += 1
                env = dict(os.environ)
                env.pop("KEEL_DATABASE_URL", None)
                env["KEEL_LLM_BASE_URL"] = base_url
                if backend == "postgres":
                    env["KEEL_DATABASE_URL"] = fresh_pg_url()
                run = subprocess.run(
                    command(language, scenario), cwd=ROOT, env=env, capture_output=True, text=True
                )
                label = f"{scenario} ({language}, {backend})"
                if run.returncode != 0:
                    print(f"FAILED {label}: exit {run.returncode}\n{run.stderr}")
                    failures += 1
                    continue
                failures += compare(label, normalise(run.stdout), golden, update and language == "rust" and backend == "sqlite")
    loopback.terminate()
    failures += demo(update)
    print(f"examples and demo: {runs - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
