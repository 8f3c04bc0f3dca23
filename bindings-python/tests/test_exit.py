"""Interpreter exit with runtime threads still handing results to asyncio.

A runtime thread that enters Python while the interpreter finalizes is killed mid-call and
crashes the process (seen as a segfault or `PyGILState_Release` abort in about one exit in
fifteen before `keel` drained its tasks at exit). Twenty short scripts must all exit cleanly.
A script that never closes its handle still writes its agent runs' rows at exit.
"""

from __future__ import annotations

import asyncio
import pathlib
import subprocess
import sys

import keel

SCRIPT = """
import asyncio, uuid, keel
async def main():
    db = await keel.connect("sqlite::memory:")
    router = await db.model_router()
    org = str(uuid.uuid4())
    await router.grant_credits(org, 5)
    await router.record_failure("claude-sonnet-4-6", status=400)
    await router.check_budget(org)
    await db.close()
asyncio.run(main())
"""


def test_twenty_exits_are_clean() -> None:
    procs = [subprocess.Popen([sys.executable, "-c", SCRIPT], stderr=subprocess.PIPE) for _ in range(20)]
    failures = []
    for p in procs:
        _, err = p.communicate(timeout=120)
        if p.returncode != 0:
            failures.append((p.returncode, err.decode(errors="replace")[-500:]))
    assert failures == []


RUN = """
import asyncio, sys, keel
async def main():
    db = await keel.connect(sys.argv[1])
    async def score(ctx):
        return 1
    result = await db.run_agent({"agent_name": "exit-check"}, score)
    print(result["execution_id"])  # no db.close(): the exit flush writes the row
asyncio.run(main())
"""


def test_a_script_that_never_closes_still_writes_its_runs(tmp_path: pathlib.Path) -> None:
    url = f"sqlite://{tmp_path / 'runs.db'}"
    done = subprocess.run([sys.executable, "-c", RUN, url], capture_output=True, timeout=120, check=True)
    run_id = done.stdout.decode().strip()

    async def read() -> str:
        db = await keel.connect(url)
        try:
            return (await db.runs().get(run_id))["status"]
        finally:
            await db.close()

    assert asyncio.run(read()) == "completed"
