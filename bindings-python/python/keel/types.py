"""The shapes of Keel's dict results and the values of its enumerations, for type checkers.

Results that are records (``ModelResolution``, ``ResolvedSkill``, …) are classes of
``keel``; the structured reports below are plain dicts with these keys (the same as the JSON
the CLI prints with ``--json`` and, in camelCase, the objects Node returns).
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, Required, TypedDict

__all__ = [
    "SlackOptions",
    "SlackRepliesPage",
    "SlackPosted",
    "SlackUser",
    "SlackMessage",
    "SlackSkipped",
    "SlackIngested",
    "SlackThreadOptions",
    "SlackThreadKey",
    "SlackActiveEntities",
    "SlackThread",
    "SlackThreadMessage",
    "SlackThreadAppend",
    "SlackThreadIngest",
    "SlackThreadHistoryItem",
    "ExtractThreadOptions",
    "ThreadEntity",
    "ThreadExtraction",
    "ThreadSweep",
    "ThreadReading",
    "TranscriptMessage",
    "ThreadTranscript",
    "HealthStatus",
    "AgentMetrics",
    "AgentStatus",
    "AlertState",
    "AlertDecision",
    "AlertKind",
    "FleetNotice",
    "SlackWebhookPayload",
    "FleetOptions",
    "ConsoleOptions",
    "ConsoleRead",
    "ConsoleAction",
    "FleetAgent",
    "PartitionChange",
    "PartitionInfo",
    "AgentSpec",
    "AgentHealth",
    "FleetSummary",
    "FleetStatus",
    "DeliveryReport",
    "FleetHealth",
    "FleetAlert",
    "SnapshotPoint",
    "FleetReport",
    "Verdict",
    "Checked",
    "Scored",
    "DedupMember",
    "DedupGroup",
    "DedupSweep",
    "DedupOptions",
    "DedupKeyItem",
    "MergeReport",
    "MergeGroup",
    "Merged",
    "MinHashOptions",
    "LshOptions",
    "Similar",
    "ItemState",
    "QueueMode",
    "NewItem",
    "QueueItem",
    "Shedding",
    "FanIn",
    "QueueOptions",
    "ClaimOptions",
    "EntityGroup",
    "Batch",
    "LaneHealth",
    "QueueHealth",
    "SweepReport",
    "Lease",
    "Claimed",
    "QueueWorkerOptions",
    "QueueWorkerReport",
    "Limit",
    "KeyLimit",
    "ProviderLimit",
    "Acquisition",
    "Decision",
    "Decided",
    "AgentConfig",
    "AgentResult",
    "RunStatus",
    "Execution",
    "RunQuery",
    "SweepOptions",
    "ResolvedConfig",
    "KindAttempts",
    "RetryDelaysInput",
    "ErrorKind",
    "LetterStatus",
    "FailureInfo",
    "Classified",
    "Backoff",
    "KindPolicy",
    "RetryPolicy",
    "Delays",
    "Failed",
    "NewDeadLetter",
    "DeadLetter",
    "LetterQuery",
    "Replay",
    "WorkerOptions",
    "WorkReport",
    "Backend",
    "Tier",
    "Channel",
    "Namespace",
    "Source",
    "Level",
    "Severity",
    "SyncAction",
    "ShadowReason",
    "Transition",
    "FailureKind",
    "Diagnostic",
    "Trigger",
    "Port",
    "CommandCentre",
    "SkillMeta",
    "SkillDoc",
    "ParsedSkill",
    "LibrarySkill",
    "ValidatedLibrary",
    "CompiledSkill",
    "SyncItem",
    "SyncReport",
    "SkillSummary",
    "VersionInfo",
    "Shadowed",
    "ImportFile",
    "ImportReport",
    "ExportChange",
    "ExportReport",
    "Message",
    "ContentPart",
    "Tool",
    "TokenUsage",
    "Attempt",
    "Completion",
    "StreamEvent",
    "TextDelta",
    "ToolCallDelta",
    "ToolArgumentsDelta",
    "StreamDone",
    "FinishReason",
    "CallRequest",
    "SummaryRequest",
    "Summary",
    "Label",
    "ClassifyRequest",
    "Classification",
    "EmbedRequest",
    "Embeddings",
    "TransportRequest",
    "HostClassifyTask",
    "HostEmbedTask",
    "HostLabel",
    "HostSummaryTask",
    "MatchedBy",
    "RouteStage",
    "Band",
    "GeneralIntent",
    "RouteEvidence",
    "RouteCandidate",
    "RouteEntities",
    "RouteDecision",
    "RouteThresholds",
    "Calibration",
    "MessageRouterOptions",
    "RoutingLogRow",
    "RouterStats",
    "LabelScore",
    "RouteMiss",
    "RouteEvaluation",
    "ThresholdOptions",
    "CompactionThreshold",
    "ConversationChannel",
    "Conversation",
    "StoredMessage",
    "Appended",
    "PlanOptions",
    "CompactOptions",
    "ContextOptions",
    "CompactionPlan",
    "Encoding",
    "TokenCount",
    "Compaction",
    "Compacted",
    "ContextWindow",
    "EntityType",
    "ContextEntryInput",
    "ContextEntry",
    "ContextQuery",
    "Forgotten",
    "ScoredContext",
    "PriorContext",
    "FactCategory",
    "NewFact",
    "Fact",
    "EntitySql",
    "AddFactsOptions",
    "FactQuery",
    "RecallQuery",
    "RecalledFact",
    "Recall",
    "ExtractOptions",
    "ExtractedFact",
    "RejectedFact",
    "ExtractionReading",
    "Extracted",
]

Backend = Literal["sqlite", "postgres"]
Tier = Literal["low", "medium", "high"]
Channel = Literal["web", "slack", "fleet", "command_centre"]
Namespace = Literal["copilot", "slack", "fleet", "shared"]
Source = Literal["platform", "org"]
#: ``Console.call``'s reads (``keel.CONSOLE_READS``, in order).
ConsoleRead = Literal[
    "about",
    "logs",
    "trace",
    "fleet",
    "executions",
    "letters",
    "letter",
    "queue",
    "queue_history",
    "models",
    "breakers",
    "credits",
    "ledger",
    "skills",
    "skill_history",
    "skill_diff",
    "skill_view",
    "route",
    "routing",
    "routing_stats",
]
#: ``Console.call``'s actions (``keel.CONSOLE_ACTIONS``), each needing ``actor``.
ConsoleAction = Literal[
    "redrive_letter", "abandon_letter", "deprecate_skill", "restore_skill", "reset_breaker"
]
Level = Literal["debug", "info", "warn", "error"]
Severity = Literal["error", "warning"]
SyncAction = Literal["created", "updated", "restored", "unchanged", "pruned"]
#: ``compile_failed`` and ``replacement_failed`` are failures; the others are choices.
ShadowReason = Literal[
    "disabled_by_org",
    "replaced_by_org",
    "pinned_by_org",
    "moved_by_org",
    "deprecated",
    "inactive",
    "compile_failed",
    "replacement_failed",
]
#: Why a model call failed, as `record_failure(kind=…)` takes it (timeouts, 5xx, 429 and 529
#: count toward the breaker; caller errors and an over-long context do not).
FailureKind = Literal[
    "timeout",
    "server_error",
    "rate_limited",
    "overloaded",
    "client_error",
    "context_too_long",
    "content_refused",
    "connection",
]
#: What a reported success or failure did to a circuit.
Transition = Literal["unchanged", "counted", "opened", "reopened", "closed"]


class OtlpOptions(TypedDict, total=False):
    """Where Keel's spans go over OTLP (``connect(otlp=...)``, ``otlp_config(...)``). Every key
    falls back to its ``OTEL_*`` environment variable, then to the OpenTelemetry default."""

    enabled: bool
    endpoint: str
    protocol: Literal["http/protobuf", "grpc"]
    headers: dict[str, str]
    service_name: str
    resource_attributes: dict[str, str]
    sampler: str
    sampler_arg: float
    timeout: float
    system_logs: bool
    capacity: int
    capture_content: bool


class Sampling(TypedDict):
    """Which traces are exported: ``always_on``, ``always_off`` or ``trace_id_ratio``."""

    kind: Literal["always_on", "always_off", "trace_id_ratio"]
    ratio: NotRequired[float]


class OtlpConfig(TypedDict):
    """OTLP export with every default applied (``otlp_config``)."""

    protocol: Literal["http/protobuf", "grpc"]
    endpoint: str
    header_names: list[str]
    service_name: str | None
    resource_attributes: dict[str, str]
    sampling: Sampling
    timeout_ms: int
    system_logs: bool
    capacity: int
    capture_content: bool


class ExportStats(TypedDict):
    """Counters of the OTLP exporter."""

    exported: int
    dropped: int
    failed_exports: int


class Diagnostic(TypedDict):
    """A finding in a file: a stable code, where, and what is wrong."""

    code: str
    severity: Severity
    file: str
    line: int
    column: int
    field: str | None
    message: str


class Trigger(TypedDict):
    """A routing trigger of a skill: the platform corpus's ``{pattern, intent, confidence, examples}``."""

    pattern: str
    intent: str | None
    confidence: float
    examples: list[str]


