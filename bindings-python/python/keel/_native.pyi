# Stub of the native module keel._native. Checked against the built module by
# `python -m mypy.stubtest keel._native` in `make lint`.
import builtins
import os
from collections.abc import Awaitable, Callable, Coroutine, Generator
from types import TracebackType
import types
from typing import Any, Literal, TypeVar, final

from typing_extensions import Unpack

from keel.types import (
    AgentSpec,
    DeliveryReport,
    FleetAgent,
    PartitionChange,
    PartitionInfo,
    FleetAlert,
    FleetHealth,
    FleetNotice,
    FleetOptions,
    ConsoleOptions,
    ConsoleRead,
    ConsoleAction,
    FleetReport,
    FleetStatus,
    SlackWebhookPayload,
    AgentMetrics,
    AgentStatus,
    AlertDecision,
    AlertState,
    ContextQuery,
    ExtractThreadOptions,
    Forgotten,
    SlackThread,
    SlackThreadAppend,
    SlackThreadHistoryItem,
    SlackThreadIngest,
    SlackThreadKey,
    SlackThreadMessage,
    SlackThreadOptions,
    ThreadExtraction,
    ThreadSweep,
    ThreadReading,
    ThreadTranscript,
    TranscriptMessage,
    SlackIngested,
    SlackOptions,
    SlackPosted,
    SlackRepliesPage,
    SlackUser,
    Acquisition,
    LshOptions,
    MinHashOptions,
    Similar,
    Checked,
    DedupGroup,
    DedupKeyItem,
    DedupOptions,
    DedupSweep,
    MergeReport,
    Merged,
    Scored,
    Claimed,
    Decided,
    Batch,
    ClaimOptions,
    Decision,
    Lease,
    Limit,
    NewItem,
    QueueHealth,
    QueueItem,
    QueueOptions,
    QueueWorkerOptions,
    QueueWorkerReport,
    SweepReport,
    Backend,
    CallRequest,
    Channel,
    Classification,
    ClassifyRequest,
    CompiledSkill,
    Appended,
    CompactOptions,
    Compacted,
    CompactionPlan,
    Encoding,
    TokenCount,
    CompactionThreshold,
    ContextEntry,
    ContextEntryInput,
    ContextOptions,
    ContextWindow,
    PriorContext,
    PlanOptions,
    Completion,
    Conversation,
    ConversationChannel,
    EmbedRequest,
    Embeddings,
    ExportReport,
    ExportStats,
    FailureKind,
    ImportReport,
    Level,
    MessageRouterOptions,
    RouteDecision as RouteDecisionDict,
    RouteEvaluation,
    RouterStats,
    Message,
    StoredMessage,
    ThresholdOptions,
    RoutingLogRow,
    Namespace,
    OtlpConfig,
    OtlpOptions,
    ParsedSkill,
    Shadowed,
    SkillSummary,
    Source,
    StreamEvent,
    Summary,
    SummaryRequest,
    SyncReport,
    Tier,
    Transition,
    TransportRequest,
    HostClassifyTask,
    HostEmbedTask,
    HostSummaryTask,
    ValidatedLibrary,
    VersionInfo,
    AddFactsOptions,
    ExtractOptions,
    Extracted,
    ExtractionReading,
    Fact,
    FactQuery,
    NewFact,
    Recall,
    RecallQuery,
    RecalledFact,
    Classified,
    DeadLetter,
    AgentConfig,
    AgentResult,
    Execution,
    RunQuery,
    SweepOptions,
    ResolvedConfig,
    Delays,
    ErrorKind,
    FailureInfo,
    LetterQuery,
    NewDeadLetter,
    Replay,
    RetryDelaysInput,
    WorkerOptions,
    WorkReport,
)

_T_co = TypeVar("_T_co", covariant=True)

@final
class Call(Coroutine[Any, Any, _T_co]):
    """What every native async method returns: a coroutine that starts when awaited."""

    def wait(self) -> _T_co: ...
    def __await__(self) -> Generator[Any, None, _T_co]: ...
    def __next__(self) -> Any: ...
    def send(self, value: Any) -> Any: ...
    def throw(self, error: Any, value: Any = None, traceback: Any = None) -> Any: ...
    def close(self) -> None: ...

