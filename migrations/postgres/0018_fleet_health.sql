-- Fleet health (keel::telemetry::health; the original's §3.1, §3.4 and §3.6 items 10–12).
--
-- keel.fleet_agents is the registry the original hard-coded: each agent's expected cadence in
-- milliseconds (read by Keel from a cron `schedule` when one is given), the models it depends
-- on ('provider/model', so an open circuit on one makes it critical), how long a run may stay
-- 'running' before it counts as stuck, and whether it is checked. It is seeded with the
-- original six agents, pipeline-snapshot weekly (Mondays 05:00 UTC) as its own docs say.
--
-- keel.fleet_alert_state is what each agent's alerts last said; a health run moves it with a
-- compare-and-set on `version`, so two runs at once send each alert once. keel.fleet_alerts is
-- the outbox of notices (the Block Kit message as it is posted), leased for delivery with
-- FOR UPDATE SKIP LOCKED and retried with a backoff when the webhook fails.
--
-- fleet_health_snapshots gains what the new metrics need (the window, failures, p50, tokens,
-- stuck runs, dead letters, the reasons, the run that wrote it). The indexes serve the one
-- fleet query: each agent's window from the index alone, the latest success per agent, open
-- dead letters per agent.

CREATE TABLE keel.fleet_agents (
    agent_name      text PRIMARY KEY CHECK (length(agent_name) BETWEEN 1 AND 100),
    cadence_ms      bigint NOT NULL CHECK (cadence_ms > 0),
    schedule        text,
    description     text NOT NULL DEFAULT '',
    models          jsonb NOT NULL DEFAULT '[]'::jsonb,
    stuck_after_ms  bigint NOT NULL DEFAULT 600000 CHECK (stuck_after_ms > 0),
    enabled         boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
SELECT keel.enable_rls('keel.fleet_agents', 'system');

INSERT INTO keel.fleet_agents (agent_name, cadence_ms, schedule, description) VALUES
    ('morning-briefing', 86400000, NULL, 'Daily morning briefing'),
    ('deal-risk-batch', 3600000, NULL, 'Hourly deal risk scoring'),
    ('pipeline-snapshot', 604800000, '0 5 * * 1', 'Weekly pipeline snapshot (Mondays 05:00 UTC)'),
    ('cc-enrich', 900000, NULL, '15-minute CC enrichment pipeline'),
    ('eod-synthesis', 86400000, NULL, 'End-of-day synthesis'),
    ('reengagement-check', 21600000, NULL, '6-hourly re-engagement check');

CREATE TABLE keel.fleet_alert_state (
    agent_name   text PRIMARY KEY,
    notified     text CHECK (notified IN ('healthy', 'warning', 'stale', 'critical')),
    notified_at  timestamptz,
    version      bigint NOT NULL DEFAULT 0,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
SELECT keel.enable_rls('keel.fleet_alert_state', 'system');

CREATE TABLE keel.fleet_alerts (
    id               uuid PRIMARY KEY,
    agent_name       text NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('raised', 'reminder', 'recovered')),
    status           text NOT NULL CHECK (status IN ('healthy', 'warning', 'stale', 'critical')),
    reasons          jsonb NOT NULL DEFAULT '[]'::jsonb,
    message          jsonb NOT NULL,
    delivery         text NOT NULL DEFAULT 'pending'
                     CHECK (delivery IN ('pending', 'sending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    locked_until     timestamptz,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz
);
CREATE INDEX fleet_alerts_due_idx ON keel.fleet_alerts (next_attempt_at) WHERE delivery = 'pending';
CREATE INDEX fleet_alerts_lease_idx ON keel.fleet_alerts (locked_until) WHERE delivery = 'sending';
CREATE INDEX fleet_alerts_agent_idx ON keel.fleet_alerts (agent_name, created_at DESC);
SELECT keel.enable_rls('keel.fleet_alerts', 'system');

ALTER TABLE keel.fleet_health_snapshots
    ADD COLUMN run_id           uuid,
    ADD COLUMN window_ms        bigint,
    ADD COLUMN failures         integer NOT NULL DEFAULT 0,
    ADD COLUMN p50_duration_ms  integer,
    ADD COLUMN tokens_consumed  bigint NOT NULL DEFAULT 0,
    ADD COLUMN stuck_runs       integer NOT NULL DEFAULT 0,
    ADD COLUMN dead_letters     integer NOT NULL DEFAULT 0,
    ADD COLUMN reasons          jsonb NOT NULL DEFAULT '[]'::jsonb;
CREATE INDEX fleet_health_status_time_idx ON keel.fleet_health_snapshots (status, snapshot_at DESC);

CREATE INDEX agent_executions_success_idx ON keel.agent_executions (agent_name, completed_at DESC)
    WHERE status = 'completed';
-- Each agent's window read from the index alone (no heap fetch per run): the fleet query's
-- main cost on a large table.
CREATE INDEX agent_executions_health_idx ON keel.agent_executions (agent_name, started_at)
    INCLUDE (status, completed_at, deadline_at, model_id, credits_consumed, tokens_consumed);
CREATE INDEX agent_dead_letters_open_idx ON keel.agent_dead_letters (agent_name)
    WHERE status IN ('pending', 'retrying', 'accepted');

-- Deletes snapshots older than `keep` (30 days by default) and returns how many: the
-- retention job, on its own schedule (never every check). For pg_cron:
--   SELECT cron.schedule('keel-fleet-snapshots', '17 3 * * *', 'SELECT keel.cleanup_fleet_health_snapshots()');
CREATE OR REPLACE FUNCTION keel.cleanup_fleet_health_snapshots(keep interval DEFAULT interval '30 days')
RETURNS integer
LANGUAGE sql
SECURITY DEFINER
SET search_path = keel, pg_temp
AS $$
    WITH gone AS (
        DELETE FROM keel.fleet_health_snapshots WHERE snapshot_at < now() - keep RETURNING 1
    )
    SELECT count(*)::integer FROM gone;
$$;
REVOKE ALL ON FUNCTION keel.cleanup_fleet_health_snapshots(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION keel.cleanup_fleet_health_snapshots(interval) TO service_role;