class Port(TypedDict):
    """An input or output of a skill; ``extra`` holds the mapping's other keys (``enum``, …)."""

    name: str
    type: str | None
    required: bool
    description: str | None
    extra: NotRequired[dict[str, Any]]


class CommandCentre(TypedDict):
    """A skill's command-centre entry."""

    enabled: bool
    label: str | None
    description: str | None
    icon: str | None


class SkillMeta(TypedDict):
    """The platform corpus's fields beyond routing (see ``skills/README.md``)."""

    skill_type: Literal["atomic", "sequence"]
    is_active: bool
    version: str | None
    author: str | None
    agent_affinity: list[str]
    context_profile: str | None
    requires_capabilities: list[str]
    optional_context: list[str]
    inputs: list[Port]
    linked_skills: list[str]
    workflow: list[dict[str, Any]]
    execution_mode: str | None
    timeout_ms: int | None
    tags: list[str]
    command_centre: CommandCentre | None
    deprecated_by: str | None
    deprecation_reason: str | None


class SkillDoc(TypedDict):
    """A SKILL.md's fields."""

    name: str
    display_name: str | None
    description: str
    namespace: Namespace | None
    source: str
    category: str | None
    priority: str
    triggers: list[Trigger]
    keywords: list[str]
    required_context: list[str]
    outputs: list[Port]
    sequence: list[str]
    meta: SkillMeta
    body: str


class ParsedSkill(TypedDict):
    """``parse_skill``'s result: ``skill`` is None when a finding is an error."""

    skill: SkillDoc | None
    diagnostics: list[Diagnostic]


class LibrarySkill(TypedDict):
    """A skill of a library folder."""

    namespace: Namespace
    path: str
    doc: SkillDoc
    documents: dict[str, str]


class ValidatedLibrary(TypedDict):
    """``validate_skills``'s result."""

    skills: list[LibrarySkill]
    diagnostics: list[Diagnostic]


class CompiledSkill(TypedDict):
    """``compile_skill``'s result."""

    content: str
    context_hash: str


class SyncItem(TypedDict):
    """One skill a sync handled."""

    key: str
    namespace: Namespace
    version: int
    previous: int | None
    action: SyncAction


class SyncReport(TypedDict):
    """What a sync did (or, in a dry run, would do)."""

    items: list[SyncItem]
    warnings: list[Diagnostic]
    skipped: list[Diagnostic]
    dry_run: bool


class SkillSummary(TypedDict):
    """A skill with a current version."""

    key: str
    namespace: Namespace
    version: int
    versions: int
    content_hash: str
    deprecated: bool


class VersionInfo(TypedDict):
    """One stored version of a skill."""

    version: int
    namespace: Namespace
    content_hash: str
    is_current: bool
    deprecated_at: str | None
    deprecation_reason: str | None
    created_at: str


class Shadowed(TypedDict):
    """A skill version an org does not see where it otherwise would, and why."""

    key: str
    namespace: Namespace
    version: int | None
    reason: ShadowReason
    detail: str


class ImportFile(TypedDict):
    """One file of ``import_skills``: loads, warned or refused, and why."""

    file: str
    key: str | None
    namespace: Namespace | None
    status: Literal["loads", "warned", "refused"]
    codes: dict[str, int]
    diagnostics: list[Diagnostic]


class ImportReport(TypedDict):
    """``import_skills``'s result."""

    files: list[ImportFile]
    loads: int
    warned: int
    refused: int
    codes: dict[str, int]


class ExportChange(TypedDict):
    """One change ``export_skills`` made to a file."""

    file: str
    code: str
    message: str


class ExportReport(TypedDict):
    """``export_skills``'s result."""

    skills: int
    files: int
    changes: list[ExportChange]
    skipped: list[Diagnostic]
    diagnostics: list[Diagnostic]


#: Why a reply ended (OpenTelemetry's ``gen_ai.response.finish_reasons`` values).
FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "other"]


class ContentPart(TypedDict, total=False):
    """A piece of a turn: ``{"type": "text", "text"}``, ``{"type": "image", "url"}`` or
    ``{"type": "image", "data", "media_type"}``, ``{"type": "tool_call", "id", "name",
    "arguments"}``, ``{"type": "tool_result", "call_id", "content", "is_error"}``."""

    type: Literal["text", "image", "tool_call", "tool_result"]
    text: str
    url: str
    data: str
    media_type: str
    id: str
    name: str
    arguments: dict[str, Any]
    call_id: str
    content: str
    is_error: bool


class Message(TypedDict):
    """One turn: ``role`` is ``system``, ``user``, ``assistant`` or ``tool``; ``content`` is
    text or a list of parts."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str | list[ContentPart]


class Tool(TypedDict, total=False):
    """A tool the model may call; ``parameters`` is a JSON Schema object."""

    name: str
    description: str
    parameters: dict[str, Any]


class _TaskCall(TypedDict, total=False):
    """The call fields a task takes: those of ``CallRequest`` but its conversation."""

    feature: str
    tier: Tier
    org_id: str
    user_id: str
    trace_id: str
    traceparent: str
    idempotency_key: str
    provider: str
    model: str
    max_tokens: int
    temperature: float
    stop: list[str]
    attempt_timeout: float
    deadline: float


class CallRequest(_TaskCall, total=False):
    """The keyword arguments of ``Llm.complete`` and ``Llm.stream``: ``messages``, and a
    ``feature`` (the router resolves it) or an explicit ``provider`` and ``model``; durations
    in seconds."""

    messages: Required[list[Message]]
    system: str
    tools: list[Tool]


class TokenUsage(TypedDict):
    """Tokens a call used, as the provider reported them."""

    input_tokens: int
    output_tokens: int


class Attempt(TypedDict):
    """One try of one model during a call; ``outcome`` is ``ok`` or a failure kind."""

    provider: str
    model: str
    outcome: str
    status: int | None
    latency_ms: float
    retry_after_ms: int | None


class Completion(TypedDict):
    """``Llm.complete``'s result, and the last event of a stream."""

    content: list[ContentPart]
    text: str
    finish_reason: FinishReason
    provider: str
    model: str
    response_model: str | None
    usage: TokenUsage
    credits_charged: float
    attempts: list[Attempt]
    trace_id: str
    was_fallback: bool


class TextDelta(TypedDict):
    """More text of a streamed reply."""

    event: Literal["delta"]
    type: Literal["text"]
    text: str


class ToolCallDelta(TypedDict):
    """A tool call begins in a streamed reply."""

    event: Literal["delta"]
    type: Literal["tool_call"]
    index: int
    id: str
    name: str


class ToolArgumentsDelta(TypedDict):
    """More of a streamed tool call's JSON arguments."""

    event: Literal["delta"]
    type: Literal["tool_arguments"]
    index: int
    delta: str


class StreamDone(Completion):
    """The last event of a stream: the completion."""

    event: Literal["done"]


#: An event of ``Llm.stream``: deltas, then ``done``.
StreamEvent = TextDelta | ToolCallDelta | ToolArgumentsDelta | StreamDone


class SummaryRequest(_TaskCall, total=False):
    """The keyword arguments of ``Llm.summarize``; core's instructions when none are given."""

    text: Required[str]
    instructions: str


class Summary(TypedDict):
    """A summary and the call that wrote it."""

    text: str
    completion: Completion | None


class Label(TypedDict, total=False):
    """A label a classifier may choose."""

    name: Required[str]
    description: str


class ClassifyRequest(_TaskCall, total=False):
    """The keyword arguments of ``Llm.classify``: at least two labels, names unique."""

    text: Required[str]
    labels: Required[list[str | Label]]
    instructions: str


class Classification(TypedDict):
    """The label chosen; ``confidence`` is the model's own (0 to 1), when it gave one."""

    label: str
    confidence: float | None
    completion: Completion | None


