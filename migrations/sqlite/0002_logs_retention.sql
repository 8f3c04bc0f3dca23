-- Pairs migrations/postgres/0002_logs_retention.sql. SQLite has no scheduler: retention runs
-- from `keel logs cleanup` (or the SDK's cleanup call). This index serves the per-org trace
-- reads that PostgreSQL's system_logs_org_time_idx serves there.
CREATE INDEX IF NOT EXISTS system_logs_org_time_idx ON system_logs (org_id, "timestamp") WHERE org_id IS NOT NULL;
