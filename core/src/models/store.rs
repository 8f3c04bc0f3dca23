//! Storage of the matrix, the org tiers and the breakers, on both backends.
//!
//! Breaker reports run the pure state machine of [`super::breaker`] under the row's lock: a
//! PostgreSQL transaction holding `FOR UPDATE`, or a SQLite `BEGIN IMMEDIATE` transaction (SQLite
//! has one writer). Concurrent reports therefore serialize on the row and none is lost. The probe
//! claim is one conditional `UPDATE … RETURNING` that exactly one caller wins. On PostgreSQL the
//! database's clock is used for every breaker time, so instances with skewed clocks agree.

use uuid::Uuid;

use super::breaker::{BreakerConfig, BreakerRow, CircuitState, Transition};
use super::matrix::{Feature, ModelEntry, Pricing, Role, Scope, Tier};
use crate::error::{Error, Result};
use crate::store::{Dialect, Pool, in_transaction, on_pool};

/// The model id of a provider-wide breaker row.
pub const PROVIDER_WIDE: &str = "*";

type RowTuple = (
    Option<String>,
    String,
    String,
    String,
    String,
    bool,
    i64,
    f64,
    Option<f64>,
    Option<f64>,
    i64,
    Option<i64>,
);

/// Every active matrix row.
pub(crate) async fn load_rows(pool: &Pool) -> Result<Vec<ModelEntry>> {
    let d = Dialect::of(pool);
    let sql = format!(
        "SELECT org_id::text, feature, intelligence_tier, provider, model_id, is_primary,
                fallback_order::int8, {}, {}, {}, max_tokens::int8, context_window::int8
         FROM model_config WHERE is_active",
        d.float("credit_cost"),
        d.float("input_cost_per_mtok"),
        d.float("output_cost_per_mtok"),
    );
    let rows: Vec<RowTuple> = on_pool!(pool, |conn, spell| {
        sqlx::query_as(&spell(&sql)).fetch_all(conn).await?
    });
    rows.into_iter()
        .map(|r| {
            let scope = match r.0 {
                None => Scope::Platform,
                Some(org) => Scope::Org(
                    Uuid::parse_str(&org)
                        .map_err(|_| Error::Internal(format!("model_config.org_id `{org}`")))?,
                ),
            };
            Ok(ModelEntry {
                scope,
                feature: r.1.parse()?,
                tier: r.2.parse()?,
                provider: r.3.into(),
                model_id: r.4.into(),
                role: if r.5 {
                    Role::Primary
                } else {
                    Role::Fallback(u32::try_from(r.6).unwrap_or(0))
                },
                pricing: Pricing {
                    per_request: r.7,
                    input_per_mtok: r.8,
                    output_per_mtok: r.9,
                },
                max_tokens: u32::try_from(r.10).unwrap_or(u32::MAX),
                context_window: r.11.and_then(|c| u32::try_from(c).ok()).unwrap_or(128_000),
            })
        })
        .collect()
}

/// Writes `row` (insert, or update of the same scope/feature/tier/provider/model). Callers
/// validate the whole matrix first; the unique indexes are the backstop.
pub(crate) async fn upsert_row(pool: &Pool, row: &ModelEntry) -> Result<()> {
    let org = match row.scope {
        Scope::Platform => None,
        Scope::Org(org) => Some(org),
    };
    let (primary, order) = match row.role {
        Role::Primary => (true, 0i64),
        Role::Fallback(order) => (false, i64::from(order)),
    };
    // The conflict target is the expression of the unique index, which each backend spells
    // with its own "no org" value.
    let platform = match Dialect::of(pool) {
        d if d == Dialect::POSTGRES => "'00000000-0000-0000-0000-000000000000'::uuid",
        _ => "''",
    };
    let sql = format!(
        "INSERT INTO model_config (id, org_id, feature, intelligence_tier, provider, model_id,
                is_primary, is_fallback, fallback_order, credit_cost, input_cost_per_mtok,
                output_cost_per_mtok, max_tokens, context_window, is_active)
         VALUES ($1::uuid, $2::uuid, $3, $4, $5, $6, $7, NOT $7, $8, $9::numeric, $10::numeric,
                 $11::numeric, $12, $13, true)
         ON CONFLICT (coalesce(org_id, {platform}), feature, intelligence_tier, provider, model_id)
         DO UPDATE SET is_primary = EXCLUDED.is_primary, is_fallback = EXCLUDED.is_fallback,
             fallback_order = EXCLUDED.fallback_order, credit_cost = EXCLUDED.credit_cost,
             input_cost_per_mtok = EXCLUDED.input_cost_per_mtok,
             output_cost_per_mtok = EXCLUDED.output_cost_per_mtok, max_tokens = EXCLUDED.max_tokens,
             context_window = EXCLUDED.context_window, is_active = true"
    );
    on_pool!(pool, |conn, spell| {
        sqlx::query(&spell(&sql))
            .bind(Uuid::new_v4().to_string())
            .bind(org.map(|o| o.to_string()))
            .bind(row.feature.as_str())
            .bind(row.tier.as_str())
            .bind(&*row.provider)
            .bind(&*row.model_id)
            .bind(primary)
            .bind(order as i32)
            .bind(row.pricing.per_request)
            .bind(row.pricing.input_per_mtok)
            .bind(row.pricing.output_per_mtok)
            .bind(row.max_tokens as i32)
            .bind(row.context_window as i32)
            .execute(conn)
            .await?;
    });
    Ok(())
}