__version__: str
__all__ = [
    "Call",
    "AgentBudget",
    "BudgetStatus",
    "CreditMovement",
    "CreditReservation",
    "FLEET_AGENT_BUDGETS",
    "CONSOLE_READS",
    "CONSOLE_ACTIONS",
    "Console",
    "ModelResolution",
    "ModelRouter",
    "check_agent_budget",
    "plan_compaction",
    "count_tokens",
    "count_message_tokens",
    "Slack",
    "SlackThreads",
    "Fleet",
    "fleet_alert_message",
    "agent_status",
    "next_alert",
    "read_thread_context",
    "thread_transcript",
    "slack_ingest",
    "Dedup",
    "dedup_key",
    "merge_reports",
    "minhash",
    "MinHash",
    "MinHasher",
    "MinHashLsh",
    "format_prior_context",
    "rank_facts",
    "read_fact_extraction",
    "Llm",
    "CallStream",
    "DrivenCall",
    "ConversationStore",
    "DeadLetters",
    "Queue",
    "_WorkerSession",
    "LocalLimiter",
    "SharedLimiter",
    "rate_limit_decide",
    "AgentContext",
    "Runs",
    "_AgentRun",
    "agent_config",
    "classify_failure",
    "retry_delays",
    "drain_tasks",
    "AppliedMigration",
    "Logger",
    "Span",
    "create_logger",
    "parse_traceparent",
    "redact_secrets",
    "otlp_config",
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
    "MessageRouter",
    "RouteDecision",
    "channel_namespaces",
    "compile_skill",
    "parse_skill",
    "validate_skills",
    "import_skills",
    "export_skills",
]

@final
class Keel:
    """A connected Keel instance. Create it with ``await keel.connect(url)``."""

    @property
    def backend(self) -> Backend: ...
    @property
    def url(self) -> str: ...
    @property
    def closed(self) -> bool: ...
    def migrate(self) -> Call[int]: ...
    def applied_migrations(self) -> Call[list[AppliedMigration]]: ...
    def ping(self) -> Call[None]: ...
    def close(self) -> Call[None]: ...
    async def __aenter__(self) -> Keel: ...
    async def __aexit__(
        self,
        *_exc: object,
    ) -> None: ...
    def create_logger(
        self,
        service: str,
        *,
        trace_id: str | None = None,
        user_id: str | None = None,
        org_id: str | None = None,
        agent_name: str | None = None,
        traceparent: str | None = None,
        min_level: Level | None = None,
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
    ) -> Call[ModelRouter]: ...
    def skill_registry(self, *, staleness: float = ..., max_cached_orgs: int = ...) -> Call[SkillRegistry]: ...
    def conversations(self) -> ConversationStore: ...
    def dead_letters(self) -> DeadLetters: ...
    def queue(self, **options: Unpack[QueueOptions]) -> Queue: ...
    def dedup(self, **options: Unpack[DedupOptions]) -> Dedup: ...
    def slack(self, **options: Unpack[SlackOptions]) -> Slack: ...
    def slack_threads(self, **options: Unpack[SlackThreadOptions]) -> SlackThreads: ...
    def fleet(
        self,
        on_alert: Callable[[FleetAlert], Awaitable[Any]] | None = None,
        **options: Unpack[FleetOptions],
    ) -> Fleet: ...
    def console(self, **options: Unpack[ConsoleOptions]) -> Call[Console]: ...
    def shared_limiter(self) -> SharedLimiter: ...
    def runs(self) -> Runs: ...
    def run_agent(
        self,
        config: AgentConfig,
        executor: Callable[[AgentContext], Awaitable[Any]],
        llm: Llm | None = None,
    ) -> Coroutine[Any, Any, AgentResult]: ...
    def _start_run(
        self, config: AgentConfig, executor: Callable[[AgentContext], Awaitable[Any]], llm: Llm | None = None
    ) -> _AgentRun: ...
    def install_log_sink(self) -> None: ...
    def cleanup_logs(self, *, dry_run: bool = ..., batch_size: int = ...) -> Call[list[tuple[Level, int]]]: ...
    def maintain_partitions(self) -> Call[list[PartitionChange]]: ...
    def partitions(self) -> Call[list[PartitionInfo]]: ...

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
    def flush(self) -> Call[tuple[int, int, int]]: ...
    def stats(self) -> tuple[int, int, int]: ...
    def export_stats(self) -> ExportStats | None: ...
    async def __aenter__(self) -> Logger: ...
    async def __aexit__(self, *_exc: object) -> None: ...

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
    """A database URL Keel accepts, with its password masked."""

    @property
    def backend(self) -> Backend: ...
    @property
    def masked(self) -> str: ...
    @property
    def in_memory(self) -> bool: ...
    @property
    def path(self) -> str | None: ...

