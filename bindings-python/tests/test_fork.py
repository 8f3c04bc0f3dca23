"""The runtime under fork(), as gunicorn and Celery use it."""

from __future__ import annotations

import asyncio
import os
import pathlib
import sys

import pytest

import keel


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX-only")
def test_forked_child_gets_a_working_runtime_and_a_clear_error_for_parent_handles(
    tmp_path: pathlib.Path,
) -> None:
    url = f"sqlite://{tmp_path / 'fork.db'}"

    async def parent_connect() -> keel.Keel:
        handle = await keel.connect(url)
        await handle.ping()  # the runtime and pool are live before the fork
        return handle

    parent_handle = asyncio.run(parent_connect())
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read_fd)
        status = b"ok"
        try:

            async def child() -> bytes:
                try:
                    await parent_handle.ping()
                    return b"parent handle worked in child"
                except keel.ForkedError as err:
                    if err.code != "forked" or "connect() again" not in str(err):
                        return b"wrong error: " + str(err).encode()
                own = await keel.connect(url)
                await own.ping()
                await own.close()
                return b"ok"

            status = asyncio.run(asyncio.wait_for(child(), 20))
        except BaseException as err:  # report anything to the parent
            status = repr(err).encode()
        os.write(write_fd, status)
        os._exit(0)
    os.close(write_fd)
    _, exit_status = os.waitpid(pid, 0)
    with os.fdopen(read_fd, "rb") as pipe:
        report = pipe.read().decode()
    assert os.waitstatus_to_exitcode(exit_status) == 0
    assert report == "ok", report

    # The parent's handle and runtime still work after the child is gone.
    async def parent_after() -> None:
        await parent_handle.ping()
        await parent_handle.close()

    asyncio.run(parent_after())
    sys.stdout.flush()
