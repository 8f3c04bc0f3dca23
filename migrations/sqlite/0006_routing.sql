-- Message routing: every decision in routing_logs, and routing_cache rows that belong to one
-- org, one channel and the version of the org's skills they were computed against (see the
-- PostgreSQL migration).

CREATE TABLE routing_logs (
    id               TEXT PRIMARY KEY NOT NULL,
    org_id           TEXT NOT NULL,
    user_id          TEXT,
    channel          TEXT NOT NULL CHECK (channel IN ('web', 'slack', 'fleet', 'command_centre')),
    message_hash     TEXT NOT NULL,
    message_snippet  TEXT NOT NULL,
    route            TEXT NOT NULL,
    skill_key        TEXT,
    matched_by       TEXT NOT NULL,
    stage            TEXT NOT NULL,
    confidence       REAL NOT NULL CHECK (confidence >= 0 AND confidence <= 1),
    out_of_scope     INTEGER NOT NULL,
    cached           INTEGER NOT NULL,
    candidates       TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(candidates)),
    skills_version   TEXT NOT NULL,
    trace_id         TEXT NOT NULL,
    latency_us       INTEGER NOT NULL CHECK (latency_us >= 0),
    created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX routing_logs_org_time_idx ON routing_logs (org_id, created_at);

DROP TABLE routing_cache;
CREATE TABLE routing_cache (
    hash_key        TEXT PRIMARY KEY NOT NULL,
    org_id          TEXT NOT NULL,
    channel         TEXT NOT NULL CHECK (channel IN ('web', 'slack', 'fleet', 'command_centre')),
    skills_version  TEXT NOT NULL,
    response        TEXT NOT NULL CHECK (json_valid(response)),
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    expires_at      TEXT NOT NULL
);
CREATE INDEX routing_cache_expires_idx ON routing_cache (expires_at);
CREATE INDEX routing_cache_view_idx ON routing_cache (org_id, channel, skills_version);
