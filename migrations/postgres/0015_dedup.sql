-- Deduplication (keel::dedup; the original's §4). command_centre_items keeps the original's
-- dedup columns (dedup_key, merge_group_id, is_primary, merged_evidence, merged_confidence,
-- contributing_agents, merge_window_expires) and gains:
-- - merged_from, confidence_score, resolution_channel, resolved_at: the original's columns that
--   Keel's schema lacked (merged_from lists every item absorbed into a primary);
-- - dedup_open: this primary still absorbs newcomers with its key (its merge window is open).
--   At most one open primary per org and key, by a partial unique index: the first writer
--   wins and a second one merges (the original had no such index, so races made two
--   primaries and then disabled dedup for the key);
-- - minhash: the MinHash signature of title and summary (keel::dedup::MinHash bytes, with
--   their version), and keel.dedup_bands, its LSH bands per org, so every instance finds
--   near-duplicates among the open primaries;
-- keel.dedup_counts counts what dedup did, per org.

ALTER TABLE keel.command_centre_items
    ADD COLUMN merged_from        uuid[] NOT NULL DEFAULT '{}',
    ADD COLUMN confidence_score   numeric(3, 2) CHECK (confidence_score BETWEEN 0 AND 1),
    ADD COLUMN resolution_channel text,
    ADD COLUMN resolved_at        timestamptz,
    ADD COLUMN dedup_open         boolean NOT NULL DEFAULT false,
    ADD COLUMN minhash            bytea;

DROP INDEX keel.command_centre_items_dedup_idx;
CREATE UNIQUE INDEX command_centre_items_open_primary_idx
    ON keel.command_centre_items (org_id, dedup_key) WHERE dedup_open;
CREATE INDEX command_centre_items_merge_group_idx ON keel.command_centre_items (merge_group_id)
    WHERE merge_group_id IS NOT NULL;
-- Items not yet deduplicated, for the sweep.
CREATE INDEX command_centre_items_undeduped_idx ON keel.command_centre_items (org_id, created_at)
    WHERE merge_group_id IS NULL AND enrichment_status = 'pending';

CREATE TABLE keel.dedup_bands (
    org_id    uuid     NOT NULL,
    band_no   smallint NOT NULL,
    band_hash bigint   NOT NULL,
    item_id   uuid     NOT NULL REFERENCES keel.command_centre_items (id) ON DELETE CASCADE,
    PRIMARY KEY (org_id, band_no, band_hash, item_id)
);
CREATE INDEX dedup_bands_item_idx ON keel.dedup_bands (item_id);
SELECT keel.enable_rls('keel.dedup_bands', 'org');

CREATE TABLE keel.dedup_counts (
    org_id  uuid   NOT NULL,
    counter text   NOT NULL,
    n       bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, counter)
);
SELECT keel.enable_rls('keel.dedup_counts', 'org');

-- The daily sweep's database half, for pg_cron: closes the merge windows that have passed and
-- drops the LSH bands of primaries no longer open. Returns how many windows it closed.
--     SELECT cron.schedule('keel-dedup', '17 3 * * *', 'SELECT keel.dedup_close_windows()');
-- (`keel dedup sweep` does the same and also deduplicates items no stage has checked.)
CREATE OR REPLACE FUNCTION keel.dedup_close_windows() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    closed integer;
BEGIN
    UPDATE keel.command_centre_items SET dedup_open = false
     WHERE dedup_open AND merge_window_expires <= now();
    GET DIAGNOSTICS closed = ROW_COUNT;
    DELETE FROM keel.dedup_bands b USING keel.command_centre_items i
     WHERE i.id = b.item_id AND NOT i.dedup_open;
    RETURN closed;
END $$;
