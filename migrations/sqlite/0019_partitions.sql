-- PostgreSQL's 0019 partitions system_logs (by level, then day) and agent_executions (by week)
-- so retention drops partitions. SQLite keeps plain tables, pruned by batched deletes; this
-- file keeps the two chains numbered alike.
SELECT 1;
