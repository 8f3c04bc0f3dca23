-- Conversation memory: conversations and their append-only messages (see the PostgreSQL
-- migration).

CREATE TABLE conversations (
    id                  TEXT PRIMARY KEY NOT NULL,
    org_id              TEXT NOT NULL,
    user_id             TEXT NOT NULL,
    channel             TEXT NOT NULL CHECK (channel IN ('web', 'slack', 'agent')),
    channel_ref         TEXT NOT NULL DEFAULT '',
    title               TEXT,
    message_count       INTEGER NOT NULL DEFAULT 0 CHECK (message_count >= 0),
    total_tokens        INTEGER NOT NULL DEFAULT 0 CHECK (total_tokens >= 0),
    pending_tool_calls  TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(pending_tool_calls)),
    created_at          TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at          TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    CONSTRAINT conversations_key UNIQUE (org_id, user_id, channel, channel_ref)
);
CREATE INDEX conversations_user_idx ON conversations (org_id, user_id, updated_at);

CREATE TABLE conversation_messages (
    conversation_id  TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq              INTEGER NOT NULL CHECK (seq >= 1),
    org_id           TEXT NOT NULL,
    role             TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
    content          TEXT NOT NULL CHECK (json_valid(content)),
    tokens           INTEGER NOT NULL CHECK (tokens >= 0),
    tokens_exact     INTEGER NOT NULL DEFAULT 0,
    created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (conversation_id, seq)
);
