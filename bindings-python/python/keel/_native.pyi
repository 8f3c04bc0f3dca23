# Stub of the native module keel._native. Checked against the built module by
# `python -m mypy.stubtest keel._native` in `make lint`.
import builtins
import os
from collections.abc import Awaitable, Callable
from types import TracebackType
import types
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
    "_probe",
    "DatabaseUrl",
    "Keel",
    "__version__",
    "connect",
    "error_codes",
    "flush_logs",
    "mask_url",
    "parse_database_url",
    "ResolvedSkill",
    "ResolvedSkills",
    "SkillRegistry",
    "channel_namespaces",
    "compile_skill",
    "parse_skill",
    "validate_skills",
]

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
        staleness: float = ...,
        matrix_ttl: float = ...,
        default_tier: str = ...,
        seed_defaults: bool = ...,
        max_call_credits: float = ...,
        failure_threshold: int = ...,
        provider_failure_threshold: int = ...,
        window: float = ...,
        cooldown: float = ...,
        max_cooldown: float = ...,
        probe_timeout: float = ...,
    ) -> Awaitable[ModelRouter]: ...
    def skill_registry(self, *, staleness: float = ..., max_cached_orgs: int = ...) -> Awaitable[SkillRegistry]: ...
    def install_log_sink(self) -> None: ...
    def cleanup_logs(self, *, dry_run: bool = ..., batch_size: int = ...) -> Awaitable[list[tuple[str, int]]]: ...

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
    url: str | None = None,
    *,
    migrate: bool | None = ...,
    create: bool | None = ...,
    max_connections: int | None = ...,
    connect_timeout: float | None = ...,
) -> Awaitable[Keel]: ...
def error_codes() -> list[str]: ...

#: FFI floor probes (noop, roundtrip, panic_sync, panic_async) for `make bench` and the panic
#: tests. Private: not part of the API.
_probe: types.ModuleType
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
        self, model_id: str, provider: str | None = None, *, kind: str | None = None, status: float | None = None
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
        self, org_id: str, amount: float, kind: str | None = None, idempotency_key: str | None = None
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
        context_window: int = ...,
        max_tokens: int = ...,
        credit_cost: float = ...,
        input_cost_per_mtok: float | None = None,
        output_cost_per_mtok: float | None = None,
    ) -> Awaitable[None]: ...
    def set_org_tier(self, org_id: str, feature: str, tier: str) -> Awaitable[None]: ...
    def reload(self) -> Awaitable[None]: ...
    def open_breakers(self) -> list[tuple[str, str, str]]: ...

def check_agent_budget(agent_name: str, used: float) -> AgentBudget: ...
def drain_tasks(timeout: float = 2.0) -> bool: ...

class _Diagnostic(TypedDict):
    code: str
    severity: Literal["error", "warning"]
    file: str
    line: int
    column: int
    field: str | None
    message: str

class _ParsedSkill(TypedDict):
    skill: dict[str, Any] | None
    diagnostics: list[_Diagnostic]

class _CompiledSkill(TypedDict):
    content: str
    context_hash: str

def parse_skill(text: str, folder: str | None = None, file: str = "SKILL.md") -> _ParsedSkill: ...
def validate_skills(path: str | os.PathLike[str]) -> dict[str, Any]: ...
def compile_skill(
    text: str, context: dict[str, Any], documents: dict[str, dict[str, str]] | None = None
) -> _CompiledSkill: ...
def channel_namespaces(channel: str) -> list[str]: ...
@final
class ResolvedSkill:
    """One skill as an org sees it, compiled."""

    @property
    def key(self) -> str: ...
    @property
    def namespace(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def version(self) -> int | None: ...
    @property
    def content_hash(self) -> str: ...
    @property
    def content(self) -> str: ...
    @property
    def context_hash(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def frontmatter(self) -> dict[str, Any]: ...
    @property
    def needs_request(self) -> bool: ...
    def render(self, request: dict[str, Any] | None = None) -> str: ...
    def to_dict(self) -> dict[str, Any]: ...

@final
class ResolvedSkills:
    """What ``resolve_skills(org_id, channel)`` returns: the skills the channel sees and what
    was shadowed."""

    @property
    def org_id(self) -> str: ...
    @property
    def channel(self) -> str: ...
    @property
    def skills(self) -> list[ResolvedSkill]: ...
    @property
    def shadowed(self) -> list[dict[str, Any]]: ...
    def keys(self) -> list[str]: ...
    def get(self, key: str) -> ResolvedSkill | None: ...
    def to_dict(self) -> dict[str, Any]: ...
    def __len__(self) -> int: ...
    def __contains__(self, key: str, /) -> bool: ...

@final
class SkillRegistry:
    """The skills registry; make it with ``await db.skill_registry()``."""

    def sync(
        self,
        path: str | os.PathLike[str],
        *,
        dry_run: bool = False,
        prune: bool = False,
        force: bool = False,
        progress: Callable[[int, int, str], object] | None = None,
    ) -> Awaitable[dict[str, Any]]: ...
    def list(self) -> Awaitable[builtins.list[dict[str, Any]]]: ...
    def history(self, key: str) -> Awaitable[builtins.list[dict[str, Any]]]: ...
    def deprecate(self, key: str, reason: str | None = None) -> Awaitable[int]: ...
    def restore(self, key: str) -> Awaitable[int]: ...
    def set_enabled(self, org_id: str, key: str, enabled: bool) -> Awaitable[None]: ...
    def pin(self, org_id: str, key: str, version: int | None) -> Awaitable[None]: ...
    def move_to(self, org_id: str, key: str, namespace: str | None) -> Awaitable[None]: ...
    def replace(self, org_id: str, key: str, skill_md: str | None) -> Awaitable[None]: ...
    def set_org_context(self, org_id: str, context: dict[str, Any]) -> Awaitable[None]: ...
    def org_context(self, org_id: str) -> Awaitable[dict[str, Any]]: ...
    def resolve_skills(self, org_id: str, channel: str) -> Awaitable[ResolvedSkills]: ...
    def cached(self, org_id: str, channel: str) -> ResolvedSkills | None: ...
    def invalidate(self) -> None: ...
