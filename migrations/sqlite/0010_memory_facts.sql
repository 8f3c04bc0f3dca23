-- Facts and their recall index (see the PostgreSQL migration).

CREATE TABLE memory_facts (
    id                TEXT PRIMARY KEY NOT NULL,
    org_id            TEXT NOT NULL,
    user_id           TEXT NOT NULL,
    category          TEXT NOT NULL
                      CHECK (category IN ('deal', 'relationship', 'preference', 'commitment', 'fact')),
    subject           TEXT NOT NULL CHECK (length(subject) BETWEEN 1 AND 200),
    content           TEXT NOT NULL CHECK (length(content) BETWEEN 1 AND 2000),
    confidence        REAL NOT NULL CHECK (confidence >= 0 AND confidence <= 1),
    conversation_id   TEXT,
    source_seqs       TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(source_seqs)),
    deal_name         TEXT,
    contact_name      TEXT,
    company_name      TEXT,
    deal_id           TEXT,
    contact_id        TEXT,
    company_id        TEXT,
    observed_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    created_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    expires_at        TEXT,
    superseded_by     TEXT,
    superseded_at     TEXT,
    access_count      INTEGER NOT NULL DEFAULT 0 CHECK (access_count >= 0),
    last_accessed_at  TEXT,
    terms             TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(terms)),
    doc_len           INTEGER NOT NULL DEFAULT 0 CHECK (doc_len >= 0)
);
CREATE INDEX memory_facts_user_idx
    ON memory_facts (org_id, user_id, observed_at) WHERE superseded_at IS NULL;
CREATE INDEX memory_facts_deal_idx ON memory_facts (org_id, deal_id) WHERE deal_id IS NOT NULL;
CREATE INDEX memory_facts_contact_idx ON memory_facts (org_id, contact_id) WHERE contact_id IS NOT NULL;
CREATE INDEX memory_facts_company_idx ON memory_facts (org_id, company_id) WHERE company_id IS NOT NULL;

CREATE TABLE memory_fact_terms (
    org_id   TEXT NOT NULL,
    user_id  TEXT NOT NULL,
    term     TEXT NOT NULL,
    fact_id  TEXT NOT NULL REFERENCES memory_facts (id) ON DELETE CASCADE,
    PRIMARY KEY (org_id, user_id, term, fact_id)
);
CREATE INDEX memory_fact_terms_fact_idx ON memory_fact_terms (fact_id);

CREATE TABLE memory_term_stats (
    org_id     TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    term       TEXT NOT NULL,
    df         INTEGER NOT NULL DEFAULT 0 CHECK (df >= 0),
    total_len  INTEGER NOT NULL DEFAULT 0 CHECK (total_len >= 0),
    PRIMARY KEY (org_id, user_id, term)
);

CREATE TABLE memory_extractions (
    org_id      TEXT NOT NULL,
    key         TEXT NOT NULL,
    fact_ids    TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(fact_ids)),
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (org_id, key)
);
