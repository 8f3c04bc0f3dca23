-- Retention of keel.system_logs inside PostgreSQL, for pg_cron:
--   SELECT cron.schedule('keel-logs-cleanup', '17 3 * * *', $$SELECT * FROM keel.cleanup_system_logs()$$);
-- The same policy as `keel logs cleanup` (debug 30 days, info 90, warn 90, error 365), deleted
-- in batches so no statement holds long locks; SKIP LOCKED lets two runs overlap safely.

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
    n bigint;
BEGIN
    IF batch_size < 1 THEN
        RAISE EXCEPTION 'batch_size must be at least 1' USING ERRCODE = '22023';
    END IF;
    FOREACH lvl IN ARRAY ARRAY['debug', 'info', 'warn', 'error'] LOOP
        days := CASE lvl WHEN 'debug' THEN debug_days WHEN 'info' THEN info_days
                         WHEN 'warn' THEN warn_days ELSE error_days END;
        level := lvl;
        deleted := 0;
        LOOP
            DELETE FROM keel.system_logs WHERE id IN (
                SELECT s.id FROM keel.system_logs s
                WHERE s.level = lvl AND s."timestamp" < now() - make_interval(days => days)
                LIMIT batch_size FOR UPDATE SKIP LOCKED);
            GET DIAGNOSTICS n = ROW_COUNT;
            deleted := deleted + n;
            EXIT WHEN n < batch_size;
        END LOOP;
        RETURN NEXT;
    END LOOP;
END
$$;

REVOKE ALL ON FUNCTION keel.cleanup_system_logs(integer, integer, integer, integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION keel.cleanup_system_logs(integer, integer, integer, integer, integer) TO service_role;