class EmbedRequest(TypedDict, total=False):
    """The keyword arguments of ``Llm.embed``: ``openai`` and ``text-embedding-3-small``
    unless named; ``timeout`` in seconds, per batch."""

    texts: Required[list[str]]
    provider: str
    model: str
    dimensions: int
    org_id: str
    user_id: str
    trace_id: str
    traceparent: str
    timeout: float


class Embeddings(TypedDict):
    """One vector per text, in order."""

    vectors: list[list[float]]
    dimensions: int
    provider: str
    model: str
    input_tokens: int | None
    attempts: list[Attempt]
    trace_id: str


class TransportRequest(TypedDict):
    """What a transport (``router.llm(transports={provider: send})``) is handed: the provider's
    own request body, as Keel would send it over HTTP, never a streaming one. ``send`` returns
    the reply body (a dict, or an SDK object with ``model_dump()``) or raises the SDK's error."""

    provider: str
    model: str
    operation: Literal["chat", "embeddings"]
    body: dict[str, Any]


class HostSummaryTask(TypedDict):
    """What a summarizer of your own (``conversations.compact(summarizer=fn)``) is handed; it
    returns the summary as text or ``{"text": ...}``, or raises (the error's ``status_code``,
    ``body`` and ``retry-after`` header are read, as a transport's)."""

    text: str
    instructions: str | None


class HostLabel(TypedDict):
    """A label as a classifier of your own is handed it."""

    name: str
    description: str | None


class HostClassifyTask(TypedDict):
    """What a classifier of your own (``skills.message_router(classifier=fn)``) is handed; it
    returns a label name, or ``{"label": ..., "confidence": 0..1}``."""

    text: str
    labels: list[HostLabel]
    instructions: str | None


class HostEmbedTask(TypedDict):
    """What an embedder of your own (``skills.message_router(embedder=fn)``) is handed; it
    returns one vector per text (a list, or ``{"vectors": [...]}``), every one of one length."""

    texts: list[str]
    model: str | None
    dimensions: int | None


MatchedBy = Literal["sequence_trigger", "skill_trigger", "semantic", "llm", "general"]
RouteStage = Literal["rules", "index", "embedding", "llm", "fallback"]
Band = Literal["direct", "with_clarification", "ask_first"]
GeneralIntent = Literal["greeting", "thanks", "help", "yes_no", "feedback"]


class RouteEvidence(TypedDict, total=False):
    """What made a skill a candidate: ``kind`` is ``trigger`` (``pattern``, ``confidence``,
    ``intent``), ``keyword`` (``keyword``) or ``terms`` (``terms``, stemmed)."""

    kind: Required[Literal["trigger", "keyword", "terms"]]
    pattern: str
    confidence: float
    intent: str
    keyword: str
    terms: list[str]


class RouteCandidate(TypedDict):
    """One skill's score for a message."""

    skill_key: str
    sequence: bool
    score: float
    confidence: float
    evidence: list[RouteEvidence]


class RouteEntities(TypedDict, total=False):
    """What a message names."""

    deal: str
    contact: str
    company: str
    competitor: str
    time_reference: str


class RouteDecision(TypedDict):
    """``MessageRouter.route``: the original's ``route``, ``skill_key``, ``confidence``,
    ``matched_by``, ``trace_id``, ``duration_ms``, ``model_override``, and the rest."""

    route: str
    skill_key: str | None
    confidence: float
    matched_by: MatchedBy
    model_override: str | None
    stage: RouteStage
    out_of_scope: bool
    general_intent: GeneralIntent | None
    intent: str | None
    ambiguous: bool
    candidates: list[RouteCandidate]
    evidence: list[RouteEvidence]
    skills_version: str
    entities: RouteEntities
    band: Band
    trace_id: str
    duration_ms: float
    cached: bool


class RouteThresholds(TypedDict, total=False):
    """When a stage's answer is accepted (defaults: the original's constants)."""

    sequence: float
    skill: float
    semantic: float
    ambiguity_margin: float


class _CalibrationRequired(TypedDict):
    bias: float
    score_weight: float
    margin_weight: float


class Calibration(_CalibrationRequired, total=False):
    """The score-to-probability curve (``cover_weight`` defaults to 0)."""

    cover_weight: float


class MessageRouterOptions(TypedDict, total=False):
    """``SkillRegistry.message_router(**options)``."""

    cache_ttl: float
    cache_capacity: int
    thresholds: RouteThresholds
    org_thresholds: dict[str, RouteThresholds]
    calibration: Calibration
    candidates: int
    log: bool
    llm_timeout: float


class RoutingLogRow(TypedDict):
    """A row of ``routing_logs``."""

    created_at: str
    org_id: str
    user_id: str | None
    channel: str
    message_hash: str
    message_snippet: str
    route: str
    skill_key: str | None
    matched_by: str
    stage: str
    confidence: float
    out_of_scope: bool
    cached: bool
    candidates: list[RouteCandidate]
    skills_version: str
    trace_id: str
    latency_us: int


class RouterStats(TypedDict):
    """``MessageRouter.stats()``."""

    routes: int
    cache_hits: int
    index_builds: int
    logged: int
    log_failures: int


class LabelScore(TypedDict):
    """One label's figures in an evaluation."""

    label: str
    support: int
    predicted: int
    correct: int
    precision: float
    recall: float


class RouteMiss(TypedDict):
    """A message routed wrong in an evaluation."""

    message: str
    expected: str
    routed: str
    confidence: float
    candidates: list[tuple[str, float]]
    """The candidates weighed, best first: (skill key, confidence)."""


class RouteEvaluation(TypedDict):
    """``MessageRouter.evaluate``: the figures of a labelled set."""

    total: int
    correct: int
    accuracy: float
    labels: list[LabelScore]
    confusion: list[tuple[str, str, int]]
    out_of_scope_false_accepts: float
    stages: dict[str, float]
    p50_us: float
    p99_us: float
    calibration_error: float
    fitted: Calibration | None
    misses: list[RouteMiss]


class ThresholdOptions(TypedDict, total=False):
    """``ModelRouter.compaction_threshold`` keywords; the defaults are the original's."""

    system_prompt_tokens: int
    """Tokens reserved for the system prompt (default 4,096)."""
    output_tokens: int
    """Tokens reserved for the response (default 8,192)."""
    tools_tokens: int
    """Tokens reserved for tool definitions (default 4,096)."""
    ratio: float
    """The share of what is left a conversation may fill (default 0.75; in (0, 1])."""


class CompactionThreshold(TypedDict):
    """``ModelRouter.compaction_threshold``: a model's threshold and what it came from."""

    model_id: str
    """The model id as the matrix names it."""
    canonical_id: str
    """Its canonical form, what ids are matched by."""
    context_window: int
    reserved_tokens: int
    threshold: int
    """A conversation above this many tokens is compacted."""


#: Where a conversation happens: a web session, a Slack thread, an agent run.
ConversationChannel = Literal["web", "slack", "agent"]


class Conversation(TypedDict):
    """``ConversationStore.start`` and ``get``: a conversation as stored."""

    id: str
    org_id: str
    user_id: str
    channel: ConversationChannel
    channel_ref: str | None
    """The Slack thread's ``ts`` or the agent run's id; ``None`` for a web session."""
    title: str | None
    message_count: int
    total_tokens: int
    """The messages' tokens, summed in the database as they were appended."""
    created_at: str
    updated_at: str


class StoredMessage(TypedDict):
    """``ConversationStore.messages``: one message as stored."""

    seq: int
    role: Literal["system", "user", "assistant", "tool"]
    content: list[ContentPart]
    tokens: int
    tokens_exact: bool
    """False while the count is an estimate."""
    created_at: str


class Appended(TypedDict):
    """``ConversationStore.append``: what one append did."""

    conversation_id: str
    first_seq: int
    last_seq: int
    tokens: list[int]
    message_count: int
    total_tokens: int


class PlanOptions(TypedDict, total=False):
    """``plan_compaction`` keywords: the budgets a compaction works to (the original's defaults)."""

    threshold: int
    """The view must end at or under this many tokens (default 137,712)."""
    recent_tokens: int
    """Tokens of newest turns kept verbatim (default 20,000)."""
    min_recent: int
    """Fewest newest messages kept verbatim while the view fits (default 10)."""
    tool_result_tokens: int
    """Tokens of tool results kept verbatim outside the recent turns; older ones are masked (8,000)."""
    summary_input_tokens: int
    """Most tokens of middle turns sent to the summarizer; older ones go to fact extraction (60,000)."""
    summary_tokens: int
    """Tokens the summary may take (default 1,024)."""
    earlier_summary_tokens: int
    """The tokens of the summary the view already has (default 0)."""