@final
class AppliedMigration:
    """A migration recorded as applied."""

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
    otlp: OtlpOptions | None = ...,
) -> Call[Keel]: ...
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
def otlp_config(options: OtlpOptions | None = None, env: dict[str, str] | None = None) -> OtlpConfig | None: ...

FLEET_AGENT_BUDGETS: dict[str, float]
CONSOLE_READS: tuple[ConsoleRead, ...]
CONSOLE_ACTIONS: tuple[ConsoleAction, ...]

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
    def tier(self) -> Tier: ...
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
        tier: Tier | None = None,
        org_id: str | None = None,
        trace_id: str | None = None,
        *,
        user_id: str | None = None,
    ) -> ModelResolution: ...
    def record_success(self, model_id: str, provider: str | None = None) -> Call[Transition]: ...
    def record_failure(
        self, model_id: str, provider: str | None = None, *, kind: FailureKind | None = None, status: float | None = None
    ) -> Call[Transition]: ...
    def check_budget(self, org_id: str) -> Call[BudgetStatus]: ...
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
    ) -> Call[CreditMovement]: ...
    def reserve_credits(self, org_id: str, estimate: float, idempotency_key: str) -> Call[CreditReservation]: ...
    def commit_credits(self, reservation_id: str, actual: float) -> Call[CreditMovement]: ...
    def release_credits(self, reservation_id: str) -> Call[CreditMovement]: ...
    def grant_credits(
        self, org_id: str, amount: float, kind: str | None = None, idempotency_key: str | None = None
    ) -> Call[CreditMovement]: ...
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
    ) -> Call[None]: ...
    def set_org_tier(self, org_id: str, feature: str, tier: str) -> Call[None]: ...
    def reload(self) -> Call[None]: ...
    def open_breakers(self) -> list[tuple[str, str, str]]: ...
    def compaction_threshold(self, model: str, **options: Unpack[ThresholdOptions]) -> CompactionThreshold: ...
    def llm(
        self,
        *,
        providers: dict[str, dict[str, Any]] = ...,
        attempt_timeout: float = ...,
        deadline: float = ...,
        max_attempts: int = ...,
        credits: bool = ...,
        fallback_on_refusal: bool = ...,
        transports: dict[str, Callable[[TransportRequest], Awaitable[Any]]] = ...,
    ) -> Llm: ...

