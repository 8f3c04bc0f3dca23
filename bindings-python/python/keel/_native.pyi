# Stub of the native module keel._native. Checked against the built module by
# `python -m mypy.stubtest keel._native` in `make lint`.
from collections.abc import Awaitable
from types import TracebackType
from typing import Any, Literal, TypedDict, final

__version__: str
__all__ = [
    "AgentBudget",
    "BudgetStatus",
    "CreditMovement",
    "CreditReservation",
    "FLEET_AGENT_BUDGETS",
    "ModelResolution",
    "ModelRouter",
    "check_agent_budget",
    "drain_tasks",
    "AppliedMigration",
    "Logger",
    "Span",
    "create_logger",
    "parse_traceparent",
    "redact_secrets",
    "DatabaseUrl",
    "Keel",
    "__version__",
    "connect",
    "error_codes",
    "flush_logs",
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
    def create_logger(
        self,
        service: str,
        *,
        trace_id: str | None = None,
        user_id: str | None = None,
        org_id: str | None = None,
        agent_name: str | None = None,
        traceparent: str | None = None,
        min_level: str | None = None,
        debug_sample_rate: float | None = None,
    ) -> Logger: ...
    def model_router(
        self,
        *,
        staleness: float = 1.0,
        matrix_ttl: float = 60.0,
        default_tier: str = "medium",
        seed_defaults: bool = True,
        failure_threshold: int = 3,
        provider_failure_threshold: int = 10,
        window: float = 300.0,
        cooldown: float = 30.0,
        max_cooldown: float = 600.0,
        probe_timeout: float = 60.0,
    ) -> Awaitable[ModelRouter]: ...
    def install_log_sink(self) -> None: ...
    def cleanup_logs(self, *, dry_run: bool = False, batch_size: int = 10000) -> Awaitable[list[tuple[str, int]]]: ...

@final
class Logger:
    """A structured logger. No method raises."""

    @property
    def trace_id(self) -> str: ...
    @property
    def service(self) -> str: ...
    def traceparent(self) -> str: ...
    def debug(self, action: str, metadata: Any = None) -> None: ...
    def info(self, action: str, metadata: Any = None) -> None: ...
    def warn(self, action: str, metadata: Any = None) -> None: ...
    def error(self, action: str, error: Any = None, metadata: Any = None) -> None: ...
    def create_span(self, action: str, metadata: Any = None, parent_span_id: str | None = None) -> Span: ...
    def flush(self) -> Awaitable[tuple[int, int, int]]: ...
    def stats(self) -> tuple[int, int, int]: ...

@final
class Span:
    """A timed operation; as a context manager, an exception marks it failed."""

    @property
    def span_id(self) -> str: ...
    @property
    def parent_span_id(self) -> str | None: ...
    @property
    def stopped(self) -> bool: ...
    def traceparent(self) -> str: ...
    def stop(self, extra: Any = None) -> bool: ...
    def fail(self, error: Any, extra: Any = None) -> bool: ...
    def child(self, action: str, metadata: Any = None) -> Span: ...
    def __enter__(self) -> Span: ...
    def __exit__(
        self,
        _exc_type: type[BaseException] | None = None,
        exc: BaseException | None = None,
        _traceback: TracebackType | None = None,
    ) -> Literal[False]: ...

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
def create_logger(
    service: str,
    *,
    trace_id: str | None = None,
    user_id: str | None = None,
    org_id: str | None = None,
    agent_name: str | None = None,
    traceparent: str | None = None,
    min_level: str | None = None,
    debug_sample_rate: float | None = None,
) -> Logger: ...
def flush_logs(timeout: float = 5.0) -> int: ...
def parse_traceparent(header: str) -> tuple[str, str, bool] | None: ...
def redact_secrets(text: str) -> str: ...
def noop() -> None: ...
def roundtrip(probe: _Probe) -> _Probe: ...
def panic_sync(message: str) -> None: ...
def panic_async(message: str) -> Awaitable[None]: ...

FLEET_AGENT_BUDGETS: dict[str, float]

@final
class ModelResolution:
    """The model chosen for a request."""

    @property
    def provider(self) -> str: ...
    @property
    def model_id(self) -> str: ...
    @property
    def credit_cost(self) -> float: ...
    @property
    def max_tokens(self) -> int: ...
    @property
    def context_window(self) -> int: ...
    @property
    def was_fallback(self) -> bool: ...
    @property
    def tier(self) -> str: ...
    @property
    def trace_id(self) -> str: ...

@final
class BudgetStatus:
    """An org's balance and whether it may proceed."""

    @property
    def remaining(self) -> float: ...
    @property
    def can_proceed(self) -> bool: ...

@final
class CreditMovement:
    """A ledger movement."""

    @property
    def ledger_id(self) -> str: ...
    @property
    def balance_after(self) -> float: ...
    @property
    def duplicate(self) -> bool: ...

@final
class CreditReservation:
    """Credits held for a call."""

    @property
    def id(self) -> str: ...
    @property
    def amount(self) -> float: ...
    @property
    def balance_after(self) -> float: ...
    @property
    def duplicate(self) -> bool: ...

@final
class AgentBudget:
    """A fleet agent's per-run budget check."""

    @property
    def exceeded(self) -> bool: ...
    @property
    def limit(self) -> float: ...
    @property
    def used(self) -> float: ...

@final
class ModelRouter:
    """The model router; make it with ``await db.model_router()``."""

    def resolve_model(
        self,
        feature: str,
        tier: str | None = None,
        org_id: str | None = None,
        trace_id: str | None = None,
        *,
        user_id: str | None = None,
    ) -> ModelResolution: ...
    def record_success(self, model_id: str, provider: str | None = None) -> Awaitable[str]: ...
    def record_failure(
        self, model_id: str, provider: str | None = None, *, kind: str | None = None, status: int | None = None
    ) -> Awaitable[str]: ...
    def check_budget(self, org_id: str) -> Awaitable[BudgetStatus]: ...
    def deduct_credits(
        self,
        org_id: str,
        amount: float | None = None,
        *,
        resolution: ModelResolution | None = None,
        input_tokens: float | None = None,
        output_tokens: float | None = None,
        user_id: str | None = None,
        agent_name: str | None = None,
        idempotency_key: str | None = None,
        feature: str | None = None,
        trace_id: str | None = None,
    ) -> Awaitable[CreditMovement]: ...
    def reserve_credits(self, org_id: str, estimate: float, idempotency_key: str) -> Awaitable[CreditReservation]: ...
    def commit_credits(self, reservation_id: str, actual: float) -> Awaitable[CreditMovement]: ...
    def release_credits(self, reservation_id: str) -> Awaitable[CreditMovement]: ...
    def grant_credits(
        self, org_id: str, amount: float, kind: str = "purchase", idempotency_key: str | None = None
    ) -> Awaitable[CreditMovement]: ...
    def set_model(
        self,
        feature: str,
        tier: str,
        provider: str,
        model_id: str,
        *,
        fallback_order: int | None = None,
        org_id: str | None = None,
        context_window: int = 128000,
        max_tokens: int = 4096,
        credit_cost: float = 0.0,
        input_cost_per_mtok: float | None = None,
        output_cost_per_mtok: float | None = None,
    ) -> Awaitable[None]: ...
    def set_org_tier(self, org_id: str, feature: str, tier: str) -> Awaitable[None]: ...
    def reload(self) -> Awaitable[None]: ...
    def open_breakers(self) -> list[tuple[str, str, str]]: ...

def check_agent_budget(agent_name: str, used: float) -> AgentBudget: ...
def drain_tasks(timeout: float = 2.0) -> bool: ...