class ContextOptions(TypedDict, total=False):
    """``ConversationStore.context`` keywords: ``threshold``, or ``model`` with ``llm``."""

    threshold: int
    model: str
    """The threshold the model matrix gives this model (needs ``llm``)."""


class CompactOptions(TypedDict, total=False):
    """``ConversationStore.compact`` keywords: ``PlanOptions`` (but ``earlier_summary_tokens``),
    or ``model`` for the threshold (needs ``llm``)."""

    threshold: int
    model: str
    recent_tokens: int
    min_recent: int
    tool_result_tokens: int
    summary_input_tokens: int
    summary_tokens: int
    idempotency_key: str
    """Compacts once per key (default: the conversation's state)."""
    summary_timeout_ms: int
    """How long the summary may take before the compaction trims instead (default 60,000)."""
    summary_provider: str
    """With ``summary_model``: the summary's model (else the router's copilot model, low tier)."""
    summary_model: str


class CompactionPlan(TypedDict):
    """``plan_compaction``: what a compaction of the view would do. Ranges are ``[first, last]`` seqs."""

    action: Literal["none", "mask", "summarize"]
    tokens_before: int
    tokens_after: int
    """After the plan, the summary counted at its full budget."""
    masked: list[int]
    """Messages whose tool results become stubs."""
    summarize: list[int] | None
    facts: list[int] | None
    """The oldest turns, left to fact extraction."""
    keep_from: int | None
    """The first seq kept verbatim."""
    fits: bool


Encoding = Literal["o200k_base", "cl100k_base"]
"""The byte-pair encodings Keel counts exactly."""


class TokenCount(TypedDict):
    """``count_message_tokens`` / ``Llm.count_tokens``: a count and whether it is exact."""

    tokens: int
    exact: bool
    """True for what the provider bills (OpenAI's encodings on text); false for an estimate."""
    encoding: Encoding
    """The encoding counted; under an estimate, the base the factor scales."""
    model: str
    """The model id, canonical (no date, version or provider prefix)."""
    factor: float
    """1 when exact; else the model's calibrated ratio of billed tokens to counted ones."""


class Compaction(TypedDict):
    """A stored compaction: a view over the transcript, never a change to it."""

    conversation_id: str
    number: int
    idempotency_key: str
    method: Literal["mask", "summary", "trim"]
    covered_through: int
    """Every turn up to this seq but system turns is represented by ``summary``."""
    summary: str | None
    masked: list[int]
    summarized: list[int] | None
    facts: list[int] | None
    tokens_before: int
    """The view's tokens before."""
    tokens_after: int
    """The view's tokens after."""
    note: str | None
    """Why the compaction trimmed instead of summarising."""
    created_at: str


class Compacted(TypedDict):
    """``ConversationStore.compact``: what the call did."""

    applied: bool
    """False when the view fitted, or another call or instance had compacted this state (its row)."""
    compaction: Compaction | None
    plan: CompactionPlan


class ContextWindow(TypedDict):
    """``ConversationStore.context``: the messages to send, under the threshold."""

    messages: list[Message]
    tokens: int
    threshold: int
    trimmed: bool
    """True when the view was over the threshold and trimmed on the way out: compact it."""


#: What a cross-channel context row is about.
EntityType = Literal["deal", "contact", "company", "meeting", "task"]


class _ContextKey(TypedDict):
    org_id: str
    user_id: str
    channel: Literal["web", "slack", "agent", "web_copilot", "slack_copilot", "fleet_agent"]
    entity_type: EntityType
    entity_id: str
    summary: str
    """What was said about the entity (at most 4,000 characters)."""


class ContextEntryInput(_ContextKey, total=False):
    """``ConversationStore.upsert_context`` keywords."""

    channel_ref: str | None
    """The Slack thread's ``team/channel/ts``, the agent run's trace id, the web
    conversation's id (an agent's row defaults to ``agent_name``)."""
    entity_name: str | None
    """The entity's name as mentioned; the read path matches a message's names against it."""
    agent_name: str | None
    """The fleet agent that wrote the row (channel ``agent``): one row per agent and entity."""


class ContextEntry(TypedDict):
    """A cross-channel context row (channels as the platform stores them)."""

    org_id: str
    user_id: str
    channel: str
    channel_ref: str | None
    entity_type: EntityType
    entity_id: str
    summary: str
    entity_name: NotRequired[str]
    agent_name: NotRequired[str]
    last_updated: str


class ContextQuery(TypedDict, total=False):
    """``ConversationStore.context_for_user`` keywords."""

    message: str
    """The message being answered: its names rank the rows (none: by recency only)."""
    channel: Literal["web", "slack", "agent"]
    """Where the user asks from."""
    channel_ref: str
    """That conversation's reference: its own rows are left out."""


class Forgotten(TypedDict):
    """``ConversationStore.forget_context``: the rows removed across channels."""

    entity_type: EntityType
    entity_id: str
    removed: int


class ScoredContext(TypedDict):
    """A row the read path chose: 2 per entity term found, 3 under a day old, 1 under three."""

    entry: ContextEntry
    score: int
    matched: list[str]


class PriorContext(TypedDict):
    """``ConversationStore.prior_context`` and ``format_prior_context``."""

    terms: list[str]
    """The entity terms read from the message."""
    entries: list[ScoredContext]
    block: str | None
    """The "## Prior Conversation Context" block for the prompt (at most 8,000 characters)."""


#: What a fact is about (the original's five categories).
FactCategory = Literal["deal", "relationship", "preference", "commitment", "fact"]


class _NewFactRequired(TypedDict):
    category: FactCategory
    subject: str
    """Whom or what it concerns, in a few words (at most 200 characters)."""
    content: str
    """The fact itself (at most 2,000 characters)."""


class NewFact(_NewFactRequired, total=False):
    """A fact for ``ConversationStore.add_facts``."""

    confidence: float
    """0 to 1 (default 1)."""
    conversation_id: str | None
    source_seqs: list[int]
    """The seqs of the messages it came from."""
    deal_name: str | None
    contact_name: str | None
    company_name: str | None
    deal_id: str | None
    """The platform's id (linked through ``link`` or ``entity_sql`` when absent)."""
    contact_id: str | None
    company_id: str | None
    observed_at: str | None
    """When it was said, RFC 3339 (default: now)."""
    expires_at: str | None
    supersedes: str | None
    """The id of the user's live fact it replaces (kept, marked superseded)."""


class Fact(TypedDict):
    """A stored fact."""

    id: str
    org_id: str
    user_id: str
    category: FactCategory
    subject: str
    content: str
    confidence: float
    conversation_id: str | None
    source_seqs: list[int]
    deal_name: str | None
    contact_name: str | None
    company_name: str | None
    deal_id: str | None
    contact_id: str | None
    company_id: str | None
    observed_at: str
    created_at: str
    expires_at: str | None
    superseded_by: str | None
    superseded_at: str | None
    access_count: int
    last_accessed_at: str | None


class EntitySql(TypedDict, total=False):
    """One statement per kind: ``$1`` org id, ``$2`` user id, ``$3`` the name as an escaped
    ``LIKE`` pattern (``ESCAPE '\\'``), ``$4`` the name; the id in the first column."""

    deal: str
    contact: str
    company: str


class AddFactsOptions(TypedDict, total=False):
    """``ConversationStore.add_facts`` keywords."""

    idempotency_key: str
    entity_sql: EntitySql


class FactQuery(TypedDict, total=False):
    """``ConversationStore.facts`` keywords."""

    category: FactCategory
    include_superseded: bool
    limit: int


class RecallQuery(TypedDict, total=False):
    """``ConversationStore.recall`` keywords."""

    limit: int
    """1 to 100 (default 10)."""
    categories: list[FactCategory]
    record_access: bool
    """Count this recall in each fact returned (default True)."""


class RecalledFact(TypedDict):
    """A fact and its score: BM25 × recency × access × confidence."""

    fact: Fact
    score: float
    bm25: float
    recency: float
    access: float


class Recall(TypedDict):
    """``ConversationStore.recall``."""

    facts: list[RecalledFact]
    terms: list[str]
    """The query's distinct terms (stemmed)."""
    candidates: int
    exact: bool
    """True when no fact left unscored could have ranked among these."""
    block: str
    """The "## Relevant Memories" block for the prompt ("" for none)."""


class ExtractOptions(TypedDict, total=False):
    """``ConversationStore.extract_facts`` keywords."""

    range: list[int]
    """``[first, last]`` seqs (default: the latest compaction's fact range, else all)."""
    idempotency_key: str
    provider: str
    model: str
    input_tokens: int
    timeout_ms: int
    entity_sql: EntitySql


