//! The routing tables: `routing_logs` (every decision) and `routing_cache` (decisions by org,
//! channel and skills version, so a new instance starts warm).

use std::time::SystemTime;

use serde::Serialize;
use uuid::Uuid;

use super::decision::{Decision, Routed};
use super::text::{message_hash, snippet};
use crate::error::Result;
use crate::skills::Channel;
use crate::store::{Dialect, Pool, in_transaction, on_pool};

/// One decision waiting to be logged.
#[derive(Debug, Clone)]
pub(crate) struct LogEntry {
    pub org: Uuid,
    pub user: Option<String>,
    pub channel: Channel,
    pub canonical: std::sync::Arc<str>,
    pub message: std::sync::Arc<str>,
    pub routed: Routed,
    pub at: SystemTime,
}

/// One decision to cache across instances.
#[derive(Debug, Clone)]
pub(crate) struct CacheEntry {
    pub org: Uuid,
    pub channel: Channel,
    pub canonical: std::sync::Arc<str>,
    pub decision: std::sync::Arc<Decision>,
    pub expires: SystemTime,
}

/// A row of `routing_logs`, as `keel route log` and the bindings read it.
#[derive(Debug, Clone, Serialize)]
pub struct LogRow {
    /// When the decision was made (RFC 3339).
    pub created_at: String,
    /// The org.
    pub org_id: String,
    /// The user, when the route named one.
    pub user_id: Option<String>,
    /// The channel.
    pub channel: String,
    /// The first 32 hex digits of the SHA-256 of the canonical message.
    pub message_hash: String,
    /// The start of the message.
    pub message_snippet: String,
    /// The route.
    pub route: String,
    /// The skill, when one was chosen.
    pub skill_key: Option<String>,
    /// How.
    pub matched_by: String,
    /// The stage that decided.
    pub stage: String,
    /// The calibrated confidence.
    pub confidence: f64,
    /// True when nothing fit.
    pub out_of_scope: bool,
    /// True when served from the cache.
    pub cached: bool,
    /// The candidates as decided.
    pub candidates: serde_json::Value,
    /// The skills version.
    pub skills_version: String,
    /// The trace.
    pub trace_id: String,
    /// How long the route took, in microseconds.
    pub latency_us: i64,
}

fn ms(at: SystemTime) -> f64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

fn name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// The cache table's key of (org, channel, skills version, canonical message).
pub(crate) fn cache_key(org: Uuid, channel: Channel, version: &str, canonical: &str) -> String {
    message_hash(&format!("{org}|{}|{version}|{canonical}", channel.as_str()))
}

/// Writes `entries` to `routing_logs` in one transaction.
pub(crate) async fn insert_logs(pool: &Pool, entries: &[LogEntry]) -> Result<()> {
    let dialect = Dialect::of(pool);
    let statement = format!(
        "INSERT INTO routing_logs (id, org_id, user_id, channel, message_hash, message_snippet, route,
             skill_key, matched_by, stage, confidence, out_of_scope, cached, candidates,
             skills_version, trace_id, latency_us, created_at)
         VALUES ($1::uuid, $2::uuid, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, {}, $15,
             $16::uuid, $17, {})",
        dialect.json("$14"),
        dialect.from_epoch_ms("$18"),
    );
    in_transaction!(pool, None::<&str>, |tx, sql| {
        for e in entries {
            let d = &e.routed.decision;
            sqlx::query(&sql(&statement))
                .bind(Uuid::now_v7().to_string())
                .bind(e.org.to_string())
                .bind(e.user.clone())
                .bind(e.channel.as_str())
                .bind(message_hash(&e.canonical))
                .bind(snippet(&e.message))
                .bind(d.route.clone())
                .bind(d.skill_key.clone())
                .bind(name(&d.matched_by))
                .bind(name(&d.stage))
                .bind(d.confidence)
                .bind(d.out_of_scope)
                .bind(e.routed.cached)
                .bind(serde_json::to_string(&d.candidates).unwrap_or_else(|_| "[]".into()))
                .bind(d.skills_version.clone())
                .bind(e.routed.trace_id.to_string())
                .bind(i64::try_from(e.routed.duration.as_micros()).unwrap_or(i64::MAX))
                .bind(ms(e.at))
                .execute(&mut *tx)
                .await?;
        }
        Ok(())
    })
}

