-- Message routing: every decision in routing_logs, and routing_cache rows that belong to one
-- org, one channel and the version of the org's skills they were computed against.

CREATE TABLE keel.routing_logs (
    id               uuid PRIMARY KEY,
    org_id           uuid NOT NULL,
    user_id          text,
    channel          text NOT NULL CHECK (channel IN ('web', 'slack', 'fleet', 'command_centre')),
    message_hash     text NOT NULL,
    message_snippet  text NOT NULL,
    route            text NOT NULL,
    skill_key        text,
    matched_by       text NOT NULL,
    stage            text NOT NULL,
    confidence       double precision NOT NULL CHECK (confidence >= 0 AND confidence <= 1),
    out_of_scope     boolean NOT NULL,
    cached           boolean NOT NULL,
    candidates       jsonb NOT NULL DEFAULT '[]',
    skills_version   text NOT NULL,
    trace_id         uuid NOT NULL,
    latency_us       bigint NOT NULL CHECK (latency_us >= 0),
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX routing_logs_org_time_idx ON keel.routing_logs (org_id, created_at DESC);
SELECT keel.enable_rls('keel.routing_logs', 'org');

-- The foundation's routing_cache had a nullable org and was closed to everyone but the service
-- role; its rows (if any) carry no skills version and cannot be trusted.
DELETE FROM keel.routing_cache;
ALTER TABLE keel.routing_cache
    ALTER COLUMN org_id SET NOT NULL,
    ADD COLUMN channel text NOT NULL CHECK (channel IN ('web', 'slack', 'fleet', 'command_centre')),
    ADD COLUMN skills_version text NOT NULL;
CREATE INDEX routing_cache_view_idx ON keel.routing_cache (org_id, channel, skills_version);
SELECT keel.enable_rls('keel.routing_cache', 'org');
