-- Fewer index entries per claim and completion (see postgres/0014_queue_indexes.sql): one index
-- of in-flight items for the sweep and the caps, one of recent changes to claimed items for the
-- health view's last minute.

DROP INDEX command_centre_items_lease_idx;
DROP INDEX command_centre_items_in_flight_idx;
CREATE INDEX command_centre_items_lease_idx ON command_centre_items (lease_expires_at, org_id)
    WHERE enrichment_status = 'processing';

DROP INDEX command_centre_items_claimed_idx;
DROP INDEX command_centre_items_enriched_idx;
DROP INDEX command_centre_items_failed_idx;
CREATE INDEX command_centre_items_changed_idx ON command_centre_items (updated_at)
    WHERE processing_started_at IS NOT NULL;
