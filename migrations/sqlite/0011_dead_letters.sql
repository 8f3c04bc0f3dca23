-- Dead letters that a retry worker can lease: see postgres/0011_dead_letters.sql. SQLite
-- cannot change a CHECK constraint, so the table is rebuilt with the new status and columns.

CREATE TABLE agent_dead_letters_next (
    id               TEXT PRIMARY KEY NOT NULL,
    trace_id         TEXT,
    agent_name       TEXT NOT NULL,
    trigger_type     TEXT NOT NULL,
    trigger_payload  TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(trigger_payload)),
    failure_reason   TEXT NOT NULL,
    error_detail     TEXT,
    error_code       TEXT,
    org_id           TEXT,
    user_id          TEXT,
    status           TEXT NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'retrying', 'accepted', 'resolved', 'abandoned')),
    retry_count      INTEGER NOT NULL DEFAULT 0,
    max_retries      INTEGER NOT NULL DEFAULT 3 CHECK (max_retries >= 0),
    next_retry_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    locked_until     TEXT,
    locked_by        TEXT,
    idempotency_key  TEXT UNIQUE,
    created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    resolved_at      TEXT,
    error_kind       TEXT,
    error_history    TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(error_history)),
    fencing_token    INTEGER NOT NULL DEFAULT 0,
    abandoned_reason TEXT,
    org_ref          TEXT,
    user_ref         TEXT,
    updated_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
INSERT INTO agent_dead_letters_next
    (id, trace_id, agent_name, trigger_type, trigger_payload, failure_reason, error_detail,
     error_code, org_id, user_id, status, retry_count, max_retries, next_retry_at, locked_until,
     locked_by, idempotency_key, created_at, resolved_at)
SELECT id, trace_id, agent_name, trigger_type, trigger_payload, failure_reason, error_detail,
       error_code, org_id, user_id, status, retry_count, max_retries, next_retry_at, locked_until,
       locked_by, idempotency_key, created_at, resolved_at
FROM agent_dead_letters;
DROP TABLE agent_dead_letters;
ALTER TABLE agent_dead_letters_next RENAME TO agent_dead_letters;

CREATE INDEX agent_dead_letters_agent_time_idx ON agent_dead_letters (agent_name, created_at);
CREATE INDEX agent_dead_letters_due_idx ON agent_dead_letters (next_retry_at) WHERE status = 'pending';
CREATE INDEX agent_dead_letters_lease_idx ON agent_dead_letters (locked_until)
    WHERE status IN ('retrying', 'accepted');
CREATE INDEX agent_dead_letters_status_idx ON agent_dead_letters (status, created_at);
