-- Fleet health: the agent registry (seeded with the original six), alert state, the alert
-- outbox and the snapshots' new columns (see postgres/0018_fleet_health.sql). Lists are JSON
-- text.

CREATE TABLE fleet_agents (
    agent_name      TEXT PRIMARY KEY NOT NULL CHECK (length(agent_name) BETWEEN 1 AND 100),
    cadence_ms      INTEGER NOT NULL CHECK (cadence_ms > 0),
    schedule        TEXT,
    description     TEXT NOT NULL DEFAULT '',
    models          TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(models)),
    stuck_after_ms  INTEGER NOT NULL DEFAULT 600000 CHECK (stuck_after_ms > 0),
    enabled         INTEGER NOT NULL DEFAULT 1,
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

INSERT INTO fleet_agents (agent_name, cadence_ms, schedule, description) VALUES
    ('morning-briefing', 86400000, NULL, 'Daily morning briefing'),
    ('deal-risk-batch', 3600000, NULL, 'Hourly deal risk scoring'),
    ('pipeline-snapshot', 604800000, '0 5 * * 1', 'Weekly pipeline snapshot (Mondays 05:00 UTC)'),
    ('cc-enrich', 900000, NULL, '15-minute CC enrichment pipeline'),
    ('eod-synthesis', 86400000, NULL, 'End-of-day synthesis'),
    ('reengagement-check', 21600000, NULL, '6-hourly re-engagement check');

CREATE TABLE fleet_alert_state (
    agent_name   TEXT PRIMARY KEY NOT NULL,
    notified     TEXT CHECK (notified IN ('healthy', 'warning', 'stale', 'critical')),
    notified_at  TEXT,
    version      INTEGER NOT NULL DEFAULT 0,
    updated_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE fleet_alerts (
    id               TEXT PRIMARY KEY NOT NULL,
    agent_name       TEXT NOT NULL,
    kind             TEXT NOT NULL CHECK (kind IN ('raised', 'reminder', 'recovered')),
    status           TEXT NOT NULL CHECK (status IN ('healthy', 'warning', 'stale', 'critical')),
    reasons          TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(reasons)),
    message          TEXT NOT NULL CHECK (json_valid(message)),
    delivery         TEXT NOT NULL DEFAULT 'pending'
                     CHECK (delivery IN ('pending', 'sending', 'delivered', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    locked_until     TEXT,
    last_error       TEXT,
    created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    delivered_at     TEXT
);
CREATE INDEX fleet_alerts_due_idx ON fleet_alerts (next_attempt_at) WHERE delivery = 'pending';
CREATE INDEX fleet_alerts_lease_idx ON fleet_alerts (locked_until) WHERE delivery = 'sending';
CREATE INDEX fleet_alerts_agent_idx ON fleet_alerts (agent_name, created_at);

ALTER TABLE fleet_health_snapshots ADD COLUMN run_id TEXT;
ALTER TABLE fleet_health_snapshots ADD COLUMN window_ms INTEGER;
ALTER TABLE fleet_health_snapshots ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE fleet_health_snapshots ADD COLUMN p50_duration_ms INTEGER;
ALTER TABLE fleet_health_snapshots ADD COLUMN tokens_consumed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE fleet_health_snapshots ADD COLUMN stuck_runs INTEGER NOT NULL DEFAULT 0;
ALTER TABLE fleet_health_snapshots ADD COLUMN dead_letters INTEGER NOT NULL DEFAULT 0;
ALTER TABLE fleet_health_snapshots ADD COLUMN reasons TEXT NOT NULL DEFAULT '[]'
    CHECK (json_valid(reasons));
CREATE INDEX fleet_health_time_idx ON fleet_health_snapshots (snapshot_at);
CREATE INDEX fleet_health_status_time_idx ON fleet_health_snapshots (status, snapshot_at);

CREATE INDEX agent_executions_success_idx ON agent_executions (agent_name, completed_at)
    WHERE status = 'completed';
CREATE INDEX agent_dead_letters_open_idx ON agent_dead_letters (agent_name)
    WHERE status IN ('pending', 'retrying', 'accepted');
