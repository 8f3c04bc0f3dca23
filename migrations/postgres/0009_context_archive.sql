-- Cross-channel context is archived, never hard-deleted: a row untouched for 14 days gets
-- `archived_at`, the read path skips it, and an upsert for the same key brings it back. For
-- pg_cron, the same policy as `keel memory cleanup`:
--   SELECT cron.schedule('keel-context-archive', '23 3 * * *', $$SELECT keel.archive_conversation_context()$$);

ALTER TABLE keel.conversation_context ADD COLUMN archived_at timestamptz;
CREATE INDEX conversation_context_live_idx
    ON keel.conversation_context (org_id, user_id, last_updated DESC) WHERE archived_at IS NULL;

CREATE OR REPLACE FUNCTION keel.archive_conversation_context(
    max_age_days integer DEFAULT 14,
    batch_size integer DEFAULT 10000
)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = keel, pg_catalog
AS $$
DECLARE
    n bigint;
    archived bigint := 0;
BEGIN
    IF batch_size < 1 OR max_age_days < 1 THEN
        RAISE EXCEPTION 'max_age_days and batch_size must be at least 1' USING ERRCODE = '22023';
    END IF;
    LOOP
        UPDATE keel.conversation_context SET archived_at = now() WHERE id IN (
            SELECT c.id FROM keel.conversation_context c
            WHERE c.archived_at IS NULL AND c.last_updated < now() - make_interval(days => max_age_days)
            LIMIT batch_size FOR UPDATE SKIP LOCKED);
        GET DIAGNOSTICS n = ROW_COUNT;
        archived := archived + n;
        EXIT WHEN n < batch_size;
    END LOOP;
    RETURN archived;
END
$$;

REVOKE ALL ON FUNCTION keel.archive_conversation_context(integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION keel.archive_conversation_context(integer, integer) TO service_role;
