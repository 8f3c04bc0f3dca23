-- keel.acquire_rate_limits read its clock before taking the rows' locks, so a call that
-- waited for a concurrent one judged the TAT that call had moved against its own, earlier
-- clock: a spurious denial with a retry of about a millisecond (a worker deferring an item it
-- could have sent; seen as one extra deferral in examples/queue under load). The clock is now
-- read once the locks are held.

CREATE OR REPLACE FUNCTION keel.acquire_rate_limits(keys text[], emission_ms float8[],
                                                    tolerance_ms float8[])
RETURNS TABLE (key text, tat_ms float8, now_ms float8, admitted boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    clock float8;
    all_admit boolean;
BEGIN
    INSERT INTO keel.rate_limits AS r (key, tat_ms)
        SELECT k, 0 FROM unnest(keys) AS k ON CONFLICT DO NOTHING;
    PERFORM 1 FROM keel.rate_limits r WHERE r.key = ANY (keys) ORDER BY r.key FOR UPDATE;
    clock := extract(epoch FROM clock_timestamp()) * 1000;
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
