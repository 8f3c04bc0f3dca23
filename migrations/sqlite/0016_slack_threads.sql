-- Slack copilot threads and their messages, conversation_context's entity and agent names
-- (see postgres/0016_slack_threads.sql). Arrays are JSON text.

CREATE TABLE slack_copilot_threads (
    id                   TEXT PRIMARY KEY NOT NULL,
    org_id               TEXT NOT NULL,
    user_id              TEXT NOT NULL,
    slack_team_id        TEXT NOT NULL,
    slack_channel_id     TEXT NOT NULL,
    slack_thread_ts      TEXT NOT NULL,
    conversation_id      TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    title                TEXT,
    message_count        INTEGER NOT NULL DEFAULT 0 CHECK (message_count >= 0),
    last_message_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    context              TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(context)),
    active_deal_id       TEXT,
    active_contact_id    TEXT,
    active_company_id    TEXT,
    active_meeting_id    TEXT,
    loaded_context       TEXT CHECK (loaded_context IS NULL OR json_valid(loaded_context)),
    turns                TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(turns)),
    intents_used         TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(intents_used)),
    credits_consumed     NUMERIC NOT NULL DEFAULT 0,
    actions_taken        TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(actions_taken)),
    extracted_through    INTEGER NOT NULL DEFAULT 0 CHECK (extracted_through >= 0),
    extracted_at         TEXT,
    extraction_due_at    TEXT,
    extraction_attempts  INTEGER NOT NULL DEFAULT 0,
    extraction_error     TEXT,
    created_at           TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at           TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    CONSTRAINT slack_copilot_threads_key
        UNIQUE (org_id, slack_team_id, slack_channel_id, slack_thread_ts)
);
CREATE INDEX slack_copilot_threads_due_idx ON slack_copilot_threads (extraction_due_at)
    WHERE extraction_due_at IS NOT NULL;
CREATE INDEX slack_copilot_threads_user_idx
    ON slack_copilot_threads (org_id, user_id, last_message_at);

CREATE TABLE slack_copilot_messages (
    thread_id   TEXT NOT NULL REFERENCES slack_copilot_threads (id) ON DELETE CASCADE,
    slack_ts    TEXT NOT NULL,
    org_id      TEXT NOT NULL,
    seq         INTEGER NOT NULL CHECK (seq >= 1),
    role        TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    slack_user  TEXT,
    intent      TEXT,
    metadata    TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (thread_id, slack_ts)
) WITHOUT ROWID;
CREATE UNIQUE INDEX slack_copilot_messages_seq_idx ON slack_copilot_messages (thread_id, seq);

ALTER TABLE conversation_context ADD COLUMN entity_name TEXT;
ALTER TABLE conversation_context ADD COLUMN agent_name TEXT;
CREATE INDEX conversation_context_name_idx
    ON conversation_context (org_id, user_id, lower(entity_name), last_updated)
    WHERE archived_at IS NULL AND entity_name IS NOT NULL;
