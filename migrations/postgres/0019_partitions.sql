-- Time partitioning (PostgreSQL's declarative partitioning; no extension needed).
--
-- `system_logs` is partitioned by level, and each level by day ("timestamp"; `error` by week):
-- retention drops a level's whole days instead of deleting rows, so a billion-row log stays
-- cheap to prune. `agent_executions` is partitioned by week (started_at), kept 90 days.
--
-- - keel.partition_policies: per partitioned table, its unit (day, week, month), how many
--   partitions are made ahead, and how long rows are kept (NULL: forever);
-- - every table has a DEFAULT partition, so a row whose partition does not exist yet (a clock
--   far ahead, a backfill) is kept, never refused; maintenance moves such rows into
--   partitions of their own;
-- - keel.maintain_partitions() (pg_cron, `keel partitions maintain`, `Keel::maintain_partitions`)
--   makes partitions ahead, empties the default partitions, and drops expired partitions;
--   keel.cleanup_system_logs(...) does the same for the log levels with the days it is given;
-- - a partition's rows go when the whole partition has expired: a row is kept at least its
--   retention and at most one unit more;
-- - agent_executions' idempotency keys (unique per agent, which a partitioned table cannot
--   enforce without started_at) move to keel.agent_execution_keys, which a keyed run's claim
--   writes first in the same statement;
-- - the tables are converted with every row: each is renamed, recreated partitioned, filled
--   from the old one, which is then dropped; indexes, the trigger and row-level security are
--   made again on the new table.
-- When pg_cron is installed, the maintenance is scheduled hourly (keel.schedule_partitions()).

CREATE TABLE keel.partition_policies (
    parent       text PRIMARY KEY,
    column_name  text NOT NULL,
    unit         text NOT NULL CHECK (unit IN ('day', 'week', 'month')),
    premake      integer NOT NULL CHECK (premake BETWEEN 1 AND 400),
    retention    interval CHECK (retention > interval '0')
);
SELECT keel.enable_rls('keel.partition_policies', 'system');

INSERT INTO keel.partition_policies (parent, column_name, unit, premake, retention) VALUES
    ('system_logs_debug', 'timestamp', 'day', 7, interval '30 days'),
    ('system_logs_info', 'timestamp', 'day', 7, interval '90 days'),
    ('system_logs_warn', 'timestamp', 'day', 7, interval '90 days'),
    ('system_logs_error', 'timestamp', 'week', 4, interval '365 days'),
    ('agent_executions', 'started_at', 'week', 4, interval '90 days');

-- The lower bound of the `unit` that holds `at` (in UTC), and the bound `steps` units later.
CREATE OR REPLACE FUNCTION keel.partition_bound(unit text, at timestamptz, steps integer DEFAULT 0)
RETURNS timestamptz
LANGUAGE sql
STABLE
SET search_path = keel, pg_catalog
AS $$
    SELECT ((date_trunc(unit, at, 'UTC') AT TIME ZONE 'UTC')
            + steps * ('1 ' || unit)::interval) AT TIME ZONE 'UTC'
$$;

-- A partition is read and written through its table, whose row-level security applies: on
-- its own it grants nothing to anyone and denies every row (RLS on, no policy).
CREATE OR REPLACE FUNCTION keel.lock_partition(partition text)
RETURNS void
LANGUAGE plpgsql
SET search_path = keel, pg_catalog
AS $$
BEGIN
    EXECUTE format('REVOKE ALL ON keel.%I FROM PUBLIC, anon, authenticated, service_role', partition);
    EXECUTE format('ALTER TABLE keel.%I ENABLE ROW LEVEL SECURITY', partition);
END
$$;

