-- Pairs migrations/postgres/0003_models.sql. SQLite cannot alter constraints, so model_config
-- and credit_ledger are rebuilt with their new ones.

CREATE TABLE model_config_new (
    id                    TEXT PRIMARY KEY NOT NULL,
    org_id                TEXT,
    provider              TEXT NOT NULL,
    model_id              TEXT NOT NULL,
    intelligence_tier     TEXT NOT NULL CHECK (intelligence_tier IN ('low', 'medium', 'high')),
    feature               TEXT NOT NULL
                          CHECK (feature IN ('copilot', 'fleet_agent', 'recording', 'embedding', 'enrichment')),
    is_primary            INTEGER NOT NULL DEFAULT 0,
    is_fallback           INTEGER NOT NULL DEFAULT 0,
    fallback_order        INTEGER NOT NULL DEFAULT 0,
    credit_cost           NUMERIC NOT NULL DEFAULT 0 CHECK (credit_cost >= 0),
    input_cost_per_mtok   NUMERIC CHECK (input_cost_per_mtok IS NULL OR input_cost_per_mtok >= 0),
    output_cost_per_mtok  NUMERIC CHECK (output_cost_per_mtok IS NULL OR output_cost_per_mtok >= 0),
    max_tokens            INTEGER NOT NULL DEFAULT 4096 CHECK (max_tokens > 0),
    context_window        INTEGER CHECK (context_window IS NULL OR context_window > 0),
    is_active             INTEGER NOT NULL DEFAULT 1,
    updated_at            TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    CHECK (is_primary <> is_fallback)
);
INSERT INTO model_config_new (id, provider, model_id, intelligence_tier, feature, is_primary, is_fallback,
                              fallback_order, credit_cost, input_cost_per_mtok, output_cost_per_mtok,
                              max_tokens, context_window, is_active, updated_at)
    SELECT id, provider, model_id, intelligence_tier, feature, is_primary, is_fallback, fallback_order,
           credit_cost, input_cost_per_mtok, output_cost_per_mtok, max_tokens, context_window, is_active,
           updated_at
    FROM model_config;
DROP TABLE model_config;
ALTER TABLE model_config_new RENAME TO model_config;
CREATE UNIQUE INDEX model_config_row_idx ON model_config
    (coalesce(org_id, ''), feature, intelligence_tier, provider, model_id);
CREATE UNIQUE INDEX model_config_one_primary_idx ON model_config
    (coalesce(org_id, ''), feature, intelligence_tier) WHERE is_primary AND is_active;
CREATE UNIQUE INDEX model_config_fallback_order_idx ON model_config
    (coalesce(org_id, ''), feature, intelligence_tier, fallback_order) WHERE is_fallback AND is_active;

CREATE TABLE org_model_tiers (
    org_id             TEXT NOT NULL,
    feature            TEXT NOT NULL
                       CHECK (feature IN ('copilot', 'fleet_agent', 'recording', 'embedding', 'enrichment')),
    intelligence_tier  TEXT NOT NULL CHECK (intelligence_tier IN ('low', 'medium', 'high')),
    updated_at         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (org_id, feature)
);

ALTER TABLE model_health ADD COLUMN recent_failures TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(recent_failures));
ALTER TABLE model_health ADD COLUMN open_until TEXT;
ALTER TABLE model_health ADD COLUMN reopen_count INTEGER NOT NULL DEFAULT 0 CHECK (reopen_count >= 0);
ALTER TABLE model_health ADD COLUMN probe_claimed_at TEXT;

CREATE TABLE credit_ledger_new (
    id               TEXT PRIMARY KEY NOT NULL,
    org_id           TEXT NOT NULL,
    kind             TEXT NOT NULL
                     CHECK (kind IN ('purchase', 'deduction', 'refund', 'adjustment', 'bonus', 'grace_recovery',
                                     'reservation', 'settlement', 'release')),
    amount           NUMERIC NOT NULL,
    balance_after    NUMERIC NOT NULL,
    description      TEXT,
    feature_key      TEXT,
    model_id         TEXT,
    tokens_used      INTEGER,
    agent_name       TEXT,
    trace_id         TEXT,
    idempotency_key  TEXT,
    created_by       TEXT,
    created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
INSERT INTO credit_ledger_new SELECT id, org_id, kind, amount, balance_after, description, feature_key, model_id,
                                     tokens_used, agent_name, trace_id, idempotency_key, created_by, created_at
                              FROM credit_ledger;
DROP TABLE credit_ledger;
ALTER TABLE credit_ledger_new RENAME TO credit_ledger;
CREATE UNIQUE INDEX credit_ledger_idempotency_idx ON credit_ledger (org_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX credit_ledger_org_time_idx ON credit_ledger (org_id, created_at);

CREATE TABLE credit_reservations (
    id               TEXT PRIMARY KEY NOT NULL,
    org_id           TEXT NOT NULL,
    amount           NUMERIC NOT NULL CHECK (amount >= 0),
    status           TEXT NOT NULL DEFAULT 'reserved' CHECK (status IN ('reserved', 'committed', 'released')),
    actual           NUMERIC,
    idempotency_key  TEXT NOT NULL,
    feature_key      TEXT,
    model_id         TEXT,
    created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    settled_at       TEXT,
    UNIQUE (org_id, idempotency_key)
);
