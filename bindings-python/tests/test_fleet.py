"""Fleet health from Python on both backends: the seeded registry, an agent registered and
judged from its real runs, alerts delivered once to a Python callback (a callback that raises
leaves them to retry), the original response shape, the HTML report escaping a name with
markup and drawing its charts offline in Debian's Chromium, and bad input typed."""

from __future__ import annotations

import pathlib
import shutil
import subprocess
from typing import Any

import pytest

import keel
from keel.types import FleetAlert


class Boom(Exception):
    status_code = 503


async def failing_run(db: keel.Keel, agent: str) -> None:
    async def executor(ctx: keel.AgentContext) -> Any:
        raise Boom("the CRM said no")

    result = await db.run_agent({"agent_name": agent, "max_retries": 0}, executor)
    assert result["status"] == "failed"
    await db.runs().flush()


async def test_a_health_run_alerts_a_callback_once(db: keel.Keel) -> None:
    received: list[FleetAlert] = []

    async def on_alert(alert: FleetAlert) -> None:
        received.append(alert)

    fleet = db.fleet(on_alert=on_alert)
    agents = await fleet.agents()
    assert [a["agent_name"] for a in agents][:2] == ["cc-enrich", "deal-risk-batch"]
    weekly = next(a for a in agents if a["agent_name"] == "pipeline-snapshot")
    assert weekly["cadence_ms"] == 7 * 86_400_000 and weekly["schedule"] == "0 5 * * 1"

    added = await fleet.set_agent("py-agent", cadence_ms=60_000, models=["anthropic/claude-haiku-4-5"])
    assert added["stuck_after_ms"] == 600_000
    await failing_run(db, "py-agent")

    health = await fleet.check_fleet_health()
    assert set(health) >= {"ok", "checked_at", "summary", "agents", "total_alerts_fired"}
    mine = next(a for a in health["agents"] if a["name"] == "py-agent")
    assert mine["status"] == "critical" and mine["failure_rate_24h"] == 100.0
    assert mine["reasons"][0].startswith("failure rate 100%"), mine["reasons"]
    assert mine["dead_letters"] == 1 and mine["alerts_fired"] == 1
    # The six seeded agents never ran here: stale, each told once.
    assert health["summary"] == {"healthy": 0, "warning": 0, "critical": 1, "stale": 6}
    assert health["total_alerts_fired"] == 7 and health["delivery"]["delivered"] == 7
    assert len(received) == 7 and health["ok"]
    alert = next(a for a in received if a["agent_name"] == "py-agent")
    assert alert["kind"] == "raised" and alert["message"]["blocks"][0]["type"] == "header"

    again = await fleet.check_fleet_health()
    assert again["total_alerts_fired"] == 0 and len(received) == 7

    status = await fleet.status()
    assert status["summary"] == health["summary"]
    report = await fleet.report()
    assert len(report["series"]["py-agent"]) == 2
    stored = await fleet.alerts(agent_name="py-agent")
    assert [a["delivery"] for a in stored] == ["delivered"]


async def test_a_raising_callback_leaves_the_alert_to_retry(db: keel.Keel) -> None:
    async def on_alert(alert: FleetAlert) -> None:
        raise RuntimeError("pager down")

    fleet = db.fleet(on_alert=on_alert)
    await fleet.remove_agent("cc-enrich")
    health = await fleet.check_fleet_health()
    assert not health["ok"] and health["delivery"]["retrying"] == 5
    assert "pager down" in health["delivery"]["errors"][0]
    pending = await fleet.alerts(limit=10)
    assert {a["delivery"] for a in pending} == {"pending"} and pending[0]["attempts"] == 1


REPO = pathlib.Path(__file__).resolve().parents[2]


def chromium(*args: str) -> subprocess.CompletedProcess[bytes]:
    """Debian's Chromium, headless, offline (no proxy: the page needs nothing from outside)."""
    binary = shutil.which("chromium")
    assert binary, "Debian's Chromium is needed: `apt-get install chromium` (make test does it)"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1400,1000"]
    offline = ["--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>"]
    return subprocess.run(
        [binary, *flags, *offline, "--virtual-time-budget=5000", *args], check=True, capture_output=True, timeout=180
    )


async def test_the_report_page_escapes_markup_and_draws_offline(db: keel.Keel, tmp_path: pathlib.Path) -> None:
    fleet = db.fleet()
    await fleet.set_agent("<b>bold</b>", cadence_ms=60_000)
    await failing_run(db, "cc-enrich")
    for _ in range(2):
        await fleet.check_fleet_health()
    page = await fleet.report_html()
    assert page.startswith("<!doctype html>") and "uPlot" in page
    assert "<b>bold</b>" not in page and "&lt;b&gt;bold&lt;/b&gt;" in page
    path = tmp_path / "fleet.html"
    path.write_text(page)
    dom = chromium("--dump-dom", path.as_uri()).stdout.decode()
    # uPlot ran (it builds a `u-wrap` per chart: four per agent with snapshots) and the name
    # stayed text: no <b> element was made of it.
    assert dom.count('class="u-wrap"') == 4 * 7, dom[:2000]
    assert "<b>bold</b>" not in dom and "&lt;b&gt;bold&lt;/b&gt;" in dom
    out = REPO / "target" / "screenshots" / "fleet-report.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    chromium(f"--screenshot={out}", path.as_uri())
    picture = out.read_bytes()
    assert picture.startswith(b"\x89PNG\r\n\x1a\n") and len(picture) > 20_000, len(picture)


async def test_bad_input_names_the_field(db: keel.Keel) -> None:
    with pytest.raises(keel.InvalidInputError) as bad_url:
        db.fleet(webhook_url="http://hooks.example.com/x")
    assert bad_url.value.field == "webhook_url"
    fleet = db.fleet()
    with pytest.raises(keel.InvalidInputError) as zero:
        await fleet.set_agent("x", cadence_ms=0)
    assert zero.value.field == "cadence_ms"
    with pytest.raises(keel.InvalidInputError) as unknown:
        await fleet.remove_agent("nobody")
    assert unknown.value.field == "agent_name"
    with pytest.raises(keel.InvalidInputError) as cron:
        await fleet.set_agent("y", schedule="every day")
    assert cron.value.field == "schedule"
