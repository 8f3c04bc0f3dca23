-- Deduplication (see postgres/0015_dedup.sql): the original's missing columns, the open
-- primary per org and key (partial unique index), MinHash signatures and their LSH bands,
-- counters per org. Arrays are JSON text, signatures BLOBs.

ALTER TABLE command_centre_items ADD COLUMN merged_from TEXT NOT NULL DEFAULT '[]'
    CHECK (json_valid(merged_from));
ALTER TABLE command_centre_items ADD COLUMN confidence_score NUMERIC
    CHECK (confidence_score BETWEEN 0 AND 1);
ALTER TABLE command_centre_items ADD COLUMN resolution_channel TEXT;
ALTER TABLE command_centre_items ADD COLUMN resolved_at TEXT;
ALTER TABLE command_centre_items ADD COLUMN dedup_open INTEGER NOT NULL DEFAULT 0;
ALTER TABLE command_centre_items ADD COLUMN minhash BLOB;

DROP INDEX command_centre_items_dedup_idx;
CREATE UNIQUE INDEX command_centre_items_open_primary_idx
    ON command_centre_items (org_id, dedup_key) WHERE dedup_open;
CREATE INDEX command_centre_items_merge_group_idx ON command_centre_items (merge_group_id)
    WHERE merge_group_id IS NOT NULL;
CREATE INDEX command_centre_items_undeduped_idx ON command_centre_items (org_id, created_at)
    WHERE merge_group_id IS NULL AND enrichment_status = 'pending';

CREATE TABLE dedup_bands (
    org_id    TEXT    NOT NULL,
    band_no   INTEGER NOT NULL,
    band_hash INTEGER NOT NULL,
    item_id   TEXT    NOT NULL REFERENCES command_centre_items (id) ON DELETE CASCADE,
    PRIMARY KEY (org_id, band_no, band_hash, item_id)
) WITHOUT ROWID;
CREATE INDEX dedup_bands_item_idx ON dedup_bands (item_id);

CREATE TABLE dedup_counts (
    org_id  TEXT    NOT NULL,
    counter TEXT    NOT NULL,
    n       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, counter)
);
