//! The shared limiter: GCRA in the database, so every instance obeys one quota.
//!
//! On PostgreSQL one decision is one statement: for one key an upsert that advances the TAT
//! only when it admits; for several, one call of `keel.acquire_rate_limits` (migration 0013),
//! which locks the keys' rows in key order, checks them at one clock reading and advances
//! them only when all admit. On SQLite the same runs in one `BEGIN IMMEDIATE` transaction (one writer).

use super::limit::{Decision, Limit, check_keys};
use crate::Keel;
use crate::error::Result;
use crate::store::{Pool, in_transaction};

/// GCRA limits kept in the database of a [`Keel`] handle, shared by every instance on it.
#[derive(Debug, Clone)]
pub struct SharedLimiter {
    keel: Keel,
}

fn wall_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

impl SharedLimiter {
    /// The shared limits of `keel`'s database.
    pub fn open(keel: &Keel) -> Self {
        SharedLimiter { keel: keel.clone() }
    }

    /// Decides one request on `key` under `limit`, spending it when allowed.
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] on `limit` or `key`; storage errors.
    pub async fn check(&self, key: &str, limit: &Limit) -> Result<Decision> {
        self.acquire(&[(key, *limit)]).await
    }

    /// Decides one request on every key of `keys` together, each under its own limit: all
    /// are spent or none is.
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] on `keys` (none, over 16, a key twice) or on a limit;
    /// storage errors.
    pub async fn acquire(&self, keys: &[(&str, Limit)]) -> Result<Decision> {
        let names: Vec<&str> = keys.iter().map(|(k, _)| *k).collect();
        check_keys(&names)?;
        for (key, limit) in keys {
            limit.check(&format!("limits.{key}"))?;
        }
        let (tats, now, admitted) = match self.keel.pool()? {
            pool @ Pool::Postgres(_) => Self::acquire_pg(pool, keys).await?,
            pool @ Pool::Sqlite(_) => Self::acquire_lite(pool, keys).await?,
        };
        let decisions = keys
            .iter()
            .zip(tats)
            .map(|((_, limit), tat)| {
                // After a denial nothing moved: each key says whether it alone would admit.
                let allowed = admitted || limit.decide(tat, now).0.allowed;
                limit.decision(allowed, tat, now)
            })
            .collect();
        let mut out = Decision::combine(&names, decisions);
        out.allowed = admitted;
        Ok(out)
    }

    /// Each key's TAT after the decision (in `keys`' order), the clock reading and whether
    /// all admitted.
    async fn acquire_pg(pool: &Pool, keys: &[(&str, Limit)]) -> Result<(Vec<f64>, f64, bool)> {
        let Pool::Postgres(pg) = pool else {
            unreachable!("called on PostgreSQL")
        };
        if let [(key, limit)] = keys {
            return Self::acquire_one_pg(pg, key, limit).await;
        }
        let names: Vec<String> = keys.iter().map(|(k, _)| (*k).to_owned()).collect();
        let emission: Vec<f64> = keys.iter().map(|(_, l)| l.emission_ms()).collect();
        let tolerance: Vec<f64> = keys.iter().map(|(_, l)| l.tolerance_ms()).collect();
        let rows: Vec<(String, f64, f64, bool)> = sqlx::query_as(
            "SELECT key, tat_ms, now_ms, admitted FROM keel.acquire_rate_limits($1, $2, $3)",
        )
        .bind(&names)
        .bind(&emission)
        .bind(&tolerance)
        .fetch_all(pg)
        .await?;
        let now = rows.first().map_or_else(wall_ms, |r| r.2);
        let admitted = rows.first().is_some_and(|r| r.3);
        let tats = names
            .iter()
            .map(|n| rows.iter().find(|r| &r.0 == n).map_or(0.0, |r| r.1))
            .collect();
        Ok((tats, now, admitted))
    }

    /// One key in one statement: an upsert that advances the TAT only when it admits. The
    /// clock is read inside the upsert, after the row's lock is held (a call that waited for
    /// a concurrent one must not judge that call's TAT against its own earlier clock); a
    /// denial reads the TAT again in a statement of its own, so its wait counts from the TAT
    /// that denied it.
    async fn acquire_one_pg(
        pg: &sqlx::PgPool,
        key: &str,
        limit: &Limit,
    ) -> Result<(Vec<f64>, f64, bool)> {
        const CLOCK: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::float8";
        let admitted: Option<(f64, f64)> = sqlx::query_as(&format!(
            "INSERT INTO keel.rate_limits AS r (key, tat_ms)
             VALUES ($1, {CLOCK} + $2)
             ON CONFLICT (key) DO UPDATE
                 SET tat_ms = greatest(r.tat_ms, {CLOCK}) + $2, updated_at = now()
                 WHERE greatest(r.tat_ms, {CLOCK}) - {CLOCK} <= $3
             RETURNING r.tat_ms, {CLOCK}"
        ))
        .bind(key)
        .bind(limit.emission_ms())
        .bind(limit.tolerance_ms())
        .fetch_optional(pg)
        .await?;
        if let Some((tat, now)) = admitted {
            return Ok((vec![tat], now, true));
        }
        let (tat, now): (Option<f64>, f64) = sqlx::query_as(&format!(
            "SELECT (SELECT tat_ms FROM keel.rate_limits WHERE key = $1), {CLOCK}"
        ))
        .bind(key)
        .fetch_one(pg)
        .await?;
        Ok((vec![tat.unwrap_or(0.0)], now, false))
    }

    async fn acquire_lite(pool: &Pool, keys: &[(&str, Limit)]) -> Result<(Vec<f64>, f64, bool)> {
        in_transaction!(pool, None::<&str>, |tx, spell| {
            let now = wall_ms();
            let mut tats = Vec::with_capacity(keys.len());
            for (key, _) in keys {
                let tat: Option<f64> =
                    sqlx::query_scalar(&spell("SELECT tat_ms FROM rate_limits WHERE key = $1"))
                        .bind(*key)
                        .fetch_optional(&mut *tx)
                        .await?;
                tats.push(tat.unwrap_or(0.0));
            }
            let decided: Vec<(bool, f64)> = keys
                .iter()
                .zip(&tats)
                .map(|((_, limit), &tat)| {
                    let (d, next) = limit.decide(tat, now);
                    (d.allowed, next)
                })
                .collect();
            let admitted = decided.iter().all(|(a, _)| *a);
            if admitted {
                for ((key, _), (_, next)) in keys.iter().zip(&decided) {
                    sqlx::query(&spell(
                        "INSERT INTO rate_limits (key, tat_ms) VALUES ($1, $2)
                         ON CONFLICT (key) DO UPDATE SET tat_ms = excluded.tat_ms,
                             updated_at = now()",
                    ))
                    .bind(*key)
                    .bind(*next)
                    .execute(&mut *tx)
                    .await?;
                }
                tats = decided.into_iter().map(|(_, next)| next).collect();
            }
            Ok::<_, crate::Error>((tats, now, admitted))
        })
    }
}
