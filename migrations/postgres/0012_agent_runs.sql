-- Agent runs (keel::runner::run_agent; the original's §3.2 and §3.6): one agent_executions row
-- per run, for every caller, and the steps a dead letter's replay may skip.
--
-- - org_ref, user_ref: the raw ids of callers whose ids are not UUIDs ('system'), which
--   org_id and user_id cannot hold (as system_logs and agent_dead_letters do);
-- - deadline_at: when the run must have ended; keel.sweep_agent_executions() marks a row
--   still 'running' past it (plus a grace) as failed, so a crashed process never leaves an
--   agent 'running' forever;
-- - idempotency_key: a run with a key runs once per (agent_name, key); its output is kept so
--   that a second call answers with the first run's result;
-- - error_history: every failed attempt, oldest first ({at, kind, message, status, attempt});
-- - steps: the outputs of the steps that completed, by name.
-- agent_dead_letters.steps carries those outputs to the replay, so a retry skips them.

ALTER TABLE keel.agent_executions
    ADD COLUMN org_ref         text,
    ADD COLUMN user_ref        text,
    ADD COLUMN deadline_at     timestamptz,
    ADD COLUMN idempotency_key text,
    ADD COLUMN output          jsonb,
    ADD COLUMN error_kind      text,
    ADD COLUMN error_history   jsonb NOT NULL DEFAULT '[]'::jsonb,
    ADD COLUMN steps           jsonb NOT NULL DEFAULT '{}'::jsonb;

CREATE UNIQUE INDEX agent_executions_key_idx ON keel.agent_executions (agent_name, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX agent_executions_deadline_idx ON keel.agent_executions (deadline_at)
    WHERE status = 'running';

ALTER TABLE keel.agent_dead_letters
    ADD COLUMN steps jsonb NOT NULL DEFAULT '{}'::jsonb;

-- Marks runs still 'running' after their deadline plus `grace` (or, for rows without a
-- deadline, started more than `stale_after` ago) as failed; returns how many. For pg_cron:
--   SELECT cron.schedule('keel-sweep-runs', '*/5 * * * *', 'SELECT keel.sweep_agent_executions()');
CREATE OR REPLACE FUNCTION keel.sweep_agent_executions(
    grace interval DEFAULT interval '1 minute',
    stale_after interval DEFAULT interval '1 hour'
) RETURNS integer
LANGUAGE sql
SECURITY DEFINER
SET search_path = keel, pg_temp
AS $$
    WITH swept AS (
        UPDATE keel.agent_executions
           SET status = 'failed',
               completed_at = now(),
               error_kind = 'timeout',
               error_message = 'swept: the run was still running past its deadline; its process stopped without finishing it'
         WHERE status = 'running'
           AND (deadline_at < now() - grace
                OR (deadline_at IS NULL AND started_at < now() - stale_after))
        RETURNING 1
    )
    SELECT count(*)::integer FROM swept;
$$;
REVOKE ALL ON FUNCTION keel.sweep_agent_executions(interval, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION keel.sweep_agent_executions(interval, interval) TO service_role;