class ExtractedFact(TypedDict):
    category: FactCategory
    subject: str
    content: str
    confidence: float
    source_seqs: list[int]
    deal_name: str | None
    contact_name: str | None
    company_name: str | None
    supersedes: int | None
    """The index of the known fact it replaces."""


class RejectedFact(TypedDict):
    """An item of the model's answer that was refused."""

    index: int | None
    field: str
    reason: str


class ExtractionReading(TypedDict):
    """``read_fact_extraction``."""

    facts: list[ExtractedFact]
    rejected: list[RejectedFact]
    below_confidence: int


class Extracted(TypedDict):
    """``ConversationStore.extract_facts``."""

    applied: bool
    idempotency_key: str
    range: list[int] | None
    facts: list[Fact]
    superseded: list[str]
    rejected: list[RejectedFact]
    below_confidence: int


ErrorKind = Literal[
    "transient", "rate_limited", "timeout", "context_exceeded", "model_unavailable", "validation", "unknown"
]
"""The kind of a failure, which picks its retry policy."""

LetterStatus = Literal["pending", "retrying", "accepted", "resolved", "abandoned"]
"""Where a dead letter is."""


class FailureInfo(TypedDict, total=False):
    """A failure as ``classify_failure`` reads it; the more structure, the surer the kind."""

    message: str
    kind: ErrorKind | None
    """The kind the thrower chose; wins over everything else."""
    code: str | None
    """Keel's error code (``rate_limited``, ``timeout``, …)."""
    status: int | None
    error_type: str | None
    """The provider's error type; read from ``body["error"]["type"]`` when absent."""
    body: Any
    retry_after: str | None
    """Seconds or an HTTP date."""
    timeout: bool
    connection: bool


class Classified(TypedDict):
    """``classify_failure``."""

    kind: ErrorKind
    retry_after_ms: int | None
    by: str
    """What decided: ``kind``, ``code``, ``timeout``, ``connection``, ``status``, ``error_type``,
    ``message`` or ``none``."""


class Backoff(TypedDict, total=False):
    """A capped exponential backoff with jitter."""

    base_ms: int
    factor: float
    cap_ms: int
    jitter: Literal["full", "equal", "none"]


class KindPolicy(TypedDict, total=False):
    """The attempts and backoff of one kind of failure."""

    max_attempts: Required[int]
    backoff: Backoff


class RetryPolicy(TypedDict, total=False):
    """Retries per kind of failure (the original runner's table by default)."""

    max_attempts: int
    """Attempts of a run in all (default 4)."""
    kinds: dict[ErrorKind, KindPolicy]


class Delays(TypedDict):
    """``retry_delays``."""

    ceilings: list[int]
    delays: list[int]
    max_attempts: int | None


class Failed(TypedDict, total=False):
    """One failure in a dead letter's history."""

    at: str
    """RFC 3339 (default: now)."""
    kind: ErrorKind
    message: Required[str]
    status: int | None
    attempt: int
    """The run's attempt (default 1), or the retry (from 1) when ``worker`` is set."""
    worker: str | None


class NewDeadLetter(TypedDict, total=False):
    """A letter for ``DeadLetters.enqueue``."""

    agent_name: Required[str]
    trigger_type: str | None
    """``cron``, ``webhook``, ``user``, ``proactive``, … (default ``agent``)."""
    payload: Any
    """What a retry replays."""
    org_id: str | None
    """A UUID, or any other id (``system``), kept as given."""
    user_id: str | None
    trace_id: str | None
    errors: Required[list[Failed]]
    """The run's failures, oldest first; at least one."""
    max_retries: int | None
    """1 to 100 (default 3)."""
    idempotency_key: str | None
    delay_ms: int | None
    """The first retry after this many milliseconds (default 60,000; at most 30 days)."""
    steps: dict[str, Any]
    """Outputs of the steps the failed run completed, by name (the replay skips them)."""


class DeadLetter(TypedDict):
    """A stored dead letter."""

    id: str
    agent_name: str
    trigger_type: str
    payload: Any
    org_id: str | None
    user_id: str | None
    trace_id: str | None
    status: LetterStatus
    failure_reason: str
    error_kind: ErrorKind | None
    errors: list[Failed]
    retry_count: int
    max_retries: int
    next_retry_at: str
    locked_by: str | None
    locked_until: str | None
    fencing_token: int
    abandoned_reason: str | None
    idempotency_key: str | None
    created_at: str
    updated_at: str
    resolved_at: str | None
    steps: dict[str, Any]
    """Outputs of the steps the failed run completed, by name."""


class LetterQuery(TypedDict, total=False):
    """``DeadLetters.list``, newest first."""

    status: list[LetterStatus]
    agent_name: str | None
    org_id: str | None
    since: str | None
    """RFC 3339."""
    limit: int
    """1 to 1,000 (default 100)."""


class Replay(TypedDict):
    """What a dead-letter handler receives."""

    id: str
    agent_name: str
    trigger_type: str
    payload: Any
    org_id: str | None
    user_id: str | None
    trace_id: str | None
    retry: int
    """1 for the first retry."""
    idempotency_key: str
    """``dlq:<id>``, the same for every retry of the letter."""
    steps: dict[str, Any]
    """Outputs of the steps the failed run completed: pass them as ``AgentConfig.steps``."""


class WorkerOptions(TypedDict, total=False):
    """``DeadLetters.work_once``."""

    worker_id: str | None
    agents: list[str] | None
    batch: int
    """Letters claimed at once (default 20)."""
    lease_ms: int
    """Default 15,000."""
    heartbeat_ms: int | None
    """Default: a third of ``lease_ms``."""
    poll_ms: int
    handler_timeout_ms: int
    """Default 60,000."""
    accept_wait_ms: int
    """How long an accepted letter waits for ``resolve`` (default 15 min)."""
    backoff: Backoff
    policy: RetryPolicy
    seed: int | None
    url: str | None
    """Post letters here instead of calling a handler."""
    headers: dict[str, str]


class WorkReport(TypedDict):
    """``DeadLetters.work_once``."""

    claimed: int
    resolved: int
    accepted: int
    retrying: int
    abandoned: int
    lost: int
    """Whose lease another worker took before the outcome was recorded."""


class RetryDelaysInput(TypedDict, total=False):
    """``retry_delays``."""

    kind: ErrorKind | None
    policy: RetryPolicy
    backoff: Backoff | None
    """Default: the dead-letter backoff, min(1 min × 4^n, 1 h) with equal jitter."""
    retries: Required[int]
    seed: Required[int]
    retry_after_ms: int | None


RunStatus = Literal["running", "completed", "failed", "partial", "budget_exceeded"]


class AgentConfig(TypedDict, total=False):
    """``Keel.run_agent``: the original ``AgentConfig`` and what it lacked."""

    agent_name: Required[str]
    user_id: str | None
    """A UUID, or any other id (``system``), kept as given."""
    org_id: str | None
    trace_id: str | None
    traceparent: str | None
    allow_partial_results: bool
    """When the budget stops the run, keep the completed steps' outputs (``partial``)."""
    max_retries: int | None
    """0 to 99: every kind but validation gets ``max_retries + 1`` attempts."""
    policy: RetryPolicy
    """Attempts and backoff per failure kind (default: the original's table)."""
    execution_type: str
    """Default ``fleet_agent``."""
    triggered_by: str | None
    idempotency_key: str | None
    """Runs once per (agent, key); a second run answers with the first's result."""
    attempt_timeout_ms: int
    """Default 120,000."""
    deadline_ms: int
    """The whole run, waits included (default 600,000)."""
    budget: float | None
    """Credits the run may spend (default: the agent's ``FLEET_AGENT_BUDGETS`` entry)."""
    payload: Any
    """What a dead letter replays."""
    trigger_type: str | None
    dead_letter: bool
    """A run that fails for good becomes a dead letter (default True)."""
    steps: dict[str, Any]
    """Outputs of steps a previous run completed (a dead letter's ``steps``)."""
    seed: int | None


class AgentResult(TypedDict):
    """How a run ended (``Keel.run_agent``)."""

    success: bool
    data: Any
    partial: bool
    """The budget stopped the run; ``steps`` holds what the completed steps made."""
    error: str | None
    error_kind: ErrorKind | None
    status: RunStatus
    trace_id: str
    execution_id: str
    duration_ms: int
    credits_consumed: float
    tokens_consumed: int
    retries_used: int
    attempts: int
    steps: dict[str, Any]
    errors: list[Failed]
    dead_letter_id: str | None
    deduplicated: bool
    """An earlier run with the same idempotency key answered."""


