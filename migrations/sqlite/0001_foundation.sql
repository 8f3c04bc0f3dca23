-- Keel foundation schema, SQLite (the embedded default).
--
-- The same tables and columns as migrations/postgres/0001_foundation.sql, in SQLite's types:
-- uuid -> TEXT (canonical lower-case form), jsonb and arrays -> TEXT holding JSON,
-- timestamptz -> TEXT in RFC 3339 UTC with milliseconds, boolean -> INTEGER 0/1.
-- There is no RLS: an embedded database belongs to the process that opens it.

CREATE TABLE system_logs (
    id              TEXT PRIMARY KEY NOT NULL,
    trace_id        TEXT,
    span_id         TEXT,
    parent_span_id  TEXT,
    "timestamp"     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    service         TEXT NOT NULL CHECK (service <> ''),
    action          TEXT NOT NULL CHECK (action <> ''),
    level           TEXT NOT NULL CHECK (level IN ('debug', 'info', 'warn', 'error')),
    user_id         TEXT,
    org_id          TEXT,
    agent_name      TEXT,
    duration_ms     INTEGER,
    metadata        TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
    error_message   TEXT
);
CREATE INDEX system_logs_trace_idx ON system_logs (trace_id);
CREATE INDEX system_logs_level_time_idx ON system_logs (level, "timestamp");
CREATE INDEX system_logs_service_time_idx ON system_logs (service, "timestamp");

CREATE TABLE agent_executions (
    id                  TEXT PRIMARY KEY NOT NULL,
    trace_id            TEXT,
    agent_name          TEXT NOT NULL,
    execution_type      TEXT NOT NULL,
    triggered_by        TEXT,
    started_at          TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    completed_at        TEXT,
    status              TEXT NOT NULL DEFAULT 'running'
                        CHECK (status IN ('running', 'completed', 'failed', 'partial', 'budget_exceeded')),
    attempts            INTEGER NOT NULL DEFAULT 0,
    items_emitted       INTEGER NOT NULL DEFAULT 0,
    items_processed     INTEGER NOT NULL DEFAULT 0,
    model_id            TEXT,
    model_was_fallback  INTEGER NOT NULL DEFAULT 0,
    tokens_consumed     INTEGER NOT NULL DEFAULT 0,
    credits_consumed    NUMERIC NOT NULL DEFAULT 0,
    error_message       TEXT,
    metadata            TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
    user_id             TEXT,
    org_id              TEXT,
    updated_at          TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX agent_executions_agent_time_idx ON agent_executions (agent_name, started_at);
CREATE INDEX agent_executions_trace_idx ON agent_executions (trace_id);

CREATE TABLE fleet_health_snapshots (
    id                    TEXT PRIMARY KEY NOT NULL,
    snapshot_at           TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    agent_name            TEXT NOT NULL,
    status                TEXT NOT NULL CHECK (status IN ('healthy', 'warning', 'critical', 'stale')),
    last_success_at       TEXT,
    failure_rate_24h      NUMERIC,
    avg_duration_ms       INTEGER,
    p95_duration_ms       INTEGER,
    runs_24h              INTEGER NOT NULL DEFAULT 0,
    credits_consumed_24h  NUMERIC,
    alerts_fired          INTEGER NOT NULL DEFAULT 0,
    metadata              TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata))
);
CREATE INDEX fleet_health_agent_time_idx ON fleet_health_snapshots (agent_name, snapshot_at);

CREATE TABLE model_config (
    id                    TEXT PRIMARY KEY NOT NULL,
    provider              TEXT NOT NULL,
    model_id              TEXT NOT NULL,
    intelligence_tier     TEXT NOT NULL CHECK (intelligence_tier IN ('low', 'medium', 'high')),
    feature               TEXT NOT NULL,
    is_primary            INTEGER NOT NULL DEFAULT 0,
    is_fallback           INTEGER NOT NULL DEFAULT 0,
    fallback_order        INTEGER NOT NULL DEFAULT 0,
    credit_cost           NUMERIC NOT NULL DEFAULT 0 CHECK (credit_cost >= 0),
    input_cost_per_mtok   NUMERIC,
    output_cost_per_mtok  NUMERIC,
    max_tokens            INTEGER NOT NULL DEFAULT 4096 CHECK (max_tokens > 0),
    context_window        INTEGER,
    is_active             INTEGER NOT NULL DEFAULT 1,
    updated_at            TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (feature, intelligence_tier, provider, model_id)
);
CREATE UNIQUE INDEX model_config_one_primary_idx ON model_config (intelligence_tier, feature) WHERE is_primary;
CREATE INDEX model_config_fallback_idx ON model_config (feature, intelligence_tier, fallback_order)
    WHERE is_fallback AND is_active;