/// Upserts `entries` into `routing_cache` and drops its expired rows.
pub(crate) async fn upsert_cache(pool: &Pool, entries: &[CacheEntry]) -> Result<()> {
    let dialect = Dialect::of(pool);
    let statement = format!(
        "INSERT INTO routing_cache (hash_key, org_id, channel, skills_version, response, expires_at)
         VALUES ($1, $2::uuid, $3, $4, {}, {})
         ON CONFLICT (hash_key) DO UPDATE SET response = excluded.response,
             expires_at = excluded.expires_at, created_at = now()",
        dialect.json("$5"),
        dialect.from_epoch_ms("$6"),
    );
    let purge = format!(
        "DELETE FROM routing_cache WHERE {}",
        dialect.is_past("expires_at")
    );
    in_transaction!(pool, None::<&str>, |tx, sql| {
        for e in entries {
            let d = &e.decision;
            sqlx::query(&sql(&statement))
                .bind(cache_key(e.org, e.channel, &d.skills_version, &e.canonical))
                .bind(e.org.to_string())
                .bind(e.channel.as_str())
                .bind(d.skills_version.clone())
                .bind(serde_json::json!({"canonical": &*e.canonical, "decision": d}).to_string())
                .bind(ms(e.expires))
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(&sql(&purge)).execute(&mut *tx).await?;
        Ok(())
    })
}

/// The unexpired cached responses of (org, channel, version): (the response JSON, holding
/// `canonical` and `decision`; its expiry in epoch milliseconds).
pub(crate) async fn load_cache(
    pool: &Pool,
    org: Uuid,
    channel: Channel,
    version: &str,
) -> Result<Vec<(String, i64)>> {
    let dialect = Dialect::of(pool);
    let statement = format!(
        "SELECT response::text, {} FROM routing_cache
         WHERE org_id = $1::uuid AND channel = $2 AND skills_version = $3 AND NOT ({})",
        dialect.epoch_ms("expires_at"),
        dialect.is_past("expires_at"),
    );
    let rows: Vec<(String, i64)> = on_pool!(pool, |conn, sql| {
        sqlx::query_as(&sql(&statement))
            .bind(org.to_string())
            .bind(channel.as_str())
            .bind(version)
            .fetch_all(conn)
            .await?
    });
    Ok(rows)
}

/// The routing log of `org` from `since_ms` (epoch milliseconds), newest first, at most
/// `limit` rows.
pub(crate) async fn read_logs(
    pool: &Pool,
    org: Uuid,
    since_ms: f64,
    limit: i64,
) -> Result<Vec<LogRow>> {
    let dialect = Dialect::of(pool);
    let statement = format!(
        "SELECT created_at::text, user_id, channel, message_hash,
                message_snippet, route, skill_key, matched_by, stage, confidence, out_of_scope,
                cached, candidates::text, skills_version, trace_id::text, latency_us
         FROM routing_logs WHERE org_id = $1::uuid AND created_at >= {}
         ORDER BY created_at DESC, id DESC LIMIT $3",
        dialect.from_epoch_ms("$2")
    );
    type Row = (
        String,
        Option<String>,
        String,
        String,
        String,
        String,
        Option<String>,
        String,
        String,
        f64,
        bool,
        bool,
        String,
        String,
        String,
        i64,
    );
    let rows: Vec<Row> = on_pool!(pool, |conn, sql| {
        sqlx::query_as(&sql(&statement))
            .bind(org.to_string())
            .bind(since_ms)
            .bind(limit)
            .fetch_all(conn)
            .await?
    });
    Ok(rows
        .into_iter()
        .map(|r| LogRow {
            created_at: r.0,
            org_id: org.to_string(),
            user_id: r.1,
            channel: r.2,
            message_hash: r.3,
            message_snippet: r.4,
            route: r.5,
            skill_key: r.6,
            matched_by: r.7,
            stage: r.8,
            confidence: r.9,
            out_of_scope: r.10,
            cached: r.11,
            candidates: serde_json::from_str(&r.12).unwrap_or_default(),
            skills_version: r.13,
            trace_id: r.14,
            latency_us: r.15,
        })
        .collect())
}
