-- The Command Centre queue and shared rate limits (keel::flow; the original's §4).
--
-- command_centre_items keeps every original column, so existing readers work; the queue adds:
-- - enrichment_status 'processing': claimed and in flight, distinct from every terminal state
--   (the original marked claimed rows 'skipped', a terminal value, and lost them on a crash);
-- - lease_owner, lease_expires_at: who holds the item and until when; a sweep returns
--   expired leases to the queue;
-- - lease_token: raised by every claim; complete, fail, defer and extend name it, so a holder
--   whose lease ran out cannot change an item another worker now holds (fencing);
-- - failure_reason, enrichment_context, enriched_at: what a worker's outcome left.
-- queued_at is the not-before time and the start of an item's wait (aging promotes an item
-- one lane per aging period of wait); processing_started_at and processing_attempts are
-- written by every claim.

ALTER TABLE keel.command_centre_items DROP CONSTRAINT command_centre_items_enrichment_status_check;
ALTER TABLE keel.command_centre_items ADD CONSTRAINT command_centre_items_enrichment_status_check
    CHECK (enrichment_status IN ('pending', 'processing', 'enriched', 'failed', 'skipped'));

ALTER TABLE keel.command_centre_items
    ADD COLUMN lease_owner        text,
    ADD COLUMN lease_token        bigint NOT NULL DEFAULT 0,
    ADD COLUMN lease_expires_at   timestamptz,
    ADD COLUMN failure_reason     text,
    ADD COLUMN enrichment_context jsonb,
    ADD COLUMN enriched_at        timestamptz;

-- One index per lane scan (lane, then age), partial on what can be claimed.
DROP INDEX keel.command_centre_items_queue_idx;
CREATE INDEX command_centre_items_queue_idx ON keel.command_centre_items (queue_priority, queued_at, id)
    WHERE enrichment_status = 'pending';
CREATE INDEX command_centre_items_lease_idx ON keel.command_centre_items (lease_expires_at)
    WHERE enrichment_status = 'processing';
CREATE INDEX command_centre_items_in_flight_idx ON keel.command_centre_items (org_id)
    WHERE enrichment_status = 'processing';
-- The health view's last minute of claims, completions and failures.
CREATE INDEX command_centre_items_claimed_idx ON keel.command_centre_items (processing_started_at)
    WHERE processing_started_at IS NOT NULL;
CREATE INDEX command_centre_items_enriched_idx ON keel.command_centre_items (enriched_at)
    WHERE enriched_at IS NOT NULL;
CREATE INDEX command_centre_items_failed_idx ON keel.command_centre_items (updated_at)
    WHERE enrichment_status = 'failed';

-- GCRA state, one row per limit key: the theoretical arrival time in epoch milliseconds.
-- UNLOGGED: the state is soft (after a server crash every limit starts idle, which admits at
-- most one burst early) and a decision must not wait for a WAL flush.
CREATE UNLOGGED TABLE keel.rate_limits (
    key        text PRIMARY KEY,
    tat_ms     double precision NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
SELECT keel.enable_rls('keel.rate_limits', 'system');

-- One GCRA decision over several keys, all or none, in one call: the keys' rows are locked in
-- key order (no deadlock between callers), every key is checked at one clock reading, and
-- only when all admit are their arrival times advanced. A key admits when
-- max(tat, now) - now <= tolerance; advancing sets tat = max(tat, now) + emission.
-- Returns each key's arrival time after the decision, the clock reading and whether all
-- admitted; keel::flow computes remaining, retry_after and reset_after from them.
CREATE OR REPLACE FUNCTION keel.acquire_rate_limits(keys text[], emission_ms float8[],
                                                    tolerance_ms float8[])
RETURNS TABLE (key text, tat_ms float8, now_ms float8, admitted boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    clock float8 := extract(epoch FROM clock_timestamp()) * 1000;
    all_admit boolean;
BEGIN
    INSERT INTO keel.rate_limits AS r (key, tat_ms)
        SELECT k, 0 FROM unnest(keys) AS k ON CONFLICT DO NOTHING;
    PERFORM 1 FROM keel.rate_limits r WHERE r.key = ANY (keys) ORDER BY r.key FOR UPDATE;
    SELECT bool_and(greatest(r.tat_ms, clock) - clock <= q.t)
      INTO all_admit
      FROM unnest(keys, emission_ms, tolerance_ms) AS q(k, e, t)
      JOIN keel.rate_limits r ON r.key = q.k;
    IF all_admit THEN
        UPDATE keel.rate_limits r SET tat_ms = greatest(r.tat_ms, clock) + q.e, updated_at = now()
          FROM unnest(keys, emission_ms, tolerance_ms) AS q(k, e, t)
         WHERE r.key = q.k;
    END IF;
    RETURN QUERY
        SELECT r.key, r.tat_ms, clock, all_admit
          FROM keel.rate_limits r WHERE r.key = ANY (keys);
END
$$;
REVOKE ALL ON FUNCTION keel.acquire_rate_limits(text[], float8[], float8[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION keel.acquire_rate_limits(text[], float8[], float8[]) TO service_role;