class Execution(TypedDict):
    """An ``agent_executions`` row (``Runs.get``, ``Runs.list``)."""

    id: str
    trace_id: str
    agent_name: str
    execution_type: str
    triggered_by: str | None
    started_at: str
    completed_at: str | None
    deadline_at: str | None
    status: RunStatus
    attempts: int
    items_emitted: int
    items_processed: int
    model_id: str | None
    model_was_fallback: bool
    tokens_consumed: int
    credits_consumed: float
    error_message: str | None
    error_kind: ErrorKind | None
    error_history: list[Failed]
    steps: dict[str, Any]
    output: Any
    metadata: dict[str, Any]
    user_id: str | None
    org_id: str | None
    idempotency_key: str | None


class RunQuery(TypedDict, total=False):
    """``Runs.list``, newest first."""

    status: list[RunStatus]
    agent_name: str | None
    org_id: str | None
    trace_id: str | None
    since: str | None
    limit: int


class SweepOptions(TypedDict, total=False):
    """``Runs.sweep``."""

    grace_ms: int
    """How long past its deadline a run may still be running (default 60,000)."""
    stale_after_ms: int
    """For rows without a deadline (default 3,600,000)."""


class KindAttempts(TypedDict):
    """The attempts one kind of failure gets."""

    kind: ErrorKind
    max_attempts: int


class ResolvedConfig(TypedDict):
    """``keel.agent_config``: a config as a run reads it."""

    agent_name: str
    execution_type: str
    trigger_type: str
    attempt_timeout_ms: int
    deadline_ms: int
    budget: float
    max_attempts: int
    kinds: list[KindAttempts]
    dead_letter: bool
    allow_partial_results: bool


# --- Backpressure: the Command Centre queue and rate limits (keel::flow) ---------------------

#: Where an item is in enrichment.
ItemState = Literal["pending", "processing", "enriched", "failed", "skipped"]
#: How the queue takes load.
QueueMode = Literal["normal", "batch", "throttle", "shed"]


class NewItem(TypedDict, total=False):
    """``Queue.enqueue``: the original table's columns, a lane and a not-before time."""

    org_id: Required[str]
    """A UUID."""
    source_agent: Required[str]
    item_type: Required[str]
    title: Required[str]
    user_id: str | None
    source_event_id: str | None
    summary: str | None
    context: dict[str, Any]
    """Kept as given (default ``{}``)."""
    priority_score: float | None
    urgency: Literal["critical", "high", "normal", "low"] | None
    deal_id: str | None
    contact_id: str | None
    queue_priority: int | None
    """The lane, 0 (critical) to 3 (low); default 2."""
    delay_ms: int | None
    """Not before this many milliseconds from now."""


class QueueItem(TypedDict):
    """A claimed or stored item."""

    id: str
    org_id: str
    user_id: str | None
    source_agent: str
    item_type: str
    title: str
    context: Any
    deal_id: str | None
    contact_id: str | None
    queue_priority: int
    queued_at: str
    enrichment_status: ItemState
    processing_started_at: str | None
    processing_attempts: int
    lease_owner: str | None
    lease_token: int
    """Name it in ``complete``, ``fail``, ``defer`` and ``extend``."""
    lease_expires_at: str | None
    failure_reason: str | None
    enrichment_context: Any | None
    enriched_at: str | None
    created_at: str


class Shedding(TypedDict, total=False):
    """When the queue batches, throttles and sheds."""

    batch_depth: int
    """Batch mode past this many due items in a lane (default 20)."""
    throttle_depth: int
    """Default 2,000."""
    throttle_wait_ms: int
    shed_depth: int
    """Default 10,000."""
    shed_wait_ms: int
    throttle_delay_ms: int
    retry_after_ms: int
    refresh_ms: int


class FanIn(TypedDict, total=False):
    """What one batch may span."""

    deals: int
    """Default 10."""
    events: int
    """Default 200."""


class QueueOptions(TypedDict, total=False):
    """``db.queue``."""

    lease_ms: int
    """Default 30,000."""
    aging_ms: int
    """A waiting item moves up one lane per this much wait (default 60,000)."""
    max_attempts: int
    """Default 5."""
    retry_delay_ms: int
    org_in_flight: int | None
    max_in_flight: int | None
    shedding: Shedding
    fan_in: FanIn


class ClaimOptions(TypedDict, total=False):
    """``Queue.claim``."""

    n: int
    """1 to 1,000 (default 10)."""
    lanes: list[int] | None


class EntityGroup(TypedDict):
    """The items of one entity in a batch."""

    entity: Literal["deal", "contact", "none"]
    id: str | None
    items: list[QueueItem]


class Batch(TypedDict):
    """``Queue.claim_batch``."""

    mode: QueueMode
    groups: list[EntityGroup]
    deal_ids: list[str]
    contact_ids: list[str]
    fan_in: FanIn


class LaneHealth(TypedDict):
    """One lane's backlog."""

    lane: int
    depth: int
    delayed: int
    oldest_wait_ms: int


class QueueHealth(TypedDict):
    """``Queue.health``."""

    lanes: list[LaneHealth]
    depth: int
    in_flight: int
    oldest_wait_ms: int
    claimed_last_minute: int
    completed_last_minute: int
    failed_last_minute: int
    mode: QueueMode


class SweepReport(TypedDict):
    """``Queue.sweep``."""

    requeued: int
    failed: int


class Lease(TypedDict):
    """A claimed item's lease."""

    id: str
    lease_token: int


class Claimed(TypedDict):
    """``Queue.claim_after``: the finished items completed, and the next batch."""

    completed: list[str]
    items: list[QueueItem]


class QueueWorkerOptions(TypedDict, total=False):
    """``Queue.work``."""

    worker_id: str | None
    concurrency: int
    """Handlers at once (default 5)."""
    batch: int | None
    lanes: list[int] | None
    poll_ms: int


class QueueWorkerReport(TypedDict):
    """``Queue.work``."""

    claimed: int
    completed: int
    deferred: int
    failed: int
    lost: int


class Limit(TypedDict, total=False):
    """At most ``limit`` in any window of ``period_ms``, ``burst`` at once."""

    limit: Required[int]
    period_ms: int
    """Default 60,000."""
    burst: int
    """Default 1."""


class KeyLimit(Limit):
    """One key of an acquisition."""

    key: Required[str]


class ProviderLimit(Limit):
    """One provider's limit, for every org or for one (over the defaults: hubspot 8, calendar
    10, slack 5 a minute)."""

    provider: Required[str]
    org_id: str | None


class Acquisition(TypedDict, total=False):
    """``LocalLimiter.acquire``: keys, and/or an org and the providers its item calls."""

    keys: list[KeyLimit]
    org_id: str | None
    providers: list[str]
    limits: list[ProviderLimit]


class Decision(TypedDict):
    """What a limiter decided."""

    allowed: bool
    limit: int
    remaining: int
    retry_after_ms: int
    reset_after_ms: int
    key: str | None
    """For several keys: the one that denied."""


class Decided(TypedDict):
    """``keel.rate_limit_decide``: one GCRA decision and the TAT it leaves."""

    decision: Decision
    tat_ms: float


class MinHashOptions(TypedDict, total=False):
    """``keel.minhash`` / ``MinHasher``: how signatures are made."""

    num_perm: int
    """Permutations, 16 to 1,024 (default 128)."""
    shingle_words: int
    """Words per shingle, 1 to 8 (default 3)."""
    seed: int
    """The permutations' seed (default 1); only equal seeds compare."""


class LshOptions(TypedDict, total=False):
    """``MinHashLsh``: the threshold and the signatures' permutations."""

    threshold: float
    """A near-duplicate's Jaccard similarity, between 0 and 1 exclusive (default 0.8)."""
    num_perm: int
    """The permutations of the signatures it holds (default 128)."""


class Similar(TypedDict):
    """``MinHashLsh.query``: a near-duplicate's key and estimated Jaccard similarity."""

    key: str
    jaccard: float


class SlackOptions(TypedDict, total=False):
    """``Keel.slack``: the bot token and how Slack is reached."""

    token: Required[str]
    """The bot token (``xoxb-…``); sent in the ``Authorization`` header only, never shown."""
    base_url: str
    """The API's base URL (default ``https://slack.com/api``); https, or http on loopback."""
    workspace: str
    """The workspace the method tiers are kept for (its team id; default ``default``)."""
    max_retries: int
    """Retries of a 429, a 5xx or a broken connection (default 5)."""
    max_wait_ms: int
    """The longest wait for one ``Retry-After`` or limiter turn (default 60,000)."""
    timeout_ms: int
    """How long one request may take (default 30,000)."""


