-- The operator console's newest-first lists (see postgres/0020_console.sql).
CREATE INDEX agent_executions_started_idx ON agent_executions (started_at DESC, id DESC);
CREATE INDEX system_logs_agent_time_idx ON system_logs (agent_name, "timestamp" DESC)
    WHERE agent_name IS NOT NULL;
CREATE INDEX routing_logs_time_idx ON routing_logs (created_at DESC, id DESC);