/// Every org's configured tier per feature.
pub(crate) async fn load_org_tiers(pool: &Pool) -> Result<Vec<(Uuid, Feature, Tier)>> {
    let rows: Vec<(String, String, String)> = on_pool!(pool, |conn, spell| {
        let sql = spell("SELECT org_id::text, feature, intelligence_tier FROM org_model_tiers");
        sqlx::query_as(&sql).fetch_all(conn).await?
    });
    rows.into_iter()
        .filter_map(|(org, feature, tier)| {
            let org = Uuid::parse_str(&org).ok()?;
            Some(Ok((org, feature.parse().ok()?, tier.parse().ok()?)))
        })
        .collect()
}

/// Sets the tier `org` uses for `feature` when a request names none.
pub(crate) async fn set_org_tier(
    pool: &Pool,
    org: Uuid,
    feature: Feature,
    tier: Tier,
) -> Result<()> {
    let sql = "INSERT INTO org_model_tiers (org_id, feature, intelligence_tier)
               VALUES ($1::uuid, $2, $3)
               ON CONFLICT (org_id, feature) DO UPDATE SET intelligence_tier = EXCLUDED.intelligence_tier";
    on_pool!(pool, |conn, spell| {
        sqlx::query(&spell(sql))
            .bind(org.to_string())
            .bind(feature.as_str())
            .bind(tier.as_str())
            .execute(conn)
            .await?;
    });
    Ok(())
}

/// A breaker row with its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBreaker {
    /// The provider.
    pub provider: String,
    /// The model, or [`PROVIDER_WIDE`].
    pub model_id: String,
    /// The state.
    pub row: BreakerRow,
}

type BreakerTuple = (
    String,
    String,
    String,
    String,
    Option<i64>,
    i64,
    Option<i64>,
);

fn decode_breaker(t: BreakerTuple) -> StoredBreaker {
    StoredBreaker {
        provider: t.0,
        model_id: t.1,
        row: BreakerRow {
            state: t.2.parse().unwrap_or(CircuitState::Closed),
            recent_failures: serde_json::from_str(&t.3).unwrap_or_default(),
            open_until: t.4,
            reopen_count: u32::try_from(t.5).unwrap_or(0),
            probe_claimed_at: t.6,
        },
    }
}

/// The breaker columns, times in epoch milliseconds.
fn breaker_columns(d: Dialect) -> String {
    format!(
        "provider, model_id, state, recent_failures::text, {}, reopen_count::int8, {}",
        d.epoch_ms("open_until"),
        d.epoch_ms("probe_claimed_at")
    )
}

/// Every breaker row that is not closed-and-clean, for the in-process view.
pub(crate) async fn load_breakers(pool: &Pool) -> Result<Vec<StoredBreaker>> {
    let sql = format!(
        "SELECT {} FROM model_health WHERE state <> 'closed'",
        breaker_columns(Dialect::of(pool))
    );
    let rows: Vec<BreakerTuple> = on_pool!(pool, |conn, spell| {
        sqlx::query_as(&spell(&sql)).fetch_all(conn).await?
    });
    Ok(rows.into_iter().map(decode_breaker).collect())
}