class SlackRepliesPage(TypedDict):
    """``Slack.replies_page``: a page of a thread's messages."""

    messages: list[dict[str, Any]]
    next_cursor: str | None


class SlackPosted(TypedDict):
    """``Slack.post_message`` / ``Slack.update``: where the message is."""

    channel: str
    ts: str


class SlackUser(TypedDict):
    """``Slack.user``: a user as ``users.info`` describes them."""

    id: str
    name: str
    display_name: str
    """The profile's display name, else the real name, else the handle."""
    real_name: str | None
    is_bot: bool
    deleted: bool
    team_id: str | None
    email: str | None


class SlackMessage(TypedDict):
    """A Slack message as Keel keeps it."""

    ts: str
    thread_ts: str | None
    user: str | None
    bot_id: str | None
    role: Literal["user", "assistant"]
    """``assistant`` for Keel's own bot (``bot_user_id``), ``user`` for everyone else."""
    text: str
    """``text``, else its blocks' text; each file named on a line of its own."""
    edited_ts: str | None
    files: list[str]


class SlackSkipped(TypedDict):
    """An event that is not a message, and why."""

    index: int
    reason: str


class SlackIngested(TypedDict):
    """``keel.slack_ingest``: messages oldest first, each ``ts`` once, edits applied,
    deletions removed; what was skipped and why."""

    messages: list[SlackMessage]
    deleted: list[str]
    edits: int
    skipped: list[SlackSkipped]


class SlackThreadOptions(TypedDict, total=False):
    """``Keel.slack_threads``: when extraction is due."""

    extract_after_messages: int
    """Due once this many messages arrived since the watermark (default 10)."""
    quiet_ms: int
    """Due once the thread has been quiet this long (default 900,000: 15 minutes)."""


class SlackThreadKey(TypedDict, total=False):
    """``SlackThreads.get_or_create`` keywords (the original's ``getOrCreateThread``)."""

    org_id: Required[str]
    user_id: Required[str]
    """The platform user the copilot answers (the thread keeps its first)."""
    slack_team_id: Required[str]
    slack_channel_id: Required[str]
    slack_thread_ts: Required[str]
    """The thread's parent message ``ts`` (``1733220000.000100``)."""
    title: str


class SlackActiveEntities(TypedDict):
    deal_id: str | None
    contact_id: str | None
    company_id: str | None
    meeting_id: str | None


class SlackThread(TypedDict):
    """A Slack copilot thread (the original's ``slack_copilot_threads`` row)."""

    id: str
    org_id: str
    user_id: str
    slack_team_id: str
    slack_channel_id: str
    slack_thread_ts: str
    conversation_id: str
    """Its conversation in the memory store (channel ``slack``)."""
    title: str | None
    message_count: int
    last_message_at: str
    context: dict[str, Any]
    """What extraction concluded: ``summary``, ``entities``, ``through``."""
    active: SlackActiveEntities
    loaded_context: dict[str, Any] | None
    turns: list[dict[str, Any]]
    """The last 20 turns: ``intent``, ``credits``, ``action``, ``at``."""
    intents_used: list[str]
    credits_consumed: float
    actions_taken: list[dict[str, Any]]
    extracted_through: int
    """The watermark: the last seq extraction read."""
    extracted_at: str | None
    extraction_due_at: str | None
    extraction_attempts: int
    extraction_error: str | None
    created_at: str
    updated_at: str


class SlackThreadMessage(TypedDict, total=False):
    """A message for ``SlackThreads.add_messages``."""

    slack_ts: Required[str]
    """Its Slack ``ts``: a thread stores each once, so a redelivered event is skipped."""
    role: Required[Literal["user", "assistant"]]
    text: Required[str]
    slack_user: str
    intent: str
    metadata: dict[str, Any]


class SlackThreadAppend(TypedDict):
    """``SlackThreads.add_messages``."""

    thread_id: str
    added: int
    duplicates: int
    seqs: list[int] | None
    message_count: int
    extraction_due: bool
    """True when enough messages wait past the watermark."""
    extraction_due_at: str | None


class SlackThreadIngest(SlackThreadAppend):
    """``SlackThreads.ingest``: the append, and what the payload held besides new messages."""

    deleted: list[str]
    edits: int
    skipped: list[SlackSkipped]


class SlackThreadHistoryItem(TypedDict):
    """A message of ``SlackThreads.history`` (the original's ``loadThreadHistory``)."""

    seq: int
    role: Literal["user", "assistant"]
    content: str
    slack_ts: str
    slack_user: str | None
    intent: str | None
    metadata: dict[str, Any]
    created_at: str


class ExtractThreadOptions(TypedDict, total=False):
    """``SlackThreads.extract`` / ``SlackThreads.sweep`` keywords."""

    provider: str
    """With ``model``: an explicit model instead of the router's enrichment, low tier."""
    model: str
    transcript_tokens: int
    """The most tokens of messages the model reads (default 3,000)."""
    timeout_ms: int
    """How long the model may take (default 60,000)."""
    limit: int
    """``sweep``: the most threads (default 100)."""
    lease_ms: int
    """``sweep``: how long a claimed thread is this sweep's (default 300,000)."""
    entity_sql: EntitySql
    """Statements that resolve entities when no ``link`` callback is given."""


class ThreadEntity(TypedDict):
    entity_type: Literal["deal", "contact", "company"]
    name: str
    entity_id: str | None
    """The platform's id when the linker found it; else the name is kept as text."""


class ThreadExtraction(TypedDict):
    """One thread's extraction."""

    thread_id: str
    status: Literal["extracted", "nothing_new", "failed"]
    range: list[int] | None
    extracted_through: int
    summary: str | None
    entities: list[ThreadEntity]
    contexts_written: int
    error: str | None
    """Why it failed (the watermark stayed; it is due again later)."""


class ThreadReading(TypedDict):
    """``keel.read_thread_context``: a model's answer read strictly."""

    summary: str
    entities: list[dict[str, str]]
    """Each ``entity_type`` (deal, contact, company) and ``name``."""
    dropped: list[str]
    """Entities of the answer dropped, and why (``entities[2]: …``)."""


class TranscriptMessage(TypedDict):
    """A message as ``keel.thread_transcript`` reads it."""

    seq: int
    role: Literal["user", "assistant"]
    text: str
    tokens: int


class ThreadTranscript(TypedDict):
    """``keel.thread_transcript``: the text the model reads and the seqs it covers."""

    text: str
    range: list[int] | None


class ThreadSweep(TypedDict):
    """``SlackThreads.sweep``."""

    claimed: int
    extracted: int
    nothing_new: int
    failed: int
    threads: list[ThreadExtraction]


#: An agent's health, worst last.
HealthStatus = Literal["healthy", "warning", "stale", "critical"]


class _AgentMetricsRequired(TypedDict):
    agent_name: str
    runs: int
    """Runs started in the window."""
    finished: int
    """Runs in the window that ended."""
    failed: int
    """Runs in the window that failed (``partial`` and ``budget_exceeded`` are not failures)."""


class AgentMetrics(_AgentMetricsRequired, total=False):
    """``keel.agent_status``: an agent's metrics over its window."""

    cadence_ms: int | None
    """Its expected cadence; none when it is not in the agent registry."""
    last_success_at: str | None
    """Its latest success ever (RFC 3339)."""
    stuck: int
    """Runs still running past their deadline."""
    dead_letters: int
    open_breakers: list[str]
    """``provider/model`` of the models it uses whose circuit is open."""


class AgentStatus(TypedDict):
    """``keel.agent_status``: the worst status a rule gave and every reason, worst first."""

    agent_name: str
    status: HealthStatus
    reasons: list[str]
    failure_rate: float | None
    """Failed over finished runs, in percent to two decimals."""


class AlertState(TypedDict, total=False):
    """What an agent's alerts last said."""

    notified: HealthStatus | None
    notified_at: str | None


class AlertDecision(TypedDict):
    """``keel.next_alert``: the notice to send (``raised``, ``reminder``, ``recovered``) and the
    state to store."""

    notify: Literal["raised", "reminder", "recovered"] | None
    state: AlertState
    held: str | None
    """Why an alert was held back (``cooldown``)."""


AlertKind = Literal["raised", "reminder", "recovered"]
"""What a fleet notice says."""


