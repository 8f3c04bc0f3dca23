//! Snapshots: one row per agent per health run in `fleet_health_snapshots` (the original's
//! columns and metadata keys, plus what the new metrics need), written in one statement; read
//! back as series for the report; pruned by their own schedule ([`super::Fleet::prune`]), not
//! by every check as the original did.

use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::check::AgentHealth;
use crate::error::Result;
use crate::store::bind::{Bind, Binds, bind_all, execute};
use crate::store::{Dialect, Pool, on_pool};

/// How long snapshots are kept unless told (30 days, the original's cleanup).
pub const SNAPSHOT_RETENTION_MS: u64 = 30 * 86_400_000;

/// The columns a snapshot row is written with, in order, and how each JSON field is read.
const COLUMNS: [(&str, &str); 19] = [
    ("id", "uuid"),
    ("run_id", "uuid"),
    ("snapshot_at", "time"),
    ("agent_name", "text"),
    ("status", "text"),
    ("last_success_at", "time"),
    ("failure_rate_24h", "numeric"),
    ("avg_duration_ms", "int"),
    ("p50_duration_ms", "int"),
    ("p95_duration_ms", "int"),
    ("runs_24h", "int"),
    ("failures", "int"),
    ("credits_consumed_24h", "numeric"),
    ("tokens_consumed", "int"),
    ("stuck_runs", "int"),
    ("dead_letters", "int"),
    ("alerts_fired", "int"),
    ("window_ms", "int"),
    ("reasons", "json"),
];

/// Writes one snapshot per agent of a run, at `at_ms`, in one statement.
///
/// # Errors
/// Storage errors.
pub(super) async fn write(
    pool: &Pool,
    run_id: Uuid,
    at_ms: i64,
    agents: &[AgentHealth],
) -> Result<()> {
    if agents.is_empty() {
        return Ok(());
    }
    let d = Dialect::of(pool);
    let rows: Vec<Value> = agents
        .iter()
        .map(|a| {
            json!({
                "id": Uuid::now_v7(), "run_id": run_id, "snapshot_at": at_ms,
                "agent_name": a.name, "status": a.status,
                "last_success_at": a.last_success_at.as_deref()
                    .and_then(|t| crate::store::parse_time("last_success_at", t).ok())
                    .map(|t| t.timestamp_millis()),
                "failure_rate_24h": a.failure_rate_24h, "avg_duration_ms": a.avg_duration_ms,
                "p50_duration_ms": a.p50_duration_ms, "p95_duration_ms": a.p95_duration_ms,
                "runs_24h": a.runs, "failures": a.failed, "credits_consumed_24h": a.credits_consumed,
                "tokens_consumed": a.tokens_consumed, "stuck_runs": a.stuck_runs,
                "dead_letters": a.dead_letters, "alerts_fired": a.alerts_fired,
                "window_ms": a.window_ms, "reasons": a.reasons,
                // The original's metadata keys, for readers of its rows.
                "metadata": {
                    "reasons": a.reasons, "cadence_minutes": a.cadence_ms.map(|c| c / 60_000),
                    "total_runs_24h": a.runs, "stuck_running_count": a.stuck_runs,
                    "dlq_count": a.dead_letters, "open_circuit_breakers": a.open_breakers,
                    "registered": a.registered,
                },
            })
        })
        .collect();
    let values: Vec<String> = COLUMNS
        .iter()
        .map(|(column, kind)| match *kind {
            "uuid" => format!("{}::uuid", d.row_text(column)),
            "time" => d.from_epoch_ms(&d.row_text(column)),
            "numeric" => format!("{}::numeric", d.row_text(column)),
            "int" => format!("{}::int8", d.row_text(column)),
            "json" => d.row_json(column),
            _ => d.row_text(column),
        })
        .collect();
    let names: Vec<&str> = COLUMNS.iter().map(|c| c.0).collect();
    let statement = format!(
        "INSERT INTO fleet_health_snapshots ({}, metadata) SELECT {}, {} FROM {}",
        names.join(", "),
        values.join(", "),
        d.row_json("metadata"),
        d.json_rows("$1"),
    );
    let binds = Binds(vec![Bind::Text(Some(Value::from(rows).to_string()))]);
    execute(pool, &statement, binds).await?;
    Ok(())
}

/// Deletes snapshots older than `keep_ms`; how many. On PostgreSQL this is
/// `keel.cleanup_fleet_health_snapshots()`, the function a pg_cron schedule calls.
///
/// # Errors
/// Storage errors.
pub(super) async fn prune(pool: &Pool, keep_ms: u64) -> Result<u64> {
    let d = Dialect::of(pool);
    let keep = i64::try_from(keep_ms).unwrap_or(i64::MAX);
    match pool {
        Pool::Postgres(pg) => {
            let gone: i32 = sqlx::query_scalar(
                "SELECT keel.cleanup_fleet_health_snapshots(make_interval(secs => $1::float8 / 1000))",
            )
            .bind(keep)
            .fetch_one(pg)
            .await?;
            Ok(u64::try_from(gone).unwrap_or(0))
        }
        Pool::Sqlite(_) => {
            let statement = format!(
                "DELETE FROM fleet_health_snapshots WHERE {}",
                d.older_than_ms("snapshot_at", "$1")
            );
            execute(pool, &statement, Binds(vec![Bind::Int(Some(keep))])).await
        }
    }
}

/// One snapshot, as the report charts it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct SnapshotPoint {
    /// The agent.
    pub agent_name: String,
    /// When it was taken (epoch ms).
    pub at_ms: i64,
    /// The status then.
    pub status: String,
    /// Runs in the window.
    pub runs: i64,
    /// Failed runs in the window.
    pub failures: i64,
    /// Failure rate in percent.
    pub failure_rate: Option<f64>,
    /// Median duration (ms).
    pub p50_duration_ms: Option<i64>,
    /// 95th percentile duration (ms).
    pub p95_duration_ms: Option<i64>,
    /// Credits consumed in the window.
    pub credits: Option<f64>,
    /// Open dead letters.
    pub dead_letters: i64,
    /// Stuck runs.
    pub stuck_runs: i64,
}

/// The snapshots taken since `since_ms` ago, oldest first, by agent.
///
/// # Errors
/// Storage errors.
pub(super) async fn series(pool: &Pool, since_ms: u64) -> Result<Vec<SnapshotPoint>> {
    let d = Dialect::of(pool);
    let statement = format!(
        "SELECT agent_name, {at} AS at_ms, status, runs_24h::int8 AS runs,
                failures::int8 AS failures, {rate} AS failure_rate,
                p50_duration_ms::int8 AS p50_duration_ms,
                p95_duration_ms::int8 AS p95_duration_ms, {credits} AS credits,
                dead_letters::int8 AS dead_letters, stuck_runs::int8 AS stuck_runs
           FROM fleet_health_snapshots
          WHERE snapshot_at >= {since}
          ORDER BY agent_name, snapshot_at",
        at = d.epoch_ms("snapshot_at"),
        rate = d.float("failure_rate_24h"),
        credits = d.float("credits_consumed_24h"),
        since = d.from_epoch_ms(&format!("({} - $1)", d.now_ms())),
    );
    let binds = Binds(vec![Bind::Int(Some(
        i64::try_from(since_ms).unwrap_or(i64::MAX),
    ))]);
    Ok(on_pool!(pool, |conn, sql| {
        let text = sql(&statement);
        bind_all!(sqlx::query_as::<_, SnapshotPoint>(&text), binds)
            .fetch_all(conn)
            .await?
    }))
}
