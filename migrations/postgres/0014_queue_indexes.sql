-- Fewer index entries per claim and completion (keel::flow; issue 18's throughput). Every claim
-- and every completion is an UPDATE that changes indexed columns, so each writes an entry into
-- every index whose predicate the new row meets; 0013 had seven such entries per item, this has
-- five:
-- - the in-flight items' one index serves both the sweep (by lease expiry) and the caps' count
--   per org (org_id included, read index-only);
-- - one index of recent changes to claimed items serves the health view's last minute of
--   claims, completions and failures: each of those writes updated_at = now(), so an item
--   claimed, completed or failed since a moment was changed since then too.
-- The updated_at trigger runs only when a statement did not already set the column to now().

DROP INDEX keel.command_centre_items_lease_idx;
DROP INDEX keel.command_centre_items_in_flight_idx;
CREATE INDEX command_centre_items_lease_idx ON keel.command_centre_items (lease_expires_at)
    INCLUDE (org_id) WHERE enrichment_status = 'processing';

DROP INDEX keel.command_centre_items_claimed_idx;
DROP INDEX keel.command_centre_items_enriched_idx;
DROP INDEX keel.command_centre_items_failed_idx;
CREATE INDEX command_centre_items_changed_idx ON keel.command_centre_items (updated_at)
    WHERE processing_started_at IS NOT NULL;

DROP TRIGGER command_centre_items_updated_at ON keel.command_centre_items;
CREATE TRIGGER command_centre_items_updated_at BEFORE UPDATE ON keel.command_centre_items
    FOR EACH ROW WHEN (NEW.updated_at IS DISTINCT FROM now())
    EXECUTE FUNCTION keel.set_updated_at();