@final
class ConversationStore:
    """Conversations and their messages; make it with ``db.conversations()``."""

    def start(
        self,
        org_id: str,
        user_id: str,
        channel: ConversationChannel,
        *,
        channel_ref: str | None = None,
        title: str | None = None,
    ) -> Call[Conversation]: ...
    def get(self, org_id: str, conversation_id: str) -> Call[Conversation]: ...
    def append(self, org_id: str, conversation_id: str, messages: list[Message]) -> Call[Appended]: ...
    def messages(self, org_id: str, conversation_id: str, *, after_seq: int = ..., limit: int = ...) -> Call[list[StoredMessage]]: ...
    def upsert_context(self, **entry: Unpack[ContextEntryInput]) -> Call[ContextEntry]: ...
    def prior_context(self, org_id: str, user_id: str, message: str) -> Call[PriorContext]: ...
    def context_for_user(
        self, org_id: str, user_id: str, **query: Unpack[ContextQuery]
    ) -> Call[PriorContext]: ...
    def forget_context(
        self, org_id: str, user_id: str, entity_type: str, entity_id: str
    ) -> Call[Forgotten]: ...
    def archive_context(self, *, max_age_days: int = ..., batch_size: int = ...) -> Call[dict[str, int]]: ...
    def compact(
        self,
        org_id: str,
        conversation_id: str,
        *,
        llm: Llm | None = None,
        summarizer: Llm | Callable[[HostSummaryTask], Awaitable[Any]] | None = None,
        **options: Unpack[CompactOptions],
    ) -> Call[Compacted]: ...
    def context(
        self, org_id: str, conversation_id: str, *, llm: Llm | None = None, **options: Unpack[ContextOptions]
    ) -> Call[ContextWindow]: ...
    def add_facts(
        self,
        org_id: str,
        user_id: str,
        facts: list[NewFact],
        *,
        link: Callable[[str, str], str | None] | None = None,
        **options: Unpack[AddFactsOptions],
    ) -> Call[list[Fact]]: ...
    def facts(self, org_id: str, user_id: str, **query: Unpack[FactQuery]) -> Call[list[Fact]]: ...
    def recall(self, org_id: str, user_id: str, text: str, **query: Unpack[RecallQuery]) -> Call[Recall]: ...
    def extract_facts(
        self,
        org_id: str,
        conversation_id: str,
        *,
        llm: Llm,
        link: Callable[[str, str], str | None] | None = None,
        **options: Unpack[ExtractOptions],
    ) -> Call[Extracted]: ...

@final
class DeadLetters:
    """The dead-letter queue; make it with ``db.dead_letters()``."""

    def enqueue(self, **letter: Unpack[NewDeadLetter]) -> Call[DeadLetter]: ...
    def list(self, **query: Unpack[LetterQuery]) -> Call[builtins.list[DeadLetter]]: ...
    def get(self, id: str) -> Call[DeadLetter]: ...
    def retry(self, id: str) -> Call[DeadLetter]: ...
    def redrive(self, id: str) -> Call[DeadLetter]: ...
    def resolve(self, id: str) -> Call[DeadLetter]: ...
    def abandon(self, id: str, *, reason: str) -> Call[DeadLetter]: ...
    def purge(self, *, days: int = ...) -> Call[int]: ...
    def work_once(
        self,
        handler: Callable[[Replay], Awaitable[Any]] | None = None,
        **options: Unpack[WorkerOptions],
    ) -> Call[WorkReport]: ...

@final
class Slack:
    """A Slack Web API client for one bot token: each method waits its tier in the process's
    limiter and retries a 429 after its ``Retry-After``."""

    def replies_page(
        self, channel: str, ts: str, *, cursor: str | None = None
    ) -> Call[SlackRepliesPage]: ...
    def replies(self, channel: str, ts: str) -> Call[builtins.list[dict[str, Any]]]: ...
    def post_message(
        self,
        channel: str,
        text: str,
        *,
        thread_ts: str | None = None,
        blocks: builtins.list[dict[str, Any]] | None = None,
    ) -> Call[SlackPosted]: ...
    def update(
        self,
        channel: str,
        ts: str,
        text: str,
        *,
        blocks: builtins.list[dict[str, Any]] | None = None,
    ) -> Call[SlackPosted]: ...
    def user(self, user: str) -> Call[SlackUser]: ...

@final
class Fleet:
    """Fleet health on a database: the registry, the status, health runs with alerts once per
    transition, the alert outbox, the report and snapshot retention."""

    def agents(self) -> Call[builtins.list[FleetAgent]]: ...
    def set_agent(self, agent_name: str, **fields: Unpack[AgentSpec]) -> Call[FleetAgent]: ...
    def remove_agent(self, agent_name: str) -> Call[FleetAgent]: ...
    def status(self) -> Call[FleetStatus]: ...
    def check_fleet_health(self) -> Call[FleetHealth]: ...
    def deliver(self) -> Call[DeliveryReport]: ...
    def alerts(
        self, agent_name: str | None = None, limit: int | None = None
    ) -> Call[builtins.list[FleetAlert]]: ...
    def prune(self, keep_ms: int | None = None) -> Call[int]: ...
    def report(self, period_ms: int | None = None) -> Call[FleetReport]: ...
    def report_html(self, period_ms: int | None = None) -> Call[str]: ...

