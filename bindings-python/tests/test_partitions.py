"""Time partitions from Python: maintenance moves stray runs into partitions of their own and
drops the expired week on PostgreSQL, the listing's shape, and SQLite's plain tables."""

import pathlib
import subprocess

import pytest

import keel

from conftest import fresh_url

TABLES = {"system_logs_debug", "system_logs_info", "system_logs_warn", "system_logs_error", "agent_executions"}


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_maintenance_partitions_strays_and_drops_the_expired(backend: str, tmp_path: pathlib.Path) -> None:
    url = await fresh_url(backend, tmp_path)
    db = await keel.connect(url)
    try:
        if backend == "sqlite":
            assert await db.maintain_partitions() == []
            assert await db.partitions() == []
            return
        # Two runs without a partition (a new database has this week and four ahead): one
        # 10 days old, one 120 days old, past the 90 days runs are kept.
        sql = (
            "INSERT INTO keel.agent_executions (agent_name, execution_type, started_at, status) VALUES"
            " ('py', 'manual', now() - interval '10 days', 'completed'),"
            " ('py', 'manual', now() - interval '120 days', 'completed')"
        )
        subprocess.run(["psql", url, "-qc", sql], check=True)
        changes = await db.maintain_partitions()
        runs = [c for c in changes if c["table"] == "agent_executions"]
        assert sum(c["rows"] for c in runs if c["action"] == "created") == 2, runs
        assert [c["rows"] for c in runs if c["action"] == "dropped"] == [1], runs
        listed = await db.partitions()
        assert {p["table"] for p in listed} == TABLES
        assert all(set(p) == {"table", "partition", "bounds", "estimated_rows", "bytes"} for p in listed)
        defaults = [p for p in listed if p["bounds"] == "DEFAULT"]
        assert len(defaults) == len(TABLES)
        left = subprocess.run(
            ["psql", url, "-tAc", "SELECT count(*) FROM keel.agent_executions"], check=True, capture_output=True, text=True
        )
        assert left.stdout.strip() == "1"
    finally:
        await db.close()