CREATE TABLE model_health (
    provider          TEXT NOT NULL DEFAULT '',
    model_id          TEXT NOT NULL,
    state             TEXT NOT NULL DEFAULT 'closed' CHECK (state IN ('closed', 'open', 'half_open')),
    failure_count     INTEGER NOT NULL DEFAULT 0,
    success_count     INTEGER NOT NULL DEFAULT 0,
    window_start      TEXT,
    last_failure_at   TEXT,
    last_success_at   TEXT,
    opened_at         TEXT,
    is_circuit_open   INTEGER NOT NULL DEFAULT 0,
    updated_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (provider, model_id)
);

CREATE TABLE org_credit_balance (
    org_id                   TEXT PRIMARY KEY NOT NULL,
    balance_credits          NUMERIC NOT NULL DEFAULT 0,
    grace_threshold_credits  NUMERIC NOT NULL DEFAULT 10 CHECK (grace_threshold_credits >= 0),
    updated_at               TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE credit_ledger (
    id               TEXT PRIMARY KEY NOT NULL,
    org_id           TEXT NOT NULL,
    kind             TEXT NOT NULL
                     CHECK (kind IN ('purchase', 'deduction', 'refund', 'adjustment', 'bonus', 'grace_recovery')),
    amount           NUMERIC NOT NULL,
    balance_after    NUMERIC NOT NULL,
    description      TEXT,
    feature_key      TEXT,
    model_id         TEXT,
    tokens_used      INTEGER,
    agent_name       TEXT,
    trace_id         TEXT,
    idempotency_key  TEXT,
    created_by       TEXT,
    created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE UNIQUE INDEX credit_ledger_idempotency_idx ON credit_ledger (org_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX credit_ledger_org_time_idx ON credit_ledger (org_id, created_at);

CREATE TABLE routing_cache (
    hash_key    TEXT PRIMARY KEY NOT NULL,
    org_id      TEXT,
    response    TEXT NOT NULL CHECK (json_valid(response)),
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    expires_at  TEXT NOT NULL
);
CREATE INDEX routing_cache_expires_idx ON routing_cache (expires_at);

CREATE TABLE platform_skills (
    id                TEXT PRIMARY KEY NOT NULL,
    skill_key         TEXT NOT NULL,
    namespace         TEXT NOT NULL DEFAULT 'shared' CHECK (namespace IN ('copilot', 'fleet', 'slack', 'shared')),
    source            TEXT NOT NULL DEFAULT 'platform' CHECK (source IN ('platform', 'org', 'user')),
    version           INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1),
    is_current        INTEGER NOT NULL DEFAULT 1,
    category          TEXT,
    frontmatter       TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(frontmatter)),
    content_template  TEXT NOT NULL,
    content_hash      TEXT NOT NULL,
    source_path       TEXT,
    changelog         TEXT,
    is_active         INTEGER NOT NULL DEFAULT 1,
    deprecated_at     TEXT,
    created_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (namespace, skill_key, version),
    UNIQUE (namespace, skill_key, content_hash)
);
CREATE UNIQUE INDEX platform_skills_current_idx ON platform_skills (namespace, skill_key) WHERE is_current;

CREATE TABLE organization_skills (
    id                    TEXT PRIMARY KEY NOT NULL,
    org_id                TEXT NOT NULL,
    skill_key             TEXT NOT NULL,
    namespace_override    TEXT CHECK (namespace_override IN ('copilot', 'fleet', 'slack', 'shared')),
    pinned_version        INTEGER CHECK (pinned_version >= 1),
    source                TEXT NOT NULL DEFAULT 'platform' CHECK (source IN ('platform', 'org', 'user')),
    is_enabled            INTEGER NOT NULL DEFAULT 1,
    config                TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(config)),
    user_overrides        TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(user_overrides)),
    compiled_frontmatter  TEXT,
    compiled_content      TEXT,
    compiled_version      INTEGER,
    context_hash          TEXT,
    needs_recompile       INTEGER NOT NULL DEFAULT 0,
    last_compiled_at      TEXT,
    created_at            TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at            TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (org_id, skill_key)
);

