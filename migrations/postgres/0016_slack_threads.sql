-- Slack copilot threads (keel::channels::threads; the original's §5). The original's columns
-- are kept, with these changes:
-- - the unique key is (org_id, slack_team_id, slack_channel_id, slack_thread_ts), so a
--   thread is found or created by one INSERT … ON CONFLICT … RETURNING (the original keyed on
--   channel and ts only and re-selected after a 23505);
-- - the transcript is the conversation `conversation_id` of the memory store (channel
--   `slack`), so compaction, token counts and fact extraction apply to threads unchanged;
--   keel.slack_copilot_messages maps each Slack message (its `ts`, unique per thread, so a
--   redelivered event is stored once) to the conversation's seq, with its intent and
--   metadata;
-- - extraction is driven by a watermark: `extracted_through` (the last seq summarised),
--   `extraction_due_at` (set when messages arrive: now once N new messages wait, else the
--   time the thread goes quiet), `extraction_attempts` and `extraction_error` (a failure
--   keeps the watermark and moves the due time back);
-- - counters and lists (message_count, intents_used, credits_consumed, actions_taken, turns)
--   move in single UPDATE statements, never read-modify-write.
-- conversation_context gains entity_name (the name as mentioned, for the read path) and
-- agent_name (which fleet agent wrote the row).

CREATE TABLE keel.slack_copilot_threads (
    id                   uuid PRIMARY KEY,
    org_id               uuid NOT NULL,
    user_id              uuid NOT NULL,
    slack_team_id        text NOT NULL,
    slack_channel_id     text NOT NULL,
    slack_thread_ts      text NOT NULL,
    conversation_id      uuid NOT NULL REFERENCES keel.conversations (id) ON DELETE CASCADE,
    title                text,
    message_count        integer NOT NULL DEFAULT 0 CHECK (message_count >= 0),
    last_message_at      timestamptz NOT NULL DEFAULT now(),
    context              jsonb NOT NULL DEFAULT '{}',
    active_deal_id       uuid,
    active_contact_id    uuid,
    active_company_id    uuid,
    active_meeting_id    uuid,
    loaded_context       jsonb,
    turns                jsonb NOT NULL DEFAULT '[]',
    intents_used         text[] NOT NULL DEFAULT '{}',
    credits_consumed     numeric(14, 4) NOT NULL DEFAULT 0,
    actions_taken        jsonb NOT NULL DEFAULT '[]',
    extracted_through    bigint NOT NULL DEFAULT 0 CHECK (extracted_through >= 0),
    extracted_at         timestamptz,
    extraction_due_at    timestamptz,
    extraction_attempts  integer NOT NULL DEFAULT 0,
    extraction_error     text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT slack_copilot_threads_key
        UNIQUE (org_id, slack_team_id, slack_channel_id, slack_thread_ts)
);
CREATE INDEX slack_copilot_threads_due_idx ON keel.slack_copilot_threads (extraction_due_at)
    WHERE extraction_due_at IS NOT NULL;
CREATE INDEX slack_copilot_threads_user_idx
    ON keel.slack_copilot_threads (org_id, user_id, last_message_at DESC);
SELECT keel.enable_rls('keel.slack_copilot_threads', 'org');

CREATE TABLE keel.slack_copilot_messages (
    thread_id   uuid NOT NULL REFERENCES keel.slack_copilot_threads (id) ON DELETE CASCADE,
    slack_ts    text NOT NULL,
    org_id      uuid NOT NULL,
    seq         bigint NOT NULL CHECK (seq >= 1),
    role        text NOT NULL CHECK (role IN ('user', 'assistant')),
    slack_user  text,
    intent      text,
    metadata    jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (thread_id, slack_ts)
);
CREATE UNIQUE INDEX slack_copilot_messages_seq_idx ON keel.slack_copilot_messages (thread_id, seq);
SELECT keel.enable_rls('keel.slack_copilot_messages', 'org');

ALTER TABLE keel.conversation_context
    ADD COLUMN entity_name text,
    ADD COLUMN agent_name  text;
CREATE INDEX conversation_context_name_idx
    ON keel.conversation_context (org_id, user_id, lower(entity_name), last_updated)
    WHERE archived_at IS NULL AND entity_name IS NOT NULL;
