-- The Command Centre queue and shared rate limits: see postgres/0013_queue.sql. SQLite cannot
-- change a CHECK constraint, so command_centre_items is rebuilt with the 'processing' state
-- and the lease columns.

CREATE TABLE command_centre_items_next (
    id                     TEXT PRIMARY KEY NOT NULL,
    org_id                 TEXT NOT NULL,
    user_id                TEXT,
    source_agent           TEXT NOT NULL,
    source_event_id        TEXT,
    item_type              TEXT NOT NULL,
    title                  TEXT NOT NULL,
    summary                TEXT,
    context                TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(context)),
    priority_score         NUMERIC CHECK (priority_score BETWEEN 0 AND 100),
    urgency                TEXT NOT NULL DEFAULT 'normal' CHECK (urgency IN ('critical', 'high', 'normal', 'low')),
    enrichment_status      TEXT NOT NULL DEFAULT 'pending'
                           CHECK (enrichment_status IN ('pending', 'processing', 'enriched', 'failed', 'skipped')),
    status                 TEXT NOT NULL DEFAULT 'open'
                           CHECK (status IN ('open', 'enriching', 'ready', 'approved', 'executing',
                                             'completed', 'dismissed', 'auto_resolved')),
    deal_id                TEXT,
    contact_id             TEXT,
    queue_priority         INTEGER NOT NULL DEFAULT 2 CHECK (queue_priority BETWEEN 0 AND 3),
    queued_at              TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    processing_started_at  TEXT,
    processing_attempts    INTEGER NOT NULL DEFAULT 0,
    dedup_key              TEXT,
    merge_group_id         TEXT,
    is_primary             INTEGER NOT NULL DEFAULT 1,
    merged_evidence        TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(merged_evidence)),
    merged_confidence      NUMERIC,
    contributing_agents    TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(contributing_agents)),
    merge_window_expires   TEXT,
    created_at             TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at             TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    lease_owner            TEXT,
    lease_token            INTEGER NOT NULL DEFAULT 0,
    lease_expires_at       TEXT,
    failure_reason         TEXT,
    enrichment_context     TEXT CHECK (enrichment_context IS NULL OR json_valid(enrichment_context)),
    enriched_at            TEXT
);
INSERT INTO command_centre_items_next (
    id, org_id, user_id, source_agent, source_event_id, item_type, title, summary, context,
    priority_score, urgency, enrichment_status, status, deal_id, contact_id, queue_priority,
    queued_at, processing_started_at, processing_attempts, dedup_key, merge_group_id,
    is_primary, merged_evidence, merged_confidence, contributing_agents, merge_window_expires,
    created_at, updated_at)
SELECT
    id, org_id, user_id, source_agent, source_event_id, item_type, title, summary, context,
    priority_score, urgency, enrichment_status, status, deal_id, contact_id, queue_priority,
    queued_at, processing_started_at, processing_attempts, dedup_key, merge_group_id,
    is_primary, merged_evidence, merged_confidence, contributing_agents, merge_window_expires,
    created_at, updated_at
FROM command_centre_items;
DROP TABLE command_centre_items;
ALTER TABLE command_centre_items_next RENAME TO command_centre_items;

CREATE INDEX command_centre_items_queue_idx ON command_centre_items (queue_priority, queued_at, id)
    WHERE enrichment_status = 'pending';
CREATE INDEX command_centre_items_dedup_idx ON command_centre_items (org_id, dedup_key, merge_window_expires)
    WHERE dedup_key IS NOT NULL AND is_primary;
CREATE INDEX command_centre_items_lease_idx ON command_centre_items (lease_expires_at)
    WHERE enrichment_status = 'processing';
CREATE INDEX command_centre_items_in_flight_idx ON command_centre_items (org_id)
    WHERE enrichment_status = 'processing';
CREATE INDEX command_centre_items_claimed_idx ON command_centre_items (processing_started_at)
    WHERE processing_started_at IS NOT NULL;
CREATE INDEX command_centre_items_enriched_idx ON command_centre_items (enriched_at)
    WHERE enriched_at IS NOT NULL;
CREATE INDEX command_centre_items_failed_idx ON command_centre_items (updated_at)
    WHERE enrichment_status = 'failed';

-- GCRA state, one row per limit key (see keel::flow::shared).
CREATE TABLE rate_limits (
    key        TEXT PRIMARY KEY NOT NULL,
    tat_ms     REAL NOT NULL,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
