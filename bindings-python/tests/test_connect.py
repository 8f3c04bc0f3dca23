"""Connecting, migrating and closing, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import pathlib

import pytest

import keel
from conftest import fresh_url


async def test_migrations_applied_on_connect(db: keel.Keel) -> None:
    applied = await db.applied_migrations()
    assert [m.version for m in applied][:1] == [1]
    assert applied[0].description == "foundation"
    assert await db.migrate() == 0
    await db.ping()
    assert db.backend in ("sqlite", "postgres")


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_connect_without_migrations(backend: str, tmp_path: pathlib.Path) -> None:
    handle = await keel.connect(await fresh_url(backend, tmp_path), migrate=False)
    assert await handle.applied_migrations() == []
    assert await handle.migrate() >= 1
    await handle.close()


async def test_close_is_idempotent_and_shared(db: keel.Keel) -> None:
    await db.close()
    await db.close()
    assert db.closed
    with pytest.raises(keel.ClosedError) as info:
        await db.ping()
    assert info.value.code == "closed"


async def test_concurrent_calls_share_one_handle(db: keel.Keel) -> None:
    await asyncio.gather(*(db.ping() for _ in range(50)))


async def test_password_masked_in_url_and_errors(tmp_path: pathlib.Path) -> None:
    with pytest.raises(keel.DatabaseConnectionError) as info:
        await keel.connect("postgres://keel:hunter2@127.0.0.1:9/keel", connect_timeout=2)
    assert "hunter2" not in str(info.value)
    assert "postgres://keel:***@127.0.0.1:9/keel" in str(info.value)
    assert isinstance(info.value, ConnectionError)
    assert info.value.__cause__ is not None


async def test_sqlite_file_and_folder_are_created(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "nested" / "folder" / "keel.db"
    handle = await keel.connect(f"sqlite://{path}")
    assert path.exists()
    assert handle.url == f"sqlite://{path}"
    await handle.close()


async def test_connect_without_url_is_in_memory() -> None:
    handle = await keel.connect()
    assert (handle.url, handle.backend) == ("sqlite::memory:", "sqlite")
    assert await handle.applied_migrations()
    await handle.close()


async def test_create_false_leaves_a_missing_file_missing(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "typo" / "keel.db"
    with pytest.raises(keel.DatabaseConnectionError) as info:
        await keel.connect(f"sqlite://{path}", create=False)
    assert info.value.code == "connection"
    assert not path.parent.exists()


@pytest.mark.parametrize("url", ["sqlite:memory", "sqlite::memory", "sqlite://memory"])
async def test_misspelt_memory_url_is_invalid(url: str) -> None:
    with pytest.raises(keel.InvalidUrlError):
        await keel.connect(url)


def test_native_calls_are_coroutines_that_start_when_awaited(tmp_path: pathlib.Path) -> None:
    """Made outside any event loop, run by asyncio.run: as an `async def` would be."""
    path = tmp_path / "lazy.db"
    call = keel._native.connect(f"sqlite://{path}")
    assert asyncio.iscoroutine(call)
    assert not path.exists(), "nothing may start before the call is awaited"
    db = asyncio.run(call)
    assert path.exists()
    migrations = asyncio.run(db.applied_migrations())
    assert [m.version for m in migrations][0] == 1
    with pytest.raises(RuntimeError, match="already awaited"):
        asyncio.run(call)
    asyncio.run(db.close())


async def test_a_call_never_awaited_does_nothing(tmp_path: pathlib.Path) -> None:
    db = await keel.connect(f"sqlite://{tmp_path / 'k.db'}")
    router = await db.model_router()
    org = "6f1d2c3b-0a9e-4c1b-8d7e-112233445566"
    call = router.grant_credits(org, 5)
    del call
    assert (await router.check_budget(org)).remaining == 0
    await db.close()


async def test_a_cancelled_call_raises_cancelled_error() -> None:
    db = await keel.connect()
    task = asyncio.ensure_future(db.ping())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not db.closed
    await db.close()


async def test_handles_are_async_context_managers() -> None:
    async with await keel.connect() as db:
        assert not db.closed
        async with db.create_logger("ctx-test") as log:
            log.info("inside", {})
        assert log.stats()[1] >= 1, "leaving the block flushed the logger"
    assert db.closed
    with pytest.raises(ValueError):
        async with await keel.connect() as db:
            raise ValueError("propagates")
    assert db.closed


def test_wait_is_the_sync_facade(tmp_path: pathlib.Path) -> None:
    """No event loop: each call runs to its end on this thread."""
    db = keel.connect(f"sqlite://{tmp_path / 'sync.db'}").wait()
    router = db.model_router().wait()
    org = "6f1d2c3b-0a9e-4c1b-8d7e-112233445566"
    moved = router.grant_credits(org, 7).wait()
    assert moved.balance_after == 7
    assert router.check_budget(org).wait().remaining == 7
    with pytest.raises(keel.InvalidInputError):
        router.grant_credits(org, -1).wait()
    call = db.ping()
    call.wait()
    with pytest.raises(RuntimeError, match="already awaited"):
        call.wait()
    db.close().wait()
    assert db.closed
