# Stub of the native module keel._native. Checked against the built module by
# `python -m mypy.stubtest keel._native` in `make lint`.
from collections.abc import Awaitable
from typing import TypedDict, final

__version__: str
__all__ = [
    "AppliedMigration",
    "DatabaseUrl",
    "Keel",
    "__version__",
    "connect",
    "error_codes",
    "mask_url",
    "noop",
    "panic_async",
    "panic_sync",
    "parse_database_url",
    "roundtrip",
]

class _Probe(TypedDict):
    id: int
    name: str
    score: float
    tags: list[str]

@final
class Keel:
    """A connected Keel instance. Create it with ``await keel.connect(url)``."""

    @property
    def backend(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def closed(self) -> bool: ...
    def migrate(self) -> Awaitable[int]: ...
    def applied_migrations(self) -> Awaitable[list[AppliedMigration]]: ...
    def ping(self) -> Awaitable[None]: ...
    def close(self) -> Awaitable[None]: ...

@final
class DatabaseUrl:
    @property
    def backend(self) -> str: ...
    @property
    def masked(self) -> str: ...
    @property
    def in_memory(self) -> bool: ...
    @property
    def path(self) -> str | None: ...

@final
class AppliedMigration:
    @property
    def version(self) -> int: ...
    @property
    def description(self) -> str: ...

def connect(
    url: str, *, migrate: bool = True, max_connections: int = 10, connect_timeout: float = 10.0
) -> Awaitable[Keel]: ...
def error_codes() -> list[str]: ...
def parse_database_url(url: str) -> DatabaseUrl: ...
def mask_url(url: str) -> str: ...
def noop() -> None: ...
def roundtrip(probe: _Probe) -> _Probe: ...
def panic_sync(message: str) -> None: ...
def panic_async(message: str) -> Awaitable[None]: ...
