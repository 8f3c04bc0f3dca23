"""Makes docs/fleet-report.png, the README's picture of `keel health --html`: a fleet on a
SQLite file whose runs are real (`run_agent`) and whose week of snapshots is synthetic (rows
as 7 days of hourly health runs would have left them, so the charts have a history to draw),
rendered by Keel's report and photographed by Debian's Chromium.

    .venv/bin/python scripts/fleet_report_screenshot.py
"""

from __future__ import annotations

import asyncio
import json
import math
import pathlib
import shutil
import sqlite3
import subprocess
import tempfile
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import keel

ROOT = pathlib.Path(__file__).resolve().parents[1]


class Unavailable(Exception):
    status_code = 503


async def runs(db: keel.Keel, agent: str, outcomes: list[bool]) -> None:
    for ok in outcomes:

        async def work(ctx: keel.AgentContext, ok: bool = ok) -> Any:
            if not ok:
                raise Unavailable("CRM unavailable")
            return {"ok": True}

        await db.run_agent({"agent_name": agent, "max_retries": 0, "dead_letter": False}, work)


def history(path: pathlib.Path, agents: list[str]) -> None:
    """A week of hourly snapshots per agent, with a bad afternoon for deal-risk-batch."""
    now = datetime.now(timezone.utc)
    rows = []
    for a, agent in enumerate(agents):
        for hour in range(7 * 24, 0, -1):
            at = now - timedelta(hours=hour)
            wave = math.sin(hour / 9 + a)
            failures = 4 if agent == "deal-risk-batch" and 20 < hour < 30 else int(wave > 0.93)
            runs = 24 + int(4 * wave)
            rows.append((
                str(uuid.uuid4()), at.strftime("%Y-%m-%dT%H:%M:%S.000Z"), agent,
                "critical" if failures > 2 else "healthy", round(100 * failures / runs, 2),
                int(900 + 200 * wave), int(1_400 + 500 * wave), runs, failures,
                round(runs * 0.4, 2), failures // 2, json.dumps([]),
            ))
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO fleet_health_snapshots (id, snapshot_at, agent_name, status, failure_rate_24h,"
            " p50_duration_ms, p95_duration_ms, runs_24h, failures, credits_consumed_24h, dead_letters,"
            " reasons) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


async def main() -> None:
    folder = pathlib.Path(tempfile.mkdtemp())
    path = folder / "fleet.db"
    db = await keel.connect(f"sqlite://{path}")
    fleet = db.fleet()
    await fleet.remove_agent("morning-briefing")
    await fleet.remove_agent("eod-synthesis")
    await runs(db, "cc-enrich", [True] * 6)
    await runs(db, "deal-risk-batch", [True, False, True, False, False])
    await runs(db, "reengagement-check", [True, True, True, False])
    await runs(db, "pipeline-snapshot", [True])
    await db.runs().flush()
    history(path, ["cc-enrich", "deal-risk-batch", "pipeline-snapshot", "reengagement-check"])
    await fleet.check_fleet_health()
    page = folder / "fleet.html"
    page.write_text(await fleet.report_html())
    await db.close()
    chromium = shutil.which("chromium")
    assert chromium, "apt-get install chromium"
    out = ROOT / "docs" / "fleet-report.png"
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1300,1150",
         "--virtual-time-budget=5000", f"--screenshot={out}", page.as_uri()],
        check=True, capture_output=True,
    )
    print(f"wrote {out.relative_to(ROOT)}")


asyncio.run(main())
