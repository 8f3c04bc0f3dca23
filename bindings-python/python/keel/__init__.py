"""Keel: the embeddable core for AI-agent platforms, in-process from Python.

    import keel

    db = await keel.connect("sqlite::memory:")
    print(db.backend, [m.version for m in await db.applied_migrations()])
    await db.close()

    log = db.create_logger("copilot", user_id=user_id, org_id=org_id)
    with log.create_span("handle_message") as span:
        log.info("model_router.tier_resolved", {"gen_ai.request.model": "claude-sonnet-4-6"})
    await log.flush()

    router = await db.model_router()
    pick = router.resolve_model("copilot", "medium", org_id=org_id)   # no I/O while circuits are closed
    await router.record_failure(pick.model_id, status=503)          # the breaker counts provider faults
    await router.deduct_credits(org_id, resolution=pick, input_tokens=1200, output_tokens=300)

    skills = await db.skill_registry()
    await skills.sync("skills/")                                     # content-hash versions, idempotent
    await skills.set_org_context(org_id, {"company_name": "Acme"})
    view = await skills.resolve_skills(org_id, "slack")              # cached per (org, channel)
    view.get("slack-deal-query").content                             # compiled for the org

Every I/O method returns a :class:`keel.Call`: a coroutine that starts when awaited (so
``asyncio.run(db.close())`` works), or, in code without an event loop (Django views, Celery
tasks), runs to its end with ``.wait()``. Handles are async context managers
(``async with await keel.connect() as db:``). Errors are :class:`keel.KeelError` subclasses
with a stable ``code``; see :mod:`keel.errors`. Result shapes and enumerations are in
:mod:`keel.types`.
"""

from __future__ import annotations

import atexit

from keel import _native
from keel._native import (
    CONSOLE_ACTIONS,
    CONSOLE_READS,
    FLEET_AGENT_BUDGETS,
    Call,
    AgentBudget,
    AppliedMigration,
    BudgetStatus,
    CallStream,
    ConversationStore,
    CreditMovement,
    DeadLetters,
    Queue,
    LocalLimiter,
    SharedLimiter,
    rate_limit_decide,
    AgentContext,
    Runs,
    agent_config,
    CreditReservation,
    Llm,
    MessageRouter,
    ModelResolution,
    RouteDecision,
    ModelRouter,
    ResolvedSkill,
    ResolvedSkills,
    SkillRegistry,
    channel_namespaces,
    check_agent_budget,
    classify_failure,
    retry_delays,
    compile_skill,
    plan_compaction,
    count_tokens,
    count_message_tokens,
    Slack,
    SlackThreads,
    Fleet,
    Console,
    fleet_alert_message,
    read_thread_context,
    thread_transcript,
    agent_status,
    next_alert,
    slack_ingest,
    Dedup,
    dedup_key,
    merge_reports,
    minhash,
    MinHash,
    MinHasher,
    MinHashLsh,
    format_prior_context,
    rank_facts,
    read_fact_extraction,
    export_skills,
    import_skills,
    DatabaseUrl,
    Keel,
    Logger,
    Span,
    create_logger,
    error_codes,
    flush_logs,
    mask_url,
    parse_database_url,
    parse_skill,
    otlp_config,
    parse_traceparent,
    redact_secrets,
    validate_skills,
)
from keel._otel import otel_context
from keel.types import OtlpOptions
from keel import errors
from keel.errors import *  # noqa: F403  (one class per error code, listed in errors.__all__)
from keel.errors import KeelError as KeelError

__version__: str = _native.__version__

# Runtime threads still handing results to asyncio must finish before the interpreter
# finalizes (a thread entering Python then is killed mid-call). Waits at most 2 s.
atexit.register(_native.drain_tasks)

__all__ = [
    "__version__",
    "connect",
    "Call",
    "Keel",
    "DatabaseUrl",
    "AppliedMigration",
    "parse_database_url",
    "mask_url",
    "error_codes",
    "create_logger",
    "flush_logs",
    "Logger",
    "Span",
    "parse_traceparent",
    "redact_secrets",
    "otlp_config",
    "otel_context",
    "ModelRouter",
    "ModelResolution",
    "BudgetStatus",
    "CreditMovement",
    "CreditReservation",
    "AgentBudget",
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
    "FLEET_AGENT_BUDGETS",
    "CONSOLE_READS",
    "CONSOLE_ACTIONS",
    "Console",
    "Llm",
    "CallStream",
    "SkillRegistry",
    "MessageRouter",
    "ConversationStore",
    "DeadLetters",
    "Queue",
    "LocalLimiter",
    "SharedLimiter",
    "rate_limit_decide",
    "AgentContext",
    "Runs",
    "agent_config",
    "classify_failure",
    "retry_delays",
    "RouteDecision",
    "ResolvedSkills",
    "ResolvedSkill",
    "parse_skill",
    "validate_skills",
    "import_skills",
    "export_skills",
    "compile_skill",
    "channel_namespaces",
    *errors.__all__,
]


def connect(
    url: str | None = None,
    *,
    migrate: bool | None = None,
    create: bool | None = None,
    max_connections: int | None = None,
    connect_timeout: float | None = None,
    otlp: OtlpOptions | None = None,
) -> Call[Keel]:
    """Connect to Keel's database: ``db = await keel.connect(url)``, or without an event loop
    ``db = keel.connect(url).wait()``.

    Args:
        url: ``sqlite::memory:`` (core's default, when ``None``), ``sqlite://path/to/keel.db``
            (created with its folder when missing) or ``postgres://user:password@host:5432/db``.
            A misspelt in-memory URL (``sqlite:memory``) is ``InvalidUrlError``, never a file.
        migrate: apply the embedded migrations on connect (core's default: yes).
        create: create a missing SQLite file (core's default: yes); with ``False`` a missing
            file is ``DatabaseConnectionError`` and nothing is created.
        max_connections: upper bound on pooled connections (core's default: 10).
        connect_timeout: seconds to wait for the database (core's default: 10).
        otlp: OTLP export of this handle's spans (:class:`keel.types.OtlpOptions`); keys left
            out fall back to the ``OTEL_*`` environment variables. Export is on when an
            endpoint is configured here or in ``OTEL_EXPORTER_OTLP_ENDPOINT``.

    An option left as ``None`` takes core's default (``keel::ConnectOptions``).

    Raises:
        InvalidUrlError: the URL is not one Keel accepts.
        DatabaseConnectionError: the database cannot be reached or opened.
        MigrationError: the migrations failed.
        InvalidInputError: an option is out of range (``err.field`` names it).

    Every message carries the URL with its password masked.
    """
    return _native.connect(
        url,
        migrate=migrate,
        create=create,
        max_connections=max_connections,
        connect_timeout=connect_timeout,
        otlp=otlp,
    )
