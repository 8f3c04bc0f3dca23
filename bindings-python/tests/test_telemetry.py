"""Logger, spans and the sink from Python, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import pathlib
import sqlite3
import subprocess
import sys
from typing import Any

import pytest

import keel
from conftest import fresh_url


def read_rows(url: str, service: str) -> list[dict[str, Any]]:
    """system_logs rows of `service`, oldest first, read with the backend's own client."""
    columns = "action, level, trace_id, span_id, parent_span_id, user_id, org_id, error_message, metadata"
    sql = f"SELECT {columns} FROM system_logs WHERE service = '{service}' ORDER BY \"timestamp\", action"
    names = [c.strip() for c in columns.split(",")]
    if url.startswith("sqlite://"):
        with sqlite3.connect(url.removeprefix("sqlite://")) as conn:
            rows = [list(r) for r in conn.execute(sql)]
    else:
        select = sql.replace(columns, ", ".join(f"{c}::text" for c in names))
        out = subprocess.run(
            ["psql", url, "-qAt", "-F", "\x1f", "-c", f"SET search_path = keel; {select}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        rows = [[v if v != "" else None for v in line.split("\x1f")] for line in out.splitlines() if line]
    result = []
    for row in rows:
        record = dict(zip(names, row))
        record["metadata"] = json.loads(record["metadata"])
        result.append(record)
    return result


@pytest.fixture(params=["sqlite", "postgres"])
async def db_url(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> str:
    return await fresh_url(request.param, tmp_path)


async def test_spans_as_context_managers_build_a_tree(db_url: str) -> None:
    db = await keel.connect(db_url)
    log = db.create_logger("py-svc", user_id="system", agent_name="deal-risk-scan")
    with log.create_span("run", {"items": 3}) as run:
        log.info("model_router.tier_resolved", {"gen_ai.request.model": "claude-sonnet-4-6"})
        with pytest.raises(RuntimeError):
            with run.child("enrich") as enrich:
                raise RuntimeError("provider timeout")
    assert run.stopped and enrich.stopped
    assert run.stop() is False, "stop is idempotent"
    accepted, written, dropped = await log.flush()
    assert (accepted, written, dropped) == (3, 3, 0)
    await db.close()

    rows = {r["action"]: r for r in read_rows(db_url, "py-svc")}
    assert set(rows) == {"run", "enrich", "model_router.tier_resolved"}
    assert rows["enrich"]["parent_span_id"] == run.span_id == rows["run"]["span_id"]
    assert rows["enrich"]["metadata"]["status"] == "error"
    assert rows["enrich"]["error_message"] == "RuntimeError: provider timeout"
    assert rows["enrich"]["level"] == "error"
    assert rows["run"]["metadata"] == {"items": 3, "status": "ok", "_invalid": {"user_id": "system"}}
    assert rows["model_router.tier_resolved"]["parent_span_id"] == run.span_id
    assert all(r["trace_id"] == log.trace_id for r in rows.values())
    assert all(r["user_id"] is None for r in rows.values())


async def test_bad_input_is_coerced_never_raised(db_url: str) -> None:
    db = await keel.connect(db_url)
    log = db.create_logger("")  # empty service: stored as "unknown"
    cyclic: dict[str, Any] = {"name": "loop"}
    cyclic["self"] = cyclic

    class Opaque:
        def __repr__(self) -> str:
            return "<Opaque>"

    log.info("", {"bytes": b"\xff\xfeok", "obj": Opaque(), "cycle": cyclic, "set": {1}})
    log.warn("big", {"blob": "x" * 100_000, "more": ["y" * 10_000] * 20})
    log.error("err", {"message": "from a PostgrestError", "code": "42P01"}, "not a dict")
    log.error("secret", None, {"authorization": "Bearer abc.def.ghi", "note": "key sk-ant-api03-abcdefghijklmnop"})
    log.info(None, None)  # type: ignore[arg-type]
    log.debug("lone\udcffsurrogate")
    await log.flush()
    await db.close()

    rows = read_rows(db_url, "unknown")
    assert len(rows) == 6
    by = {r["action"]: r for r in rows}
    unnamed = [r for r in rows if r["action"] == "unnamed"]
    assert len(unnamed) == 2, "empty and None actions are both stored as 'unnamed'"
    first = next(r for r in unnamed if "bytes" in r["metadata"])
    assert first["metadata"]["bytes"] == "\ufffd\ufffdok"
    assert first["metadata"]["obj"] == "<Opaque>"
    assert "[depth limit]" in json.dumps(first["metadata"]["cycle"])
    assert first["metadata"]["_invalid"]["service"] == ""
    assert by["big"]["metadata"]["_truncated"] is True
    assert by["err"]["error_message"] == "from a PostgrestError"
    assert by["err"]["metadata"] == {"value": "not a dict", "_invalid": {"service": ""}}
    secret = by["secret"]["metadata"]
    assert secret["authorization"] == "[REDACTED]"
    assert secret["note"] == "key [REDACTED]"


async def test_module_logger_writes_json_lines_to_stdout_without_a_database(
    capfd: pytest.CaptureFixture[str],
) -> None:
    log = keel.create_logger("stdout-svc", org_id="0a0a0a0a-0000-4000-8000-00000000000a")
    log.info("hello", {"n": 1})
    await log.flush()
    lines = [json.loads(line) for line in capfd.readouterr().out.splitlines() if "stdout-svc" in line]
    assert lines and lines[-1]["action"] == "hello" and lines[-1]["metadata"] == {"n": 1}
    assert lines[-1]["org_id"] == "0a0a0a0a-0000-4000-8000-00000000000a"


async def test_traceparent_round_trip() -> None:
    log = keel.create_logger("tp", traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    assert log.trace_id == "4bf92f35-77b3-4da6-a3ce-929d0e0e4736"
    span = log.create_span("outgoing")
    assert span.parent_span_id == "00000000-0000-0000-00f0-67aa0ba902b7"
    header = span.traceparent()
    parsed = keel.parse_traceparent(header)
    assert parsed == (log.trace_id, span.span_id, True)
    assert keel.parse_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01") is None
    span.stop()


async def test_retention_cleanup_from_python(db_url: str) -> None:
    db = await keel.connect(db_url)
    assert await db.cleanup_logs(dry_run=True) == [("debug", 0), ("info", 0), ("warn", 0), ("error", 0)]
    with pytest.raises(keel.InvalidInputError):
        await db.cleanup_logs(batch_size=0)
    await db.close()


async def test_level_threshold_and_sampling_options() -> None:
    quiet = keel.create_logger("filtered", min_level="warn")
    before = quiet.stats()[0]
    quiet.info("skipped")
    quiet.debug("skipped")
    quiet.warn("kept")
    assert quiet.stats()[0] - before == 1
    no_debug = keel.create_logger("sampled", debug_sample_rate=0.0)
    before = no_debug.stats()[0]
    no_debug.debug("skipped")
    assert no_debug.stats()[0] == before
    with pytest.raises(keel.InvalidInputError) as info:
        keel.create_logger("bad", min_level="loud")
    assert info.value.field == "min_level"
    with pytest.raises(keel.InvalidInputError) as info:
        keel.create_logger("bad", debug_sample_rate=1.5)
    assert info.value.field == "debug_sample_rate"


@pytest.mark.parametrize("explicit_flush", [True, False], ids=["flush_logs", "atexit"])
def test_every_queued_event_is_written_before_exit(tmp_path: pathlib.Path, explicit_flush: bool) -> None:
    """`keel.flush_logs()` (sync, for shutdown code) drains every writer of the process; without
    it, the atexit flush the first logger registered does, so a script that never flushes loses
    nothing."""
    db = tmp_path / "exit.db"
    script = f"""
import asyncio, keel
async def main():
    handle = await keel.connect("sqlite://{db}")
    log = handle.create_logger("exit-svc")
    for i in range(2000):
        log.info("queued", {{"i": i}})
    return handle
handle = asyncio.run(main())
if {explicit_flush}:
    assert keel.flush_logs() >= 1
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    with sqlite3.connect(db) as conn:
        (count,) = conn.execute("SELECT count(*) FROM system_logs WHERE service = 'exit-svc'").fetchone()
    assert count == 2000
