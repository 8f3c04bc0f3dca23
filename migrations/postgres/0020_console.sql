-- The operator console (keel serve, issue 22). Its newest-first lists read an index in order
-- instead of sorting a table:
-- - every agent's runs, by start;
-- - every org's routing decisions, by time;
-- - one agent's log events, by time (the log search reads each level's partitions through
--   `(level, "timestamp")` and merges the four; an agent's events get their own index, since
--   an agent that never logs at a level would make that level's read scan all of it).
-- On the partitioned tables each index is made on every partition, present and future.
CREATE INDEX agent_executions_started_idx ON keel.agent_executions (started_at DESC, id DESC);
CREATE INDEX system_logs_agent_time_idx ON keel.system_logs (agent_name, "timestamp" DESC)
    WHERE agent_name IS NOT NULL;
CREATE INDEX routing_logs_time_idx ON keel.routing_logs (created_at DESC, id DESC);