@final
class Console:
    """The operator console on a database: ``keel serve``'s reads and actions by name, each
    answering what its ``/api/<op>`` answers."""

    @property
    def allows_actions(self) -> bool: ...
    def call(self, op: ConsoleRead | ConsoleAction, **args: Any) -> Call[Any]: ...

@final
class SlackThreads:
    """Slack copilot threads: each a conversation of the memory store, counters moved by
    single statements, context extracted at a watermark."""

    def get_or_create(self, **key: Unpack[SlackThreadKey]) -> Call[SlackThread]: ...
    def get(self, org_id: str, thread_id: str) -> Call[SlackThread]: ...
    def add_messages(
        self, org_id: str, thread_id: str, messages: builtins.list[SlackThreadMessage]
    ) -> Call[SlackThreadAppend]: ...
    def ingest(
        self, org_id: str, thread_id: str, payload: Any, *, bot_user_id: str | None = None
    ) -> Call[SlackThreadIngest]: ...
    def record_turn(
        self,
        org_id: str,
        thread_id: str,
        *,
        intent: str | None = None,
        credits: float = 0.0,
        action: dict[str, Any] | None = None,
    ) -> Call[SlackThread]: ...
    def set_active(
        self,
        org_id: str,
        thread_id: str,
        *,
        deal_id: str | None = None,
        contact_id: str | None = None,
        company_id: str | None = None,
        meeting_id: str | None = None,
        loaded_context: dict[str, Any] | None = None,
    ) -> Call[SlackThread]: ...
    def history(
        self, org_id: str, thread_id: str, *, limit: int = 10
    ) -> Call[builtins.list[SlackThreadHistoryItem]]: ...
    def extract(
        self,
        org_id: str,
        thread_id: str,
        *,
        llm: Llm,
        link: Callable[[str, str], str | None] | None = None,
        **options: Unpack[ExtractThreadOptions],
    ) -> Call[ThreadExtraction]: ...
    def sweep(
        self,
        *,
        llm: Llm,
        link: Callable[[str, str], str | None] | None = None,
        **options: Unpack[ExtractThreadOptions],
    ) -> Call[ThreadSweep]: ...

def slack_ingest(payload: Any, *, bot_user_id: str | None = None) -> SlackIngested: ...
def read_thread_context(answer: str) -> ThreadReading: ...
def agent_status(metrics: AgentMetrics, *, now: str | None = None) -> AgentStatus: ...
def next_alert(
    state: AlertState | None,
    status: str,
    *,
    now: str | None = None,
    cooldown_ms: int | None = None,
    renotify_ms: int | None = None,
) -> AlertDecision: ...
def fleet_alert_message(notice: FleetNotice) -> SlackWebhookPayload: ...
def thread_transcript(
    messages: builtins.list[TranscriptMessage], *, previous: str | None = None, budget: int = 3000
) -> ThreadTranscript: ...

@final
class Dedup:
    """Deduplication of Command Centre items: one key and one merge at insert time and before
    enrichment, near-duplicates by MinHash, the post-scoring approval and the daily sweep."""

    def enqueue(self, items: list[NewItem]) -> Call[list[Checked]]: ...
    def check(self, id: str, *, lease_token: int | None = None) -> Call[Checked]: ...
    def score(self, id: str, confidence: float) -> Call[Scored]: ...
    def group(self, id: str) -> Call[DedupGroup | None]: ...
    def counts(self, org_id: str) -> Call[dict[str, int]]: ...
    def sweep(self, *, org: str | None = None, dry_run: bool = False) -> Call[DedupSweep]: ...

def dedup_key(**item: Unpack[DedupKeyItem]) -> str: ...
def merge_reports(reports: list[MergeReport], *, queue_priority: int = 2) -> Merged: ...

