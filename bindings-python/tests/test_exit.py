"""Interpreter exit with runtime threads still handing results to asyncio.

A runtime thread that enters Python while the interpreter finalizes is killed mid-call and
crashes the process (seen as a segfault or `PyGILState_Release` abort in about one exit in
fifteen before `keel` drained its tasks at exit). Twenty short scripts must all exit cleanly.
"""

from __future__ import annotations

import subprocess
import sys

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
