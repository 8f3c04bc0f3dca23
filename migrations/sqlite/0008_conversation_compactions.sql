-- Compactions: views over the transcript (see the PostgreSQL migration).

CREATE TABLE conversation_compactions (
    conversation_id     TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    number              INTEGER NOT NULL CHECK (number >= 1),
    org_id              TEXT NOT NULL,
    idempotency_key     TEXT NOT NULL,
    method              TEXT NOT NULL CHECK (method IN ('mask', 'summary', 'trim')),
    covered_through     INTEGER NOT NULL DEFAULT 0 CHECK (covered_through >= 0),
    summary             TEXT,
    masked              TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(masked)),
    summarized_from     INTEGER,
    summarized_through  INTEGER,
    facts_from          INTEGER,
    facts_through       INTEGER,
    tokens_before       INTEGER NOT NULL CHECK (tokens_before >= 0),
    tokens_after        INTEGER NOT NULL CHECK (tokens_after >= 0),
    note                TEXT,
    created_at          TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (conversation_id, number),
    CONSTRAINT conversation_compactions_key UNIQUE (conversation_id, idempotency_key)
);
