-- Keel foundation schema, PostgreSQL 15+ and Supabase.
--
-- Everything lives in schema `keel`. The Supabase roles are created when missing, so the same
-- file runs on plain PostgreSQL and on Supabase. RLS is on for every table:
--   * system tables: service_role only;
--   * org-scoped tables: service_role, plus SELECT for members of the row's org through
--     keel.is_org_member(org_id), which platforms may replace (CREATE OR REPLACE) with their
--     own membership lookup.
-- Column names follow the original edge-function tables where dashboards read them.

CREATE SCHEMA IF NOT EXISTS keel;

-- Roles are cluster-wide and several databases may migrate at once: tolerate the race.
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['anon', 'authenticated', 'service_role'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN NOINHERIT', r);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;
            END;
        END IF;
    END LOOP;
END
$$;

GRANT USAGE ON SCHEMA keel TO anon, authenticated, service_role;

-- True when the caller's JWT claims (`request.jwt.claims`, as PostgREST sets them) name the org:
-- in `org_ids` (array), `app_metadata.org_ids` (array) or `org_id` (string).
CREATE OR REPLACE FUNCTION keel.is_org_member(org_id uuid)
RETURNS boolean
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
    WITH claims AS (
        SELECT coalesce(nullif(current_setting('request.jwt.claims', true), ''), '{}')::jsonb AS c
    )
    SELECT org_id IS NOT NULL AND EXISTS (
        SELECT 1
        FROM claims,
        LATERAL (
            SELECT jsonb_array_elements_text(
                CASE WHEN jsonb_typeof(c -> 'org_ids') = 'array' THEN c -> 'org_ids' ELSE '[]'::jsonb END)
            UNION ALL
            SELECT jsonb_array_elements_text(
                CASE WHEN jsonb_typeof(c -> 'app_metadata' -> 'org_ids') = 'array'
                     THEN c -> 'app_metadata' -> 'org_ids' ELSE '[]'::jsonb END)
            UNION ALL
            SELECT c ->> 'org_id'
        ) AS ids(id)
        WHERE lower(ids.id) = org_id::text
    )
$$;

GRANT EXECUTE ON FUNCTION keel.is_org_member(uuid) TO anon, authenticated, service_role;

CREATE OR REPLACE FUNCTION keel.set_updated_at()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

---------------------------------------------------------------------------------------------
-- Observability
---------------------------------------------------------------------------------------------

CREATE TABLE keel.system_logs (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    trace_id        uuid,
    span_id         uuid,
    parent_span_id  uuid,
    "timestamp"     timestamptz NOT NULL DEFAULT now(),
    service         text NOT NULL CHECK (service <> ''),
    action          text NOT NULL CHECK (action <> ''),
    level           text NOT NULL CHECK (level IN ('debug', 'info', 'warn', 'error')),
    user_id         uuid,
    org_id          uuid,
    agent_name      text,
    duration_ms     integer,
    metadata        jsonb NOT NULL DEFAULT '{}'::jsonb,
    error_message   text
);
CREATE INDEX system_logs_trace_idx ON keel.system_logs (trace_id);
CREATE INDEX system_logs_level_time_idx ON keel.system_logs (level, "timestamp");
CREATE INDEX system_logs_service_time_idx ON keel.system_logs (service, "timestamp" DESC);
CREATE INDEX system_logs_org_time_idx ON keel.system_logs (org_id, "timestamp" DESC) WHERE org_id IS NOT NULL;

CREATE TABLE keel.agent_executions (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    trace_id            uuid,
    agent_name          text NOT NULL,
    execution_type      text NOT NULL,
    triggered_by        text,
    started_at          timestamptz NOT NULL DEFAULT now(),
    completed_at        timestamptz,
    status              text NOT NULL DEFAULT 'running'
                        CHECK (status IN ('running', 'completed', 'failed', 'partial', 'budget_exceeded')),
    attempts            integer NOT NULL DEFAULT 0,
    items_emitted       integer NOT NULL DEFAULT 0,
    items_processed     integer NOT NULL DEFAULT 0,
    model_id            text,
    model_was_fallback  boolean NOT NULL DEFAULT false,
    tokens_consumed     integer NOT NULL DEFAULT 0,
    credits_consumed    numeric(14, 4) NOT NULL DEFAULT 0,
    error_message       text,
    metadata            jsonb NOT NULL DEFAULT '{}'::jsonb,
    user_id             uuid,
    org_id              uuid,
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agent_executions_agent_time_idx ON keel.agent_executions (agent_name, started_at DESC);
CREATE INDEX agent_executions_org_time_idx ON keel.agent_executions (org_id, started_at DESC) WHERE org_id IS NOT NULL;
CREATE INDEX agent_executions_trace_idx ON keel.agent_executions (trace_id);
CREATE INDEX agent_executions_running_idx ON keel.agent_executions (started_at) WHERE status = 'running';
CREATE TRIGGER agent_executions_updated_at BEFORE UPDATE ON keel.agent_executions
    FOR EACH ROW EXECUTE FUNCTION keel.set_updated_at();

CREATE TABLE keel.fleet_health_snapshots (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    snapshot_at           timestamptz NOT NULL DEFAULT now(),
    agent_name            text NOT NULL,
    status                text NOT NULL CHECK (status IN ('healthy', 'warning', 'critical', 'stale')),
    last_success_at       timestamptz,
    failure_rate_24h      numeric(5, 2),
    avg_duration_ms       integer,
    p95_duration_ms       integer,
    runs_24h              integer NOT NULL DEFAULT 0,
    credits_consumed_24h  numeric(14, 4),
    alerts_fired          integer NOT NULL DEFAULT 0,
    metadata              jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX fleet_health_agent_time_idx ON keel.fleet_health_snapshots (agent_name, snapshot_at DESC);
CREATE INDEX fleet_health_time_idx ON keel.fleet_health_snapshots (snapshot_at DESC);

---------------------------------------------------------------------------------------------
-- Models, breakers, credits
---------------------------------------------------------------------------------------------

CREATE TABLE keel.model_config (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    provider            text NOT NULL,
    model_id            text NOT NULL,
    intelligence_tier   text NOT NULL CHECK (intelligence_tier IN ('low', 'medium', 'high')),
    feature             text NOT NULL,
    is_primary          boolean NOT NULL DEFAULT false,
    is_fallback         boolean NOT NULL DEFAULT false,
    fallback_order      integer NOT NULL DEFAULT 0,
    credit_cost         numeric(10, 4) NOT NULL DEFAULT 0 CHECK (credit_cost >= 0),
    input_cost_per_mtok numeric(12, 4),
    output_cost_per_mtok numeric(12, 4),
    max_tokens          integer NOT NULL DEFAULT 4096 CHECK (max_tokens > 0),
    context_window      integer,
    is_active           boolean NOT NULL DEFAULT true,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (feature, intelligence_tier, provider, model_id)
);
CREATE UNIQUE INDEX model_config_one_primary_idx ON keel.model_config (intelligence_tier, feature) WHERE is_primary;
CREATE INDEX model_config_fallback_idx ON keel.model_config (feature, intelligence_tier, fallback_order)
    WHERE is_fallback AND is_active;
CREATE TRIGGER model_config_updated_at BEFORE UPDATE ON keel.model_config
    FOR EACH ROW EXECUTE FUNCTION keel.set_updated_at();

-- Circuit-breaker state, shared by every instance; changed only by single atomic statements.
CREATE TABLE keel.model_health (
    provider          text NOT NULL DEFAULT '',
    model_id          text NOT NULL,
    state             text NOT NULL DEFAULT 'closed' CHECK (state IN ('closed', 'open', 'half_open')),
    failure_count     integer NOT NULL DEFAULT 0,
    success_count     integer NOT NULL DEFAULT 0,
    window_start      timestamptz,
    last_failure_at   timestamptz,
    last_success_at   timestamptz,
    opened_at         timestamptz,
    is_circuit_open   boolean NOT NULL DEFAULT false,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, model_id)
);

CREATE TABLE keel.org_credit_balance (
    org_id                   uuid PRIMARY KEY,
    balance_credits          numeric(14, 4) NOT NULL DEFAULT 0,
    grace_threshold_credits  numeric(14, 4) NOT NULL DEFAULT 10 CHECK (grace_threshold_credits >= 0),
    updated_at               timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE keel.credit_ledger (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id           uuid NOT NULL,
    kind             text NOT NULL
                     CHECK (kind IN ('purchase', 'deduction', 'refund', 'adjustment', 'bonus', 'grace_recovery')),
    amount           numeric(14, 4) NOT NULL,
    balance_after    numeric(14, 4) NOT NULL,
    description      text,
    feature_key      text,
    model_id         text,
    tokens_used      integer,
    agent_name       text,
    trace_id         uuid,
    idempotency_key  text,
    created_by       uuid,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX credit_ledger_idempotency_idx ON keel.credit_ledger (org_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX credit_ledger_org_time_idx ON keel.credit_ledger (org_id, created_at DESC);

---------------------------------------------------------------------------------------------
-- Routing and skills
---------------------------------------------------------------------------------------------

CREATE TABLE keel.routing_cache (
    hash_key    text PRIMARY KEY,
    org_id      uuid,
    response    jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX routing_cache_expires_idx ON keel.routing_cache (expires_at);

CREATE TABLE keel.platform_skills (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    skill_key         text NOT NULL,
    namespace         text NOT NULL DEFAULT 'shared' CHECK (namespace IN ('copilot', 'fleet', 'slack', 'shared')),
    source            text NOT NULL DEFAULT 'platform' CHECK (source IN ('platform', 'org', 'user')),
    version           integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    is_current        boolean NOT NULL DEFAULT true,
    category          text,
    frontmatter       jsonb NOT NULL DEFAULT '{}'::jsonb,
    content_template  text NOT NULL,
    content_hash      text NOT NULL,
    source_path       text,
    changelog         text,
    is_active         boolean NOT NULL DEFAULT true,
    deprecated_at     timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (namespace, skill_key, version),
    UNIQUE (namespace, skill_key, content_hash)
);
CREATE UNIQUE INDEX platform_skills_current_idx ON keel.platform_skills (namespace, skill_key) WHERE is_current;
CREATE TRIGGER platform_skills_updated_at BEFORE UPDATE ON keel.platform_skills
    FOR EACH ROW EXECUTE FUNCTION keel.set_updated_at();

CREATE TABLE keel.organization_skills (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id                uuid NOT NULL,
    skill_key             text NOT NULL,
    namespace_override    text CHECK (namespace_override IN ('copilot', 'fleet', 'slack', 'shared')),
    pinned_version        integer CHECK (pinned_version >= 1),
    source                text NOT NULL DEFAULT 'platform' CHECK (source IN ('platform', 'org', 'user')),
    is_enabled            boolean NOT NULL DEFAULT true,
    config                jsonb NOT NULL DEFAULT '{}'::jsonb,
    user_overrides        jsonb NOT NULL DEFAULT '{}'::jsonb,
    compiled_frontmatter  jsonb,
    compiled_content      text,
    compiled_version      integer,
    context_hash          text,
    needs_recompile       boolean NOT NULL DEFAULT false,
    last_compiled_at      timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, skill_key)
);
CREATE TRIGGER organization_skills_updated_at BEFORE UPDATE ON keel.organization_skills
    FOR EACH ROW EXECUTE FUNCTION keel.set_updated_at();

---------------------------------------------------------------------------------------------
-- Memory, channels, retries, queue
---------------------------------------------------------------------------------------------

CREATE TABLE keel.conversation_context (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id          uuid NOT NULL,
    org_id           uuid NOT NULL,
    channel          text NOT NULL CHECK (channel IN ('web_copilot', 'slack_copilot', 'fleet_agent')),
    channel_ref      text,
    entity_type      text NOT NULL CHECK (entity_type IN ('deal', 'contact', 'company', 'meeting', 'task')),
    entity_id        uuid NOT NULL,
    context_summary  text NOT NULL,
    last_updated     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT conversation_context_key UNIQUE NULLS NOT DISTINCT (user_id, channel, channel_ref, entity_type, entity_id)
);
CREATE INDEX conversation_context_entity_idx
    ON keel.conversation_context (user_id, entity_type, entity_id, last_updated DESC);
CREATE INDEX conversation_context_channel_idx ON keel.conversation_context (user_id, channel, last_updated DESC);

CREATE TABLE keel.agent_dead_letters (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    trace_id         uuid,
    agent_name       text NOT NULL,
    trigger_type     text NOT NULL,
    trigger_payload  jsonb NOT NULL DEFAULT '{}'::jsonb,
    failure_reason   text NOT NULL,
    error_detail     text,
    error_code       text,
    org_id           uuid,
    user_id          uuid,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'retrying', 'resolved', 'abandoned')),
    retry_count      integer NOT NULL DEFAULT 0,
    max_retries      integer NOT NULL DEFAULT 3 CHECK (max_retries >= 0),
    next_retry_at    timestamptz NOT NULL DEFAULT now(),
    locked_until     timestamptz,
    locked_by        text,
    idempotency_key  text UNIQUE,
    created_at       timestamptz NOT NULL DEFAULT now(),
    resolved_at      timestamptz
);
CREATE INDEX agent_dead_letters_agent_time_idx ON keel.agent_dead_letters (agent_name, created_at DESC);
CREATE INDEX agent_dead_letters_due_idx ON keel.agent_dead_letters (next_retry_at)
    WHERE status IN ('pending', 'retrying');

CREATE TABLE keel.command_centre_items (
    id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id                 uuid NOT NULL,
    user_id                uuid,
    source_agent           text NOT NULL,
    source_event_id        text,
    item_type              text NOT NULL,
    title                  text NOT NULL,
    summary                text,
    context                jsonb NOT NULL DEFAULT '{}'::jsonb,
    priority_score         numeric(5, 2) CHECK (priority_score BETWEEN 0 AND 100),
    urgency                text NOT NULL DEFAULT 'normal' CHECK (urgency IN ('critical', 'high', 'normal', 'low')),
    enrichment_status      text NOT NULL DEFAULT 'pending'
                           CHECK (enrichment_status IN ('pending', 'enriched', 'failed', 'skipped')),
    status                 text NOT NULL DEFAULT 'open'
                           CHECK (status IN ('open', 'enriching', 'ready', 'approved', 'executing',
                                             'completed', 'dismissed', 'auto_resolved')),
    deal_id                uuid,
    contact_id             uuid,
    queue_priority         integer NOT NULL DEFAULT 2 CHECK (queue_priority BETWEEN 0 AND 3),
    queued_at              timestamptz NOT NULL DEFAULT now(),
    processing_started_at  timestamptz,
    processing_attempts    integer NOT NULL DEFAULT 0,
    dedup_key              text,
    merge_group_id         uuid,
    is_primary             boolean NOT NULL DEFAULT true,
    merged_evidence        jsonb NOT NULL DEFAULT '[]'::jsonb,
    merged_confidence      numeric(5, 4),
    contributing_agents    text[] NOT NULL DEFAULT '{}',
    merge_window_expires   timestamptz,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX command_centre_items_queue_idx ON keel.command_centre_items (queue_priority, queued_at)
    WHERE enrichment_status = 'pending';
CREATE INDEX command_centre_items_dedup_idx ON keel.command_centre_items (org_id, dedup_key, merge_window_expires)
    WHERE dedup_key IS NOT NULL AND is_primary;
CREATE TRIGGER command_centre_items_updated_at BEFORE UPDATE ON keel.command_centre_items
    FOR EACH ROW EXECUTE FUNCTION keel.set_updated_at();

---------------------------------------------------------------------------------------------
-- Row-level security and grants
---------------------------------------------------------------------------------------------

DO $$
DECLARE
    t text;
BEGIN
    -- System tables: service_role only.
    FOREACH t IN ARRAY ARRAY['model_config', 'model_health', 'routing_cache', 'platform_skills',
                             'agent_dead_letters', 'fleet_health_snapshots'] LOOP
        EXECUTE format('ALTER TABLE keel.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('REVOKE ALL ON keel.%I FROM PUBLIC, anon, authenticated', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON keel.%I TO service_role', t);
        EXECUTE format('CREATE POLICY service_role_all ON keel.%I TO service_role USING (true) WITH CHECK (true)', t);
    END LOOP;
    -- Org-scoped tables: service_role writes; members of the row's org read.
    FOREACH t IN ARRAY ARRAY['system_logs', 'agent_executions', 'org_credit_balance', 'credit_ledger',
                             'organization_skills', 'conversation_context', 'command_centre_items'] LOOP
        EXECUTE format('ALTER TABLE keel.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('REVOKE ALL ON keel.%I FROM PUBLIC, anon, authenticated', t);
        EXECUTE format('GRANT SELECT ON keel.%I TO authenticated', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON keel.%I TO service_role', t);
        EXECUTE format('CREATE POLICY service_role_all ON keel.%I TO service_role USING (true) WITH CHECK (true)', t);
        EXECUTE format('CREATE POLICY org_members_read ON keel.%I FOR SELECT TO authenticated '
                       'USING (keel.is_org_member(org_id))', t);
    END LOOP;
END
$$;
