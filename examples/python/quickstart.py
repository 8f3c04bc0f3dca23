"""Quickstart: connect, look at the schema, handle a typed error.

The same scenario runs in examples/rust/quickstart.rs and examples/node/quickstart.mjs.

    python examples/python/quickstart.py
    KEEL_DATABASE_URL=postgres://… python examples/python/quickstart.py
"""

import asyncio
import os

import keel


async def main() -> None:
    url = os.environ.get("KEEL_DATABASE_URL", "sqlite::memory:")
    # --8<-- [start:quickstart]
    db = await keel.connect(url)
    migrations = await db.applied_migrations()
    print(f"connected to {db.url} ({db.backend}), {len(migrations)} migration(s) applied")

    try:
        await keel.connect("postgres://app:hunter2@127.0.0.1:9/keel")
    except keel.KeelError as err:
        print(f"{err.code}: {err}")  # "connection: cannot connect to postgres://app:***@…"
    await db.close()
    # --8<-- [end:quickstart]


if __name__ == "__main__":
    asyncio.run(main())
