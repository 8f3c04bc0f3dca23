-- PostgreSQL's keel.acquire_rate_limits reads its clock after taking its locks (see
-- postgres/0017_rate_limit_clock.sql). SQLite's shared limiter runs in one BEGIN IMMEDIATE
-- transaction that reads the clock after the write lock is held: nothing to change.
SELECT 1;