-- Makes the partition of `parent` that starts at `lo` (a unit's lower bound) unless it exists,
-- moving the rows of that range out of the default partition into it; returns its name and the
-- rows moved, or no row when it existed.
CREATE OR REPLACE FUNCTION keel.make_partition(parent text, lo timestamptz)
RETURNS TABLE (partition text, moved bigint)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = keel, pg_catalog
AS $$
DECLARE
    policy keel.partition_policies;
    hi timestamptz;
    n bigint;
BEGIN
    SELECT * INTO STRICT policy FROM keel.partition_policies p WHERE p.parent = make_partition.parent;
    hi := keel.partition_bound(policy.unit, lo, 1);
    partition := parent || '_p' || to_char(lo AT TIME ZONE 'UTC', 'YYYYMMDD');
    IF to_regclass(format('keel.%I', partition)) IS NOT NULL THEN
        RETURN;
    END IF;
    EXECUTE format('CREATE TABLE keel.%I (LIKE keel.%I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                   partition, parent);
    EXECUTE format('WITH gone AS (DELETE FROM keel.%I WHERE %I >= $1 AND %I < $2 RETURNING *) '
                   'INSERT INTO keel.%I SELECT * FROM gone',
                   parent || '_default', policy.column_name, policy.column_name, partition)
        USING lo, hi;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM keel.lock_partition(partition);
    EXECUTE format('ALTER TABLE keel.%I ATTACH PARTITION keel.%I FOR VALUES FROM (%L) TO (%L)',
                   parent, partition, lo, hi);
    moved := n;
    RETURN NEXT;
END
$$;

-- One table's maintenance at time `at`: rows in the default partition get partitions of their
-- own, `premake` partitions are made ahead, and (when `keep` is given) the partitions wholly
-- older than `at - keep` are dropped. Returns what it did: (partition, 'created', rows moved)
-- and (partition, 'dropped', rows); a dry run changes nothing and reports ('would drop', rows).
CREATE OR REPLACE FUNCTION keel.maintain_partition(
    parent text,
    at timestamptz DEFAULT now(),
    keep interval DEFAULT NULL,
    dry_run boolean DEFAULT false
)
RETURNS TABLE (partition text, action text, rows bigint)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = keel, pg_catalog
SET lock_timeout = '3s'
AS $$
DECLARE
    policy keel.partition_policies;
    lo timestamptz;
    cutoff timestamptz;
    child text;
BEGIN
    SELECT * INTO policy FROM keel.partition_policies p WHERE p.parent = maintain_partition.parent;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'keel.maintain_partition: % is not a partitioned table', parent
            USING ERRCODE = '22023';
    END IF;
    -- Two maintenance runs at once make each partition once.
    PERFORM pg_advisory_xact_lock(hashtext('keel.partitions'), hashtext(parent));
    cutoff := at - keep;
    IF NOT dry_run THEN
        FOR lo IN EXECUTE format('SELECT DISTINCT keel.partition_bound(%L, %I) FROM keel.%I',
                                 policy.unit, policy.column_name, parent || '_default')
        LOOP
            RETURN QUERY SELECT m.partition, 'created'::text, m.moved FROM keel.make_partition(parent, lo) m;
        END LOOP;
        FOR step IN 0..policy.premake LOOP
            RETURN QUERY SELECT m.partition, 'created'::text, m.moved
                           FROM keel.make_partition(parent, keel.partition_bound(policy.unit, at, step)) m;
        END LOOP;
    END IF;
    IF cutoff IS NULL THEN
        RETURN;
    END IF;
    -- Partitions named by the UTC start of their range, wholly older than the cutoff.
    FOR child IN
        SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = format('keel.%I', parent)::regclass
           AND c.relname ~ '_p[0-9]{8}$'
           AND keel.partition_bound(policy.unit,
                   to_date(right(c.relname, 8), 'YYYYMMDD')::timestamp AT TIME ZONE 'UTC', 1) <= cutoff
         ORDER BY c.relname
    LOOP
        partition := child;
        EXECUTE format('SELECT count(*) FROM keel.%I', child) INTO rows;
        IF dry_run THEN
            action := 'would drop';
        ELSE
            action := 'dropped';
            EXECUTE format('DROP TABLE keel.%I', child);
        END IF;
        RETURN NEXT;
    END LOOP;
    -- The idempotency keys of the runs dropped go with them, in the same transaction (a key
    -- without its run would refuse every later run with it).
    IF parent = 'agent_executions' AND NOT dry_run THEN
        DELETE FROM keel.agent_execution_keys k
         WHERE k.started_at < keel.partition_bound(policy.unit, cutoff);
    END IF;
    -- A dry run moved no stray row: those in the default partition that a run would drop.
    IF dry_run THEN
        partition := parent || '_default';
        action := 'would drop';
        EXECUTE format('SELECT count(*) FROM keel.%I WHERE keel.partition_bound(%L, %I, 1) <= $1',
                       partition, policy.unit, policy.column_name)
            USING cutoff INTO rows;
        IF rows > 0 THEN
            RETURN NEXT;
        END IF;
    END IF;
END
$$;

-- Every partitioned table's maintenance with its policy's retention (for pg_cron, hourly).
CREATE OR REPLACE FUNCTION keel.maintain_partitions(at timestamptz DEFAULT now())
RETURNS TABLE (parent text, partition text, action text, rows bigint)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = keel, pg_catalog
AS $$
DECLARE
    policy keel.partition_policies;
BEGIN
    FOR policy IN SELECT * FROM keel.partition_policies ORDER BY 1 LOOP
        RETURN QUERY SELECT policy.parent, m.partition, m.action, m.rows
                       FROM keel.maintain_partition(policy.parent, at, policy.retention) m;
    END LOOP;
END
$$;

-- Schedules keel.maintain_partitions() hourly with pg_cron when it is installed; true when it did.
CREATE OR REPLACE FUNCTION keel.schedule_partitions()
RETURNS boolean
LANGUAGE plpgsql
SET search_path = keel, pg_catalog
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
        RETURN false;
    END IF;
    EXECUTE $cron$SELECT cron.schedule('keel-partitions', '7 * * * *',
                                       'SELECT count(*) FROM keel.maintain_partitions()')$cron$;
    RETURN true;
END
$$;

-- The retention of 0002 with the same arguments and result: each level's expired partitions are
-- dropped whole (batch_size is still checked, for its callers, but no longer used).
CREATE OR REPLACE FUNCTION keel.cleanup_system_logs(
    debug_days integer DEFAULT 30,
    info_days integer DEFAULT 90,
    warn_days integer DEFAULT 90,
    error_days integer DEFAULT 365,
    batch_size integer DEFAULT 10000
)
RETURNS TABLE (level text, deleted bigint)
LANGUAGE plpgsql
SET search_path = keel, pg_catalog
AS $$
DECLARE
    lvl text;
    days integer;
BEGIN
    IF batch_size < 1 THEN
        RAISE EXCEPTION 'batch_size must be at least 1' USING ERRCODE = '22023';
    END IF;
    FOREACH lvl IN ARRAY ARRAY['debug', 'info', 'warn', 'error'] LOOP
        days := CASE lvl WHEN 'debug' THEN debug_days WHEN 'info' THEN info_days
                         WHEN 'warn' THEN warn_days ELSE error_days END;
        level := lvl;
        SELECT coalesce(sum(m.rows), 0) INTO deleted
          FROM keel.maintain_partition('system_logs_' || lvl, now(), make_interval(days => days)) m
         WHERE m.action = 'dropped';
        RETURN NEXT;
    END LOOP;
END
$$;

---------------------------------------------------------------------------------------------
-- system_logs: by level, then by time
---------------------------------------------------------------------------------------------

ALTER TABLE keel.system_logs RENAME TO system_logs_unpartitioned;
CREATE TABLE keel.system_logs (
    LIKE keel.system_logs_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE
) PARTITION BY LIST (level);
DO $$
DECLARE
    lvl text;
    lo timestamptz;
BEGIN
    FOREACH lvl IN ARRAY ARRAY['debug', 'info', 'warn', 'error'] LOOP
        EXECUTE format('CREATE TABLE keel.%I PARTITION OF keel.system_logs FOR VALUES IN (%L) '
                       'PARTITION BY RANGE ("timestamp")', 'system_logs_' || lvl, lvl);
        EXECUTE format('CREATE TABLE keel.%I PARTITION OF keel.%I DEFAULT',
                       'system_logs_' || lvl || '_default', 'system_logs_' || lvl);
        PERFORM keel.lock_partition('system_logs_' || lvl);
        PERFORM keel.lock_partition('system_logs_' || lvl || '_default');
        FOR lo IN
            SELECT DISTINCT keel.partition_bound(p.unit, s."timestamp")
              FROM keel.system_logs_unpartitioned s, keel.partition_policies p
             WHERE s.level = lvl AND p.parent = 'system_logs_' || lvl
        LOOP
            PERFORM keel.make_partition('system_logs_' || lvl, lo);
        END LOOP;
        PERFORM keel.maintain_partition('system_logs_' || lvl);
    END LOOP;
END
$$;
INSERT INTO keel.system_logs SELECT * FROM keel.system_logs_unpartitioned;
DROP TABLE keel.system_logs_unpartitioned;

ALTER TABLE keel.system_logs ADD PRIMARY KEY (id, level, "timestamp");
CREATE INDEX system_logs_trace_idx ON keel.system_logs (trace_id);
CREATE INDEX system_logs_level_time_idx ON keel.system_logs (level, "timestamp");
CREATE INDEX system_logs_service_time_idx ON keel.system_logs (service, "timestamp" DESC);
CREATE INDEX system_logs_org_time_idx ON keel.system_logs (org_id, "timestamp" DESC) WHERE org_id IS NOT NULL;
SELECT keel.enable_rls('keel.system_logs', 'org');
ANALYZE keel.system_logs;

---------------------------------------------------------------------------------------------
-- agent_executions: by week, idempotency keys in their own table
---------------------------------------------------------------------------------------------

CREATE TABLE keel.agent_execution_keys (
    agent_name       text NOT NULL,
    idempotency_key  text NOT NULL,
    execution_id     uuid NOT NULL,
    started_at       timestamptz NOT NULL,
    PRIMARY KEY (agent_name, idempotency_key)
);
CREATE INDEX agent_execution_keys_started_idx ON keel.agent_execution_keys (started_at);
SELECT keel.enable_rls('keel.agent_execution_keys', 'system');
INSERT INTO keel.agent_execution_keys (agent_name, idempotency_key, execution_id, started_at)
SELECT agent_name, idempotency_key, id, started_at
  FROM keel.agent_executions WHERE idempotency_key IS NOT NULL;

ALTER TABLE keel.agent_executions RENAME TO agent_executions_unpartitioned;
CREATE TABLE keel.agent_executions (
    LIKE keel.agent_executions_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE
) PARTITION BY RANGE (started_at);
CREATE TABLE keel.agent_executions_default PARTITION OF keel.agent_executions DEFAULT;
SELECT keel.lock_partition('agent_executions_default');
SELECT keel.make_partition('agent_executions', lo)
  FROM (SELECT DISTINCT keel.partition_bound('week', started_at) AS lo
          FROM keel.agent_executions_unpartitioned) bounds;
SELECT keel.maintain_partition('agent_executions');
INSERT INTO keel.agent_executions SELECT * FROM keel.agent_executions_unpartitioned;
DROP TABLE keel.agent_executions_unpartitioned;

ALTER TABLE keel.agent_executions ADD PRIMARY KEY (id, started_at);
CREATE INDEX agent_executions_agent_time_idx ON keel.agent_executions (agent_name, started_at DESC);
CREATE INDEX agent_executions_org_time_idx ON keel.agent_executions (org_id, started_at DESC) WHERE org_id IS NOT NULL;
CREATE INDEX agent_executions_trace_idx ON keel.agent_executions (trace_id);
CREATE INDEX agent_executions_running_idx ON keel.agent_executions (started_at) WHERE status = 'running';
CREATE INDEX agent_executions_key_idx ON keel.agent_executions (agent_name, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX agent_executions_deadline_idx ON keel.agent_executions (deadline_at) WHERE status = 'running';
CREATE INDEX agent_executions_success_idx ON keel.agent_executions (agent_name, completed_at DESC)
    WHERE status = 'completed';
CREATE INDEX agent_executions_health_idx ON keel.agent_executions (agent_name, started_at)
    INCLUDE (status, completed_at, deadline_at, model_id, credits_consumed, tokens_consumed);
CREATE TRIGGER agent_executions_updated_at BEFORE UPDATE ON keel.agent_executions
    FOR EACH ROW EXECUTE FUNCTION keel.set_updated_at();
SELECT keel.enable_rls('keel.agent_executions', 'org');
ANALYZE keel.agent_executions;

REVOKE ALL ON FUNCTION keel.partition_bound(text, timestamptz, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION keel.make_partition(text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION keel.lock_partition(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION keel.maintain_partition(text, timestamptz, interval, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION keel.maintain_partitions(timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION keel.schedule_partitions() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION keel.partition_bound(text, timestamptz, integer) TO service_role;
GRANT EXECUTE ON FUNCTION keel.maintain_partition(text, timestamptz, interval, boolean) TO service_role;
GRANT EXECUTE ON FUNCTION keel.maintain_partitions(timestamptz) TO service_role;
SELECT keel.schedule_partitions();