CREATE TABLE conversation_context (
    id               TEXT PRIMARY KEY NOT NULL,
    user_id          TEXT NOT NULL,
    org_id           TEXT NOT NULL,
    channel          TEXT NOT NULL CHECK (channel IN ('web_copilot', 'slack_copilot', 'fleet_agent')),
    channel_ref      TEXT,
    entity_type      TEXT NOT NULL CHECK (entity_type IN ('deal', 'contact', 'company', 'meeting', 'task')),
    entity_id        TEXT NOT NULL,
    context_summary  TEXT NOT NULL,
    last_updated     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
-- PostgreSQL's UNIQUE NULLS NOT DISTINCT, spelled for SQLite.
CREATE UNIQUE INDEX conversation_context_key
    ON conversation_context (user_id, channel, ifnull(channel_ref, ''), entity_type, entity_id);
CREATE INDEX conversation_context_entity_idx ON conversation_context (user_id, entity_type, entity_id, last_updated);
CREATE INDEX conversation_context_channel_idx ON conversation_context (user_id, channel, last_updated);

CREATE TABLE agent_dead_letters (
    id               TEXT PRIMARY KEY NOT NULL,
    trace_id         TEXT,
    agent_name       TEXT NOT NULL,
    trigger_type     TEXT NOT NULL,
    trigger_payload  TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(trigger_payload)),
    failure_reason   TEXT NOT NULL,
    error_detail     TEXT,
    error_code       TEXT,
    org_id           TEXT,
    user_id          TEXT,
    status           TEXT NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'retrying', 'resolved', 'abandoned')),
    retry_count      INTEGER NOT NULL DEFAULT 0,
    max_retries      INTEGER NOT NULL DEFAULT 3 CHECK (max_retries >= 0),
    next_retry_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    locked_until     TEXT,
    locked_by        TEXT,
    idempotency_key  TEXT UNIQUE,
    created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    resolved_at      TEXT
);
CREATE INDEX agent_dead_letters_agent_time_idx ON agent_dead_letters (agent_name, created_at);
CREATE INDEX agent_dead_letters_due_idx ON agent_dead_letters (next_retry_at) WHERE status IN ('pending', 'retrying');

CREATE TABLE command_centre_items (
    id                     TEXT PRIMARY KEY NOT NULL,
    org_id                 TEXT NOT NULL,
    user_id                TEXT,
    source_agent           TEXT NOT NULL,
    source_event_id        TEXT,
    item_type              TEXT NOT NULL,
    title                  TEXT NOT NULL,
    summary                TEXT,
    context                TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(context)),
    priority_score         NUMERIC CHECK (priority_score BETWEEN 0 AND 100),
    urgency                TEXT NOT NULL DEFAULT 'normal' CHECK (urgency IN ('critical', 'high', 'normal', 'low')),
    enrichment_status      TEXT NOT NULL DEFAULT 'pending'
                           CHECK (enrichment_status IN ('pending', 'enriched', 'failed', 'skipped')),
    status                 TEXT NOT NULL DEFAULT 'open'
                           CHECK (status IN ('open', 'enriching', 'ready', 'approved', 'executing',
                                             'completed', 'dismissed', 'auto_resolved')),
    deal_id                TEXT,
    contact_id             TEXT,
    queue_priority         INTEGER NOT NULL DEFAULT 2 CHECK (queue_priority BETWEEN 0 AND 3),
    queued_at              TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    processing_started_at  TEXT,
    processing_attempts    INTEGER NOT NULL DEFAULT 0,
    dedup_key              TEXT,
    merge_group_id         TEXT,
    is_primary             INTEGER NOT NULL DEFAULT 1,
    merged_evidence        TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(merged_evidence)),
    merged_confidence      NUMERIC,
    contributing_agents    TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(contributing_agents)),
    merge_window_expires   TEXT,
    created_at             TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at             TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX command_centre_items_queue_idx ON command_centre_items (queue_priority, queued_at)
    WHERE enrichment_status = 'pending';
CREATE INDEX command_centre_items_dedup_idx ON command_centre_items (org_id, dedup_key, merge_window_expires)
    WHERE dedup_key IS NOT NULL AND is_primary;
