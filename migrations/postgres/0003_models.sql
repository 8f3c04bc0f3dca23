-- Model router: a scoped matrix (platform rows and per-org overrides), per-org default tiers,
-- circuit breakers shared by every instance, and credit reservations.

-- Matrix rows: org_id NULL is the platform default; a row with an org_id belongs to that org's
-- override of its (feature, tier) slot. One primary and unique fallback orders per slot.
ALTER TABLE keel.model_config ADD COLUMN org_id uuid;
ALTER TABLE keel.model_config DROP CONSTRAINT model_config_feature_intelligence_tier_provider_model_id_key;
DROP INDEX keel.model_config_one_primary_idx;
DROP INDEX keel.model_config_fallback_idx;
ALTER TABLE keel.model_config
    ADD CONSTRAINT model_config_feature_check
        CHECK (feature IN ('copilot', 'fleet_agent', 'recording', 'embedding', 'enrichment')),
    ADD CONSTRAINT model_config_role_check CHECK (is_primary <> is_fallback),
    ADD CONSTRAINT model_config_prices_check
        CHECK (coalesce(input_cost_per_mtok, 0) >= 0 AND coalesce(output_cost_per_mtok, 0) >= 0),
    ADD CONSTRAINT model_config_context_window_check CHECK (context_window IS NULL OR context_window > 0);
CREATE UNIQUE INDEX model_config_row_idx ON keel.model_config
    (coalesce(org_id, '00000000-0000-0000-0000-000000000000'), feature, intelligence_tier, provider, model_id);
CREATE UNIQUE INDEX model_config_one_primary_idx ON keel.model_config
    (coalesce(org_id, '00000000-0000-0000-0000-000000000000'), feature, intelligence_tier)
    WHERE is_primary AND is_active;
CREATE UNIQUE INDEX model_config_fallback_order_idx ON keel.model_config
    (coalesce(org_id, '00000000-0000-0000-0000-000000000000'), feature, intelligence_tier, fallback_order)
    WHERE is_fallback AND is_active;

-- The tier an org uses for a feature when a request names none.
CREATE TABLE keel.org_model_tiers (
    org_id             uuid NOT NULL,
    feature            text NOT NULL
                       CHECK (feature IN ('copilot', 'fleet_agent', 'recording', 'embedding', 'enrichment')),
    intelligence_tier  text NOT NULL CHECK (intelligence_tier IN ('low', 'medium', 'high')),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, feature)
);

-- Breakers: one row per (provider, model); model_id '*' is the provider-wide breaker.
ALTER TABLE keel.model_health
    ADD COLUMN recent_failures  jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN open_until       timestamptz,
    ADD COLUMN reopen_count     integer NOT NULL DEFAULT 0 CHECK (reopen_count >= 0),
    ADD COLUMN probe_claimed_at timestamptz;

-- Reserve, then commit or release: the estimate is debited at reserve time, so concurrent
-- reservations cannot overspend; the settlement moves the difference.
ALTER TABLE keel.credit_ledger DROP CONSTRAINT credit_ledger_kind_check;
ALTER TABLE keel.credit_ledger ADD CONSTRAINT credit_ledger_kind_check
    CHECK (kind IN ('purchase', 'deduction', 'refund', 'adjustment', 'bonus', 'grace_recovery',
                    'reservation', 'settlement', 'release'));
CREATE TABLE keel.credit_reservations (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id           uuid NOT NULL,
    amount           numeric(14, 4) NOT NULL CHECK (amount >= 0),
    status           text NOT NULL DEFAULT 'reserved' CHECK (status IN ('reserved', 'committed', 'released')),
    actual           numeric(14, 4),
    idempotency_key  text NOT NULL,
    feature_key      text,
    model_id         text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    settled_at       timestamptz,
    UNIQUE (org_id, idempotency_key)
);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['org_model_tiers', 'credit_reservations'] LOOP
        EXECUTE format('ALTER TABLE keel.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('REVOKE ALL ON keel.%I FROM PUBLIC, anon, authenticated', t);
        EXECUTE format('GRANT SELECT ON keel.%I TO authenticated', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON keel.%I TO service_role', t);
        EXECUTE format('CREATE POLICY service_role_all ON keel.%I TO service_role USING (true) WITH CHECK (true)', t);
        EXECUTE format('CREATE POLICY org_members_read ON keel.%I FOR SELECT TO authenticated '
                       'USING (keel.is_org_member(org_id))', t);
    END LOOP;
END
$$;
