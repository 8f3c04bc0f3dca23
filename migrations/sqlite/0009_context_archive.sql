-- Cross-channel context is archived, never hard-deleted (see the PostgreSQL migration).

ALTER TABLE conversation_context ADD COLUMN archived_at TEXT;
CREATE INDEX conversation_context_live_idx
    ON conversation_context (org_id, user_id, last_updated) WHERE archived_at IS NULL;