@final
class Queue:
    """The Command Centre queue; make it with ``db.queue(**options)``."""

    def enqueue(self, items: builtins.list[NewItem]) -> Call[builtins.list[str]]: ...
    def claim(self, worker: str, **options: Unpack[ClaimOptions]) -> Call[builtins.list[QueueItem]]: ...
    def claim_after(
        self, done: builtins.list[Lease], worker: str, **options: Unpack[ClaimOptions]
    ) -> Call[Claimed]: ...
    def claim_batch(self, worker: str, **options: Unpack[ClaimOptions]) -> Call[Batch]: ...
    def complete(self, id: str, lease_token: int, *, context: Any = None) -> Call[bool]: ...
    def complete_all(self, leases: builtins.list[Lease]) -> Call[builtins.list[str]]: ...
    def fail(
        self,
        id: str,
        lease_token: int,
        reason: str,
        *,
        retryable: bool = ...,
        retry_after_ms: int | None = None,
    ) -> Call[QueueItem | None]: ...
    def defer(self, id: str, lease_token: int, delay_ms: int) -> Call[bool]: ...
    def extend(self, id: str, lease_token: int, *, lease_ms: int | None = None) -> Call[bool]: ...
    def sweep(self) -> Call[SweepReport]: ...
    def health(self) -> Call[QueueHealth]: ...
    def get(self, id: str) -> Call[QueueItem | None]: ...
    def work(
        self,
        handler: Callable[[QueueItem], Awaitable[Any]],
        stop: Any = None,
        **options: Unpack[QueueWorkerOptions],
    ) -> Coroutine[Any, Any, QueueWorkerReport]: ...
    def _session(self, **options: Unpack[QueueWorkerOptions]) -> _WorkerSession: ...

@final
class _WorkerSession:
    """One worker's decisions, for ``keel._queue`` (not part of the API)."""

    def next(self) -> Call[builtins.list[QueueItem] | None]: ...
    def settle(self, id: str, lease_token: int, value: Any, error: str | None = None) -> None: ...
    def stop(self) -> None: ...
    def report(self) -> QueueWorkerReport: ...

def rate_limit_decide(*, limit: Limit, tat_ms: float, now_ms: float) -> Decided: ...

@final
class LocalLimiter:
    """A rate limiter in this process: GCRA per key, bounded memory."""

    def __new__(cls, capacity: int | None = None) -> LocalLimiter: ...
    def check(self, key: str, **limit: Unpack[Limit]) -> Decision: ...
    def acquire(self, **acquisition: Unpack[Acquisition]) -> Decision: ...
    def keys(self) -> int: ...

@final
class SharedLimiter:
    """Rate limits shared through the database; make it with ``db.shared_limiter()``."""

    def check(self, key: str, **limit: Unpack[Limit]) -> Call[Decision]: ...
    def acquire(self, **acquisition: Unpack[Acquisition]) -> Call[Decision]: ...

@final
class AgentContext:
    """What an executor gets on each attempt."""

    @property
    def logger(self) -> Logger: ...
    @property
    def trace_id(self) -> str: ...
    @property
    def execution_id(self) -> str: ...
    @property
    def attempt(self) -> int: ...
    @property
    def credits_used(self) -> float: ...
    @property
    def cancelled(self) -> bool: ...
    @property
    def traceparent(self) -> str: ...
    def add_credits(self, amount: float) -> None: ...
    def add_items(self, emitted: int | None = None, processed: int | None = None) -> None: ...
    def check_budget(self) -> AgentBudget: ...
    def step(self, name: str, work: Callable[[], Awaitable[Any]]) -> Call[Any]: ...
    def complete(self, **request: Unpack[CallRequest]) -> Call[Completion]: ...

@final
class _AgentRun:
    """One run as core drives it, for ``keel._runner`` (not part of the API)."""

    def next(self) -> tuple[Any, ...]: ...
    def succeeded(self, value: Any) -> None: ...
    def failed(self, error: BaseException) -> None: ...
    def timed_out(self) -> None: ...
    def cancel(self) -> None: ...
    def claim(self) -> Call[None]: ...
    def finish(self) -> Call[None]: ...
    def result(self) -> AgentResult: ...

@final
class Runs:
    """The agent runs (``agent_executions``); make it with ``db.runs()``."""

    def list(self, **query: Unpack[RunQuery]) -> Call[builtins.list[Execution]]: ...
    def get(self, id: str) -> Call[Execution]: ...
    def sweep(self, **options: Unpack[SweepOptions]) -> Call[int]: ...
    def flush(self) -> Call[None]: ...

