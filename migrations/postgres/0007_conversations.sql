-- Conversation memory: conversations (org -> user -> conversation, one per channel and channel
-- reference) and their append-only messages. The running token total and the message count live
-- on the conversation row and move only inside the transaction that appends, under its row lock:
-- never read-modify-write from a client. `pending_tool_calls` holds the ids of tool calls not yet
-- answered, so a tool result without its call is refused.

CREATE TABLE keel.conversations (
    id                  uuid PRIMARY KEY,
    org_id              uuid NOT NULL,
    user_id             text NOT NULL,
    channel             text NOT NULL CHECK (channel IN ('web', 'slack', 'agent')),
    channel_ref         text NOT NULL DEFAULT '',
    title               text,
    message_count       bigint NOT NULL DEFAULT 0 CHECK (message_count >= 0),
    total_tokens        bigint NOT NULL DEFAULT 0 CHECK (total_tokens >= 0),
    pending_tool_calls  jsonb NOT NULL DEFAULT '[]',
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT conversations_key UNIQUE (org_id, user_id, channel, channel_ref)
);
CREATE INDEX conversations_user_idx ON keel.conversations (org_id, user_id, updated_at DESC);
SELECT keel.enable_rls('keel.conversations', 'org');

CREATE TABLE keel.conversation_messages (
    conversation_id  uuid NOT NULL REFERENCES keel.conversations (id) ON DELETE CASCADE,
    seq              bigint NOT NULL CHECK (seq >= 1),
    org_id           uuid NOT NULL,
    role             text NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
    content          jsonb NOT NULL,
    tokens           bigint NOT NULL CHECK (tokens >= 0),
    tokens_exact     boolean NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (conversation_id, seq)
);
SELECT keel.enable_rls('keel.conversation_messages', 'org');
