-- Facts: what the copilot remembers about a user across conversations (the original's
-- copilot_memories, §3.1 of the MEM reference), with provenance and a recall index.
--
-- A fact is never deleted by a newer one: `superseded_by` and `superseded_at` mark it, and
-- recall skips it. `terms` holds the fact's analysed terms (stems and counts, as JSON) and
-- `doc_len` their total, both computed by Keel (keel::memory::fact_terms).
--
-- The recall index, kept per (org, user) in the transaction that writes a fact:
-- - memory_fact_terms: one row per term of each fact (the postings);
-- - memory_term_stats: each term's document frequency over the user's live facts; the row
--   whose term is '' holds the number of live facts (df) and the sum of their doc_len. Every
--   writer takes that row first, so writers of one user queue on it instead of deadlocking.
-- - memory_extractions: one row per extraction key, so an extraction runs once.

CREATE TABLE keel.memory_facts (
    id                uuid PRIMARY KEY,
    org_id            uuid NOT NULL,
    user_id           text NOT NULL,
    category          text NOT NULL
                      CHECK (category IN ('deal', 'relationship', 'preference', 'commitment', 'fact')),
    subject           text NOT NULL CHECK (length(subject) BETWEEN 1 AND 200),
    content           text NOT NULL CHECK (length(content) BETWEEN 1 AND 2000),
    confidence        float8 NOT NULL CHECK (confidence >= 0 AND confidence <= 1),
    conversation_id   uuid,
    source_seqs       jsonb NOT NULL DEFAULT '[]',
    deal_name         text,
    contact_name      text,
    company_name      text,
    deal_id           text,
    contact_id        text,
    company_id        text,
    observed_at       timestamptz NOT NULL DEFAULT now(),
    created_at        timestamptz NOT NULL DEFAULT now(),
    expires_at        timestamptz,
    superseded_by     uuid,
    superseded_at     timestamptz,
    access_count      bigint NOT NULL DEFAULT 0 CHECK (access_count >= 0),
    last_accessed_at  timestamptz,
    terms             jsonb NOT NULL DEFAULT '[]',
    doc_len           bigint NOT NULL DEFAULT 0 CHECK (doc_len >= 0)
);
CREATE INDEX memory_facts_user_idx
    ON keel.memory_facts (org_id, user_id, observed_at DESC) WHERE superseded_at IS NULL;
CREATE INDEX memory_facts_deal_idx ON keel.memory_facts (org_id, deal_id) WHERE deal_id IS NOT NULL;
CREATE INDEX memory_facts_contact_idx
    ON keel.memory_facts (org_id, contact_id) WHERE contact_id IS NOT NULL;
CREATE INDEX memory_facts_company_idx
    ON keel.memory_facts (org_id, company_id) WHERE company_id IS NOT NULL;
SELECT keel.enable_rls('keel.memory_facts', 'org');

CREATE TABLE keel.memory_fact_terms (
    org_id   uuid NOT NULL,
    user_id  text NOT NULL,
    term     text NOT NULL,
    fact_id  uuid NOT NULL REFERENCES keel.memory_facts (id) ON DELETE CASCADE,
    PRIMARY KEY (org_id, user_id, term, fact_id)
);
CREATE INDEX memory_fact_terms_fact_idx ON keel.memory_fact_terms (fact_id);
SELECT keel.enable_rls('keel.memory_fact_terms', 'org');

CREATE TABLE keel.memory_term_stats (
    org_id     uuid NOT NULL,
    user_id    text NOT NULL,
    term       text NOT NULL,
    df         bigint NOT NULL DEFAULT 0 CHECK (df >= 0),
    total_len  bigint NOT NULL DEFAULT 0 CHECK (total_len >= 0),
    PRIMARY KEY (org_id, user_id, term)
);
SELECT keel.enable_rls('keel.memory_term_stats', 'org');

CREATE TABLE keel.memory_extractions (
    org_id      uuid NOT NULL,
    key         text NOT NULL,
    fact_ids    jsonb NOT NULL DEFAULT '[]',
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, key)
);
SELECT keel.enable_rls('keel.memory_extractions', 'org');