class _FleetNoticeRequired(TypedDict):
    agent_name: str
    kind: AlertKind
    status: HealthStatus
    window_ms: int
    """The window the metrics cover."""
    runs: int
    dead_letters: int
    at: str
    """When the health run judged it (RFC 3339)."""


class FleetNotice(_FleetNoticeRequired, total=False):
    """``keel.fleet_alert_message``: what a notice says about one agent."""

    reasons: list[str]
    description: str
    """The registry's description (empty when unregistered)."""
    last_success_at: str | None
    failure_rate: float | None


class SlackWebhookPayload(TypedDict):
    """A Slack incoming-webhook payload: fallback ``text`` and Block Kit ``blocks``."""

    text: str
    blocks: list[dict[str, Any]]


class FleetOptions(TypedDict, total=False):
    """``Keel.fleet``: where alerts go and how often."""

    webhook_url: str | None
    """The Slack incoming webhook (https, or http on loopback); default the first of
    ``SLACK_PLATFORM_OPS_WEBHOOK``, ``PLATFORM_ALERTS_SLACK_WEBHOOK``, ``SLACK_WEBHOOK_URL``."""
    cooldown_ms: int
    """No new notice within this long of the last unless worse (default 900,000)."""
    renotify_ms: int
    """A persisting status is told again after this long (default 14,400,000)."""
    timeout_ms: int
    """One webhook request, or one ``on_alert`` call (default 10,000)."""
    deliver_within_ms: int
    """How long a health run spends delivering after its snapshots (default 30,000)."""
    max_attempts: int
    """Attempts before a notice is marked failed (default 8)."""
    webhook_limit: Limit
    """The webhook's rate, shared by every instance (default 1 per second)."""


class FleetAgent(TypedDict):
    """An agent in the registry."""

    agent_name: str
    cadence_ms: int
    schedule: str | None
    """The cron schedule the cadence was read from."""
    description: str
    models: list[str]
    """``provider/model`` it depends on: an open circuit on one makes it critical."""
    stuck_after_ms: int
    enabled: bool
    created_at: str
    updated_at: str


class AgentSpec(TypedDict, total=False):
    """``Fleet.set_agent`` keywords: an absent one keeps what is stored; a new agent needs
    ``cadence_ms`` or ``schedule`` (cron, five fields, UTC)."""

    cadence_ms: int | None
    schedule: str | None
    description: str | None
    models: list[str] | None
    stuck_after_ms: int | None
    enabled: bool | None


class AgentHealth(TypedDict):
    """One agent of a health run or of the status (the original's fields first)."""

    name: str
    status: HealthStatus
    reasons: list[str]
    last_success_at: str | None
    failure_rate_24h: float | None
    """Over the agent's window (24 h or two cadences, ``window_ms``)."""
    alerts_fired: int
    alert: AlertKind | None
    alert_held: str | None
    registered: bool
    cadence_ms: int | None
    window_ms: int
    runs: int
    failed: int
    p50_duration_ms: int | None
    p95_duration_ms: int | None
    avg_duration_ms: int | None
    credits_consumed: float
    tokens_consumed: int
    stuck_runs: int
    dead_letters: int
    open_breakers: list[str]


class FleetSummary(TypedDict):
    """Agents per status."""

    healthy: int
    warning: int
    critical: int
    stale: int


class FleetStatus(TypedDict):
    """``Fleet.status``: the fleet now, read only."""

    checked_at: str
    summary: FleetSummary
    agents: list[AgentHealth]


class DeliveryReport(TypedDict):
    """``Fleet.deliver``, and a health run's delivery."""

    delivered: int
    retrying: int
    failed: int
    left: int
    errors: list[str]


class FleetHealth(FleetStatus):
    """``Fleet.check_fleet_health``: the original's response shape, and the run."""

    ok: bool
    total_alerts_fired: int
    run_id: str
    delivery: DeliveryReport


class FleetAlert(TypedDict):
    """A notice in the outbox, as ``on_alert`` receives it (``id`` is stable across
    attempts)."""

    id: str
    agent_name: str
    kind: AlertKind
    status: HealthStatus
    reasons: list[str]
    message: SlackWebhookPayload
    attempts: int
    created_at: str
    delivery: Literal["pending", "sending", "delivered", "failed"]
    last_error: str | None
    delivered_at: str | None


class SnapshotPoint(TypedDict):
    """One snapshot, as the report charts it."""

    agent_name: str
    at_ms: int
    status: HealthStatus
    runs: int
    failures: int
    failure_rate: float | None
    p50_duration_ms: int | None
    p95_duration_ms: int | None
    credits: float | None
    dead_letters: int
    stuck_runs: int


class FleetReport(TypedDict):
    """``Fleet.report``: the fleet now and each agent's snapshots over the period."""

    status: FleetStatus
    period_ms: int
    series: dict[str, list[SnapshotPoint]]


Verdict = Literal["primary", "merged", "near_merged", "superseded", "in_flight"]


class DedupOptions(TypedDict, total=False):
    """``Keel.dedup``: the merge window, near-duplicates and their threshold."""

    window_ms: int
    """How long a primary absorbs newcomers with its key (default 4 h)."""
    near_duplicates: bool
    """Whether near-duplicates by MinHash over title and summary merge too (default true)."""
    threshold: float
    """A near-duplicate's Jaccard similarity (default 0.8)."""


class Checked(TypedDict):
    """``Dedup.check`` / ``Dedup.enqueue``: what a check did with an item."""

    id: str
    verdict: Verdict
    primary_id: str | None
    dedup_key: str
    jaccard: float | None
    """The estimated Jaccard similarity with a near-duplicate primary."""
    escalated: bool
    """Whether this merge escalated the primary one lane (once, at the third agent)."""
    merged_confidence: float | None


class Scored(TypedDict):
    """``Dedup.score``: the post-scoring merge."""

    id: str
    primary_id: str | None
    merged_confidence: float | None
    approved: bool


class DedupMember(TypedDict):
    """One member of a group."""

    id: str
    status: str
    is_primary: bool
    confidence_score: float | None
    resolution_channel: str | None


class DedupGroup(TypedDict):
    """``Dedup.group``: a group as its primary stores it, with its members."""

    primary_id: str
    status: str
    dedup_key: str | None
    open: bool
    merged_confidence: float | None
    contributing_agents: list[str]
    merged_evidence: list[dict[str, Any]]
    merged_from: list[str]
    queue_priority: int
    members: list[DedupMember]


class DedupSweep(TypedDict):
    """``Dedup.sweep``: what the sweep did (or, dry, would do)."""

    dry_run: bool
    windows_closed: int
    checked: int
    suppressed: int
    groups_merged: int
    primaries: int
    resigned: int
    """Open primaries whose signature was missing or of another version, signed again."""


class DedupKeyItem(TypedDict, total=False):
    """``keel.dedup_key``: the parts of an item's key."""

    org_id: Required[str]
    user_id: str | None
    item_type: Required[str]
    deal_id: str | None
    contact_id: str | None
    context: dict[str, Any]


class MergeReport(TypedDict, total=False):
    """``keel.merge_reports``: one report joining a group."""

    id: Required[str]
    agent: Required[str]
    confidence_score: float | None
    context: dict[str, Any]


class MergeGroup(TypedDict):
    """A group's merged state."""

    merged_confidence: float | None
    contributing_agents: list[str]
    merged_evidence: list[dict[str, Any]]
    merged_from: list[str]
    queue_priority: int


class Merged(TypedDict):
    """``keel.merge_reports``: the group and, per joining report, whether it escalated."""

    group: MergeGroup
    escalated: list[bool]


class PartitionChange(TypedDict):
    """What ``maintain_partitions`` did to one partition (PostgreSQL)."""

    table: str
    """The partitioned table: ``system_logs_debug`` … ``system_logs_error``, ``agent_executions``."""
    partition: str
    """``<table>_pYYYYMMDD``, the UTC start of its range."""
    action: Literal["created", "dropped"]
    rows: int
    """Rows moved into a created partition from the default one, or dropped with a partition."""


class PartitionInfo(TypedDict):
    """One time partition, as ``partitions()`` lists it (PostgreSQL)."""

    table: str
    partition: str
    bounds: str
    """``FOR VALUES FROM (…) TO (…)`` or ``DEFAULT``."""
    estimated_rows: int
    """The planner's estimate (-1 before the first analyze)."""
    bytes: int


class ConsoleOptions(TypedDict, total=False):
    """``Keel.console``."""

    allow_actions: bool
    """Whether ``CONSOLE_ACTIONS`` may run (default ``False``: read-only)."""