def agent_config(**config: Unpack[AgentConfig]) -> ResolvedConfig: ...
def classify_failure(**failure: Unpack[FailureInfo]) -> Classified: ...
def retry_delays(**input: Unpack[RetryDelaysInput]) -> Delays: ...

@final
class Llm:
    """Makes model calls through a router; make it with ``router.llm(...)``."""

    def complete(self, **request: Unpack[CallRequest]) -> Call[Completion]: ...
    def stream(self, **request: Unpack[CallRequest]) -> Call[CallStream]: ...
    def count_tokens(self, model: str, messages: list[Message]) -> TokenCount: ...
    def summarize(self, **request: Unpack[SummaryRequest]) -> Call[Summary]: ...
    def classify(self, **request: Unpack[ClassifyRequest]) -> Call[Classification]: ...
    def embed(self, **request: Unpack[EmbedRequest]) -> Call[Embeddings]: ...

@final
class DrivenCall:
    """A model call driven on the caller's event loop through its transports (``keel._drive``)."""

    def transport_request(self) -> TransportRequest | None: ...
    def timeout(self) -> float: ...
    def replied(self, reply: Any) -> Completion | None: ...
    def failed(self, error: BaseException) -> Completion | None: ...
    def timed_out(self) -> Completion | None: ...
    def wait(self) -> Call[Completion | None]: ...

@final
class CallStream:
    """A streaming call: ``async for event in stream``; the last event is ``done``."""

    def __aiter__(self) -> CallStream: ...
    def __anext__(self) -> Call[StreamEvent]: ...
    def aclose(self) -> Call[None]: ...

def check_agent_budget(agent_name: str, used: float) -> AgentBudget: ...
def count_tokens(text: str, encoding: Encoding | None = None) -> int: ...

@final
class MinHash:
    """A MinHash signature of a text's word shingles, with its version and parameters."""

    @property
    def values(self) -> list[int]: ...
    @property
    def num_perm(self) -> int: ...
    @property
    def seed(self) -> int: ...
    @property
    def shingle_words(self) -> int: ...
    def jaccard(self, other: MinHash) -> float: ...
    def to_bytes(self) -> bytes: ...
    @staticmethod
    def from_bytes(data: bytes) -> MinHash: ...

def minhash(text: str, **options: Unpack[MinHashOptions]) -> MinHash: ...

@final
class MinHasher:
    """Makes signatures with one set of options."""

    def __new__(cls, **options: Unpack[MinHashOptions]) -> MinHasher: ...
    def signature(self, text: str) -> MinHash: ...

@final
class MinHashLsh:
    """An in-memory LSH index of signatures by key; bands and rows follow the threshold."""

    def __new__(cls, **options: Unpack[LshOptions]) -> MinHashLsh: ...
    def insert(self, key: str, minhash: MinHash) -> None: ...
    def remove(self, key: str) -> bool: ...
    def query(self, minhash: MinHash) -> list[Similar]: ...
    def candidates(self, minhash: MinHash) -> list[str]: ...
    @property
    def bands(self) -> int: ...
    @property
    def rows(self) -> int: ...
    @property
    def threshold(self) -> float: ...
    @property
    def confirm_at(self) -> float: ...
    def __len__(self) -> int: ...
def count_message_tokens(model: str, messages: list[Message]) -> TokenCount: ...
def plan_compaction(messages: list[Message], **options: Unpack[PlanOptions]) -> CompactionPlan: ...
def format_prior_context(message: str, rows: list[ContextEntry], *, now: str | None = None) -> PriorContext: ...
def rank_facts(
    query: str, facts: list[dict[str, Any]], *, now: str | None = None, limit: int = 10
) -> list[RecalledFact]: ...
def read_fact_extraction(answer: str, *, seqs: list[int] = ..., known: int = 0) -> ExtractionReading: ...
def drain_tasks(timeout: float = 2.0) -> bool: ...

