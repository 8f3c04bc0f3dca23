//! Time partitions on PostgreSQL (migration 0019): `system_logs` by level and then day
//! (`error` by week), `agent_executions` by week, each table's unit, partitions made ahead and
//! retention in `keel.partition_policies`.
//!
//! [`maintain`] is the job that keeps them: it makes the partitions ahead, gives rows that
//! landed in a table's default partition (a clock far ahead, a backfill) partitions of their
//! own, and drops the partitions wholly past retention, so pruning deletes no row. The same job
//! runs inside PostgreSQL as `keel.maintain_partitions()`, hourly under pg_cron
//! ([`pg_cron_schedule`]; the migration schedules it itself when pg_cron is installed). SQLite
//! keeps plain tables: there is nothing to maintain, and both calls answer empty.

use serde::Serialize;

use super::Pool;
use crate::error::Result;

/// The tables PostgreSQL's partitioning adds and SQLite has no use for: the policies, and the
/// idempotency keys a partitioned `agent_executions` cannot keep unique itself.
pub const POSTGRES_ONLY: &[&str] = &["agent_execution_keys", "partition_policies"];

/// What maintenance did to one partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionChange {
    /// The partitioned table (`system_logs_debug`, …, `agent_executions`).
    pub table: String,
    /// The partition (`<table>_pYYYYMMDD`, the UTC start of its range).
    pub partition: String,
    /// `created` or `dropped`.
    pub action: String,
    /// Rows moved into a created partition from the default one, or dropped with a partition.
    pub rows: u64,
}

/// One partition of a partitioned table, as the catalogue describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionInfo {
    /// The partitioned table.
    pub table: String,
    /// The partition.
    pub partition: String,
    /// Its range, as PostgreSQL prints it (`FOR VALUES FROM (…) TO (…)`, or `DEFAULT`).
    pub bounds: String,
    /// Its rows as the planner's statistics estimate them (-1 before the first analyze).
    pub estimated_rows: i64,
    /// Its size on disk, in bytes (indexes included).
    pub bytes: i64,
}

/// Runs every partitioned table's maintenance with its policy (see the module); returns what
/// changed, in table order. Safe to run from several instances at once (an advisory lock per
/// table). Empty on SQLite.
///
/// # Errors
/// Storage errors, among them a lock not granted within 3 s (the next run tries again).
pub async fn maintain(pool: &Pool) -> Result<Vec<PartitionChange>> {
    let Pool::Postgres(pg) = pool else {
        return Ok(Vec::new());
    };
    let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT parent, partition, action, rows FROM keel.maintain_partitions() ORDER BY 1, 2",
    )
    .fetch_all(pg)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(table, partition, action, rows)| PartitionChange {
            table,
            partition,
            action,
            rows: u64::try_from(rows).unwrap_or(0),
        })
        .collect())
}

/// The partitions of every partitioned table, by table and range. Empty on SQLite.
///
/// # Errors
/// Storage errors.
pub async fn list(pool: &Pool) -> Result<Vec<PartitionInfo>> {
    let Pool::Postgres(pg) = pool else {
        return Ok(Vec::new());
    };
    let rows: Vec<(String, String, String, i64, i64)> = sqlx::query_as(
        "SELECT p.parent, c.relname::text, pg_get_expr(c.relpartbound, c.oid),
                c.reltuples::bigint, pg_total_relation_size(c.oid)
           FROM keel.partition_policies p
           JOIN pg_inherits i ON i.inhparent = format('keel.%I', p.parent)::regclass
           JOIN pg_class c ON c.oid = i.inhrelid
          ORDER BY 1, 2",
    )
    .fetch_all(pg)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(table, partition, bounds, estimated_rows, bytes)| PartitionInfo {
                table,
                partition,
                bounds,
                estimated_rows,
                bytes,
            },
        )
        .collect())
}

/// The pg_cron line that runs the maintenance inside PostgreSQL every hour at :07 (what
/// `keel.schedule_partitions()` installs when pg_cron is present).
pub fn pg_cron_schedule() -> &'static str {
    "SELECT cron.schedule('keel-partitions', '7 * * * *', 'SELECT count(*) FROM keel.maintain_partitions()');"
}
