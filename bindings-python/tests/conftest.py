"""Fixtures: storage tests run on SQLite and on the throwaway PostgreSQL of `make test`."""

from __future__ import annotations

import json
import os
import pathlib
import sqlite3
import subprocess
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

import keel

TESTDATA = pathlib.Path(__file__).resolve().parents[2] / "testdata"


#: The vector files some test loaded (at collection, through `load_vectors`).
LOADED: set[str] = set()


def load_vectors(name: str) -> list[dict[str, Any]]:
    """The shared cases in testdata/<name>."""
    LOADED.add(name)
    return json.loads((TESTDATA / name).read_text())


def pg_admin_url() -> str:
    url = os.environ.get("KEEL_TEST_PG_URL")
    if not url:
        pytest.fail("KEEL_TEST_PG_URL is not set: run through `make test` or scripts/with-postgres.sh")
    return url


async def fresh_url(backend: str, tmp_path: pathlib.Path) -> str:
    """An empty database on `backend`."""
    if backend == "sqlite":
        return f"sqlite://{tmp_path / 'keel.db'}"
    admin = pg_admin_url()
    name = f"keel_py_{uuid.uuid4().hex[:16]}"
    # Create the database through a Keel handle on the admin URL without migrating it.
    import subprocess

    subprocess.run(["psql", admin, "-qc", f"CREATE DATABASE {name}"], check=True)
    return admin.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["sqlite", "postgres"])
async def db(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> AsyncIterator[keel.Keel]:
    handle = await keel.connect(await fresh_url(request.param, tmp_path))
    yield handle
    await handle.close()


def ledger_sum(url: str, org: str) -> float:
    """The sum of an org's ledger rows, read straight from the database (not through Keel)."""
    if url.startswith("sqlite://"):
        with sqlite3.connect(url.removeprefix("sqlite://")) as conn:
            row = conn.execute("SELECT coalesce(sum(amount), 0) FROM credit_ledger WHERE org_id = ?", (org,))
            return float(row.fetchone()[0])
    uuid.UUID(org)  # an id, never SQL
    sql = f"SELECT coalesce(sum(amount), 0) FROM keel.credit_ledger WHERE org_id = '{org}'"
    out = subprocess.run(["psql", url, "-tAc", sql], check=True, capture_output=True, text=True)
    return float(out.stdout.strip())
