-- Compactions: each one a view over the transcript, never a change to it. The newest row of a
-- conversation says which turns its summary stands for (`covered_through`: every turn up to it
-- but system turns), which tool results are stubs (`masked`, every seq so far) and which oldest
-- turns wait for fact extraction (`facts_from`..`facts_through`). `number` counts a
-- conversation's compactions: two instances compacting the same state both insert the next
-- number and the primary key lets one win; a retry with the same idempotency key finds its row.

CREATE TABLE keel.conversation_compactions (
    conversation_id     uuid NOT NULL REFERENCES keel.conversations (id) ON DELETE CASCADE,
    number              bigint NOT NULL CHECK (number >= 1),
    org_id              uuid NOT NULL,
    idempotency_key     text NOT NULL,
    method              text NOT NULL CHECK (method IN ('mask', 'summary', 'trim')),
    covered_through     bigint NOT NULL DEFAULT 0 CHECK (covered_through >= 0),
    summary             text,
    masked              jsonb NOT NULL DEFAULT '[]',
    summarized_from     bigint,
    summarized_through  bigint,
    facts_from          bigint,
    facts_through       bigint,
    tokens_before       bigint NOT NULL CHECK (tokens_before >= 0),
    tokens_after        bigint NOT NULL CHECK (tokens_after >= 0),
    note                text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (conversation_id, number),
    CONSTRAINT conversation_compactions_key UNIQUE (conversation_id, idempotency_key)
);
SELECT keel.enable_rls('keel.conversation_compactions', 'org');
