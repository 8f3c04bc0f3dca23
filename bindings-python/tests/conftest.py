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


REPO = pathlib.Path(__file__).resolve().parents[2]


class Loopback:
    """The model provider on loopback (`keel loopback`), scripted over HTTP."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        import urllib.request

        request = urllib.request.Request(
            self.base_url + path, data=json.dumps(body).encode(), headers={"content-type": "application/json"}
        )
        with urllib.request.urlopen(request) as response:
            return json.loads(response.read())

    def script(self, model: str, *replies: Any) -> None:
        """Queues replies for `model` (see cli/src/loopback.rs for their shapes)."""
        self._post("/_loopback/script", {"model": model, "replies": list(replies)})

    def received(self) -> list[dict[str, Any]]:
        """Every request the provider received."""
        result: list[dict[str, Any]] = self._post("/_loopback/received", {})
        return result

    def reset(self) -> None:
        self._post("/_loopback/reset", {})

    def providers(self) -> dict[str, dict[str, str]]:
        """`providers` for `router.llm` with every wire on this provider."""
        return {
            "anthropic": {"api_key": "key-anthropic", "base_url": self.base_url},
            "google": {"api_key": "key-google", "base_url": self.base_url},
            "openai": {"api_key": "key-openai", "base_url": self.base_url + "/v1"},
        }


@pytest.fixture(scope="session")
def loopback_process() -> Any:
    """`keel loopback`, built with the CLI when needed, for the whole session."""
    import re

    subprocess.run(["cargo", "build", "-q", "-p", "keel-cli"], cwd=REPO, check=True)
    proc = subprocess.Popen([str(REPO / "target/debug/keel"), "loopback"], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"http://\S+", line)
    assert match, f"keel loopback printed {line!r}"
    yield Loopback(match.group(0))
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def loopback(loopback_process: Loopback) -> Loopback:
    """The loopback provider with no scripts and no requests left from other tests."""
    loopback_process.reset()
    return loopback_process


class Phoenix:
    """Arize Phoenix on loopback: an OTLP receiver whose REST API lists the spans it holds."""

    def __init__(self, url: str) -> None:
        self.url = url

    def spans(self, trace_id: str, count: int) -> list[dict[str, Any]]:
        """The spans of `trace_id`, once Phoenix holds `count` of them (30 s at most)."""
        import time
        import urllib.request

        deadline = time.monotonic() + 30
        while True:
            url = f"{self.url}/v1/projects/default/spans?trace_id={trace_id}"
            with urllib.request.urlopen(url) as reply:
                spans: list[dict[str, Any]] = json.loads(reply.read())["data"]
            if len(spans) >= count:
                return spans
            assert time.monotonic() < deadline, f"Phoenix holds {len(spans)} spans of {trace_id}: {spans}"
            time.sleep(0.2)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Phoenix from `make phoenix` (or `KEEL_PHOENIX`), for the whole session."""
    import time
    import urllib.request

    binary = pathlib.Path(os.environ.get("KEEL_PHOENIX") or REPO / ".venv-phoenix/bin/phoenix")
    if not binary.exists():
        pytest.fail(f"no Phoenix at {binary}: run `make phoenix` (or set KEEL_PHOENIX)")
    port = free_port()
    env = {
        **os.environ,
        "PHOENIX_WORKING_DIR": str(tmp_path_factory.mktemp("phoenix")),
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_PORT": str(port),
        "PHOENIX_GRPC_PORT": str(free_port()),
        "PHOENIX_TELEMETRY_ENABLED": "false",
    }
    proc = subprocess.Popen([str(binary), "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{url}/healthz") as reply:
                if reply.status == 200:
                    break
        except OSError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, "Phoenix did not start"
        time.sleep(0.25)
    yield Phoenix(url)
    proc.terminate()
    proc.wait(timeout=10)