/// Milliseconds since the epoch on this machine's clock.
pub(crate) fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis(),
    )
    .unwrap_or(i64::MAX)
}

/// Applies `change` to the breaker (provider, model) under its row lock (PostgreSQL
/// `FOR UPDATE`, SQLite's `BEGIN IMMEDIATE`), at the database's clock; writes only when the
/// state changed. Returns what happened and the new row.
pub(crate) async fn apply_breaker(
    pool: &Pool,
    provider: &str,
    model_id: &str,
    change: impl FnOnce(&BreakerRow, i64) -> (BreakerRow, Transition),
) -> Result<(Transition, BreakerRow)> {
    let d = Dialect::of(pool);
    let select = format!(
        "SELECT {}, {} FROM model_health WHERE provider = $1 AND model_id = $2 {}",
        breaker_columns(d),
        d.now_ms(),
        d.for_update()
    );
    let update = format!(
        "UPDATE model_health SET state = $3, recent_failures = {json},
             open_until = {open_until}, reopen_count = $6, probe_claimed_at = {claimed},
             is_circuit_open = ($3 <> 'closed'), failure_count = {failures},
             last_failure_at = CASE WHEN $8 THEN now() ELSE last_failure_at END,
             last_success_at = CASE WHEN $8 THEN last_success_at ELSE now() END,
             opened_at = CASE WHEN $3 = 'open' AND state <> 'open' THEN now() ELSE opened_at END,
             updated_at = now()
         WHERE provider = $1 AND model_id = $2",
        json = d.json("$4"),
        open_until = d.from_epoch_ms("$5"),
        claimed = d.from_epoch_ms("$7"),
        failures = d.json_array_length(&d.json("$4")),
    );
    in_transaction!(pool, None::<&str>, |tx, spell| {
        sqlx::query(&spell(
            "INSERT INTO model_health (provider, model_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        ))
        .bind(provider)
        .bind(model_id)
        .execute(&mut *tx)
        .await?;
        type Locked = (
            String,
            String,
            String,
            String,
            Option<i64>,
            i64,
            Option<i64>,
            i64,
        );
        let r: Locked = sqlx::query_as(&spell(&select))
            .bind(provider)
            .bind(model_id)
            .fetch_one(&mut *tx)
            .await?;
        let current = decode_breaker((r.0, r.1, r.2, r.3, r.4, r.5, r.6)).row;
        let (next, transition) = change(&current, r.7);
        if transition != Transition::Unchanged {
            sqlx::query(&spell(&update))
                .bind(provider)
                .bind(model_id)
                .bind(next.state.as_str())
                .bind(serde_json::to_string(&next.recent_failures).unwrap_or_else(|_| "[]".into()))
                .bind(next.open_until.map(|t| t as f64))
                .bind(next.reopen_count as i32)
                .bind(next.probe_claimed_at.map(|t| t as f64))
                .bind(transition != Transition::Closed)
                .execute(&mut *tx)
                .await?;
        }
        Ok((transition, next))
    })
}

/// Claims the probe of (provider, model): one conditional update that exactly one caller of
/// every instance wins, once the cooldown is over (or the last probe timed out).
pub(crate) async fn claim_probe(
    pool: &Pool,
    provider: &str,
    model_id: &str,
    config: &BreakerConfig,
) -> Result<bool> {
    let d = Dialect::of(pool);
    let sql = format!(
        "UPDATE model_health SET state = 'half_open', probe_claimed_at = now(), updated_at = now()
         WHERE provider = $1 AND model_id = $2
           AND ((state = 'open' AND (open_until IS NULL OR {due}))
             OR (state = 'half_open' AND (probe_claimed_at IS NULL OR {timed_out})))
         RETURNING 1",
        due = d.is_past("open_until"),
        timed_out = d.older_than_ms("probe_claimed_at", "$3"),
    );
    let timeout_ms = config.probe_timeout.as_millis() as f64;
    let won: Option<i32> = on_pool!(pool, |conn, spell| {
        sqlx::query_scalar(&spell(&sql))
            .bind(provider)
            .bind(model_id)
            .bind(timeout_ms)
            .fetch_optional(conn)
            .await?
    });
    Ok(won.is_some())
}