def parse_skill(
    text: str, folder: str | None = None, file: str = "SKILL.md", portable: bool = False
) -> ParsedSkill: ...
def validate_skills(path: str | os.PathLike[str], portable: bool = False) -> ValidatedLibrary: ...
def import_skills(path: str | os.PathLike[str]) -> ImportReport: ...
def export_skills(path: str | os.PathLike[str], out: str | os.PathLike[str]) -> ExportReport: ...
def compile_skill(
    text: str, context: dict[str, Any], documents: dict[str, dict[str, str]] | None = None
) -> CompiledSkill: ...
def channel_namespaces(channel: Channel) -> list[Namespace]: ...
@final
class ResolvedSkill:
    """One skill as an org sees it, compiled."""

    @property
    def key(self) -> str: ...
    @property
    def namespace(self) -> Namespace: ...
    @property
    def source(self) -> Source: ...
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
    def channel(self) -> Channel: ...
    @property
    def skills(self) -> list[ResolvedSkill]: ...
    @property
    def shadowed(self) -> list[Shadowed]: ...
    def keys(self) -> list[str]: ...
    def get(self, key: str) -> ResolvedSkill | None: ...
    def render(self, key: str, request: dict[str, Any] | None = None) -> str: ...
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
    ) -> Call[SyncReport]: ...
    def list(self) -> Call[builtins.list[SkillSummary]]: ...
    def history(self, key: str) -> Call[builtins.list[VersionInfo]]: ...
    def deprecate(self, key: str, reason: str | None = None) -> Call[int]: ...
    def restore(self, key: str) -> Call[int]: ...
    def set_enabled(self, org_id: str, key: str, enabled: bool) -> Call[None]: ...
    def pin(self, org_id: str, key: str, version: int | None) -> Call[None]: ...
    def move_to(self, org_id: str, key: str, namespace: Namespace | None) -> Call[None]: ...
    def replace(self, org_id: str, key: str, skill_md: str | None) -> Call[None]: ...
    def set_org_context(self, org_id: str, context: dict[str, Any]) -> Call[None]: ...
    def org_context(self, org_id: str) -> Call[dict[str, Any]]: ...
    def resolve_skills(self, org_id: str, channel: Channel) -> Call[ResolvedSkills]: ...
    def cached(self, org_id: str, channel: Channel) -> ResolvedSkills | None: ...
    def invalidate(self) -> None: ...
    def message_router(
        self,
        *,
        classifier: Llm | Callable[[HostClassifyTask], Awaitable[Any]] | None = None,
        embedder: Llm | Callable[[HostEmbedTask], Awaitable[Any]] | None = None,
        **options: Unpack[MessageRouterOptions],
    ) -> MessageRouter: ...

@final
class RouteDecision:
    """A routing decision, read like a dict (``decision["route"]``); each field is converted
    when read. ``to_dict()`` gives them all (``keel.types.RouteDecision``)."""

    def __getitem__(self, key: str, /) -> Any: ...
    def __contains__(self, key: str, /) -> bool: ...
    def __len__(self) -> int: ...
    def keys(self) -> builtins.list[str]: ...
    def get(self, key: str, default: Any = None) -> Any: ...
    def to_dict(self) -> RouteDecisionDict: ...

@final
class MessageRouter:
    """Routes messages to an org's skills; make it with ``skills.message_router()``."""

    def route(
        self,
        message: str,
        channel: Channel,
        org_id: str,
        user_id: str | None = None,
        *,
        allow_llm: bool = False,
        skip_cache: bool = False,
        trace_id: str | None = None,
    ) -> Call[RouteDecision]: ...
    def try_route(
        self,
        message: str,
        channel: Channel,
        org_id: str,
        user_id: str | None = None,
        *,
        allow_llm: bool = False,
        skip_cache: bool = False,
        trace_id: str | None = None,
    ) -> RouteDecision | None: ...
    def evaluate(
        self, labelled: str, org_id: str, *, allow_llm: bool = False
    ) -> Call[RouteEvaluation]: ...
    def log(
        self, org_id: str, *, since: float = 3600.0, limit: int = 100
    ) -> Call[builtins.list[RoutingLogRow]]: ...
    def flush(self) -> Call[None]: ...
    def stats(self) -> RouterStats: ...
    def invalidate(self) -> None: ...
