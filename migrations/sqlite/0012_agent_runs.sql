-- Agent runs: see postgres/0012_agent_runs.sql. The sweep is a statement of keel::runner on
-- SQLite (there is no pg_cron).

ALTER TABLE agent_executions ADD COLUMN org_ref TEXT;
ALTER TABLE agent_executions ADD COLUMN user_ref TEXT;
ALTER TABLE agent_executions ADD COLUMN deadline_at TEXT;
ALTER TABLE agent_executions ADD COLUMN idempotency_key TEXT;
ALTER TABLE agent_executions ADD COLUMN output TEXT CHECK (output IS NULL OR json_valid(output));
ALTER TABLE agent_executions ADD COLUMN error_kind TEXT;
ALTER TABLE agent_executions ADD COLUMN error_history TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(error_history));
ALTER TABLE agent_executions ADD COLUMN steps TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(steps));

CREATE UNIQUE INDEX agent_executions_key_idx ON agent_executions (agent_name, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX agent_executions_running_idx ON agent_executions (started_at) WHERE status = 'running';
CREATE INDEX agent_executions_deadline_idx ON agent_executions (deadline_at) WHERE status = 'running';

ALTER TABLE agent_dead_letters ADD COLUMN steps TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(steps));
