//! Retention of `system_logs`: a per-level age limit.
//!
//! On PostgreSQL the table is partitioned by level and day (migration 0019): a level's expired
//! days are dropped whole by `keel.maintain_partition`, which also makes the days ahead and
//! moves stray rows out of the default partition, so pruning a billion-row log deletes no row.
//! A row goes with its whole partition: it is kept at least its level's days and at most one
//! partition more (a day; a week for `error`). `keel.cleanup_system_logs()` does the same inside
//! PostgreSQL for pg_cron ([`pg_cron_schedule`]). SQLite keeps a plain table, deleted in small
//! batches so no statement holds long locks.

use std::time::Duration;

use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::event::Level;
use crate::error::{Error, Result};
use crate::store::{Dialect, Pool, on_pool};

/// How long events of each level are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RetentionPolicy {
    /// Days to keep `debug` (default 30).
    pub debug_days: u32,
    /// Days to keep `info` (default 90).
    pub info_days: u32,
    /// Days to keep `warn` (default 90).
    pub warn_days: u32,
    /// Days to keep `error` (default 365).
    pub error_days: u32,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self {
            debug_days: 30,
            info_days: 90,
            warn_days: 90,
            error_days: 365,
        }
    }
}

impl RetentionPolicy {
    /// Days to keep events of `level`.
    pub fn days(&self, level: Level) -> u32 {
        match level {
            Level::Debug => self.debug_days,
            Level::Info => self.info_days,
            Level::Warn => self.warn_days,
            Level::Error => self.error_days,
        }
    }

    /// Checks every level's days against [`MAX_RETENTION_DAYS`], so the cutoff is a date
    /// (a larger number would overflow the clock arithmetic).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `debug_days`, `info_days`, `warn_days` or `error_days`.
    pub fn validate(&self) -> Result<()> {
        for level in Level::ALL {
            let days = self.days(level);
            if days > MAX_RETENTION_DAYS {
                return Err(Error::invalid_input(
                    format!("{}_days", level.as_str()),
                    format!("must be at most {MAX_RETENTION_DAYS} (100 years), got {days}"),
                ));
            }
        }
        Ok(())
    }
}

/// The longest retention a policy may ask for: 100 years.
pub const MAX_RETENTION_DAYS: u32 = 36_500;

/// One cleanup run as callers describe it: the batch size and whether it is a dry run.
/// Deserializes from the bindings' options object (`dry_run`, `batch_size`), each absent field
/// at its default; the days kept are the default [`RetentionPolicy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CleanupOptions {
    /// Count what would be deleted, delete nothing (default false).
    pub dry_run: bool,
    /// Rows per delete statement (default [`DEFAULT_BATCH_SIZE`]; at least 1).
    pub batch_size: u32,
}

/// Rows per delete statement when a cleanup names none.
pub const DEFAULT_BATCH_SIZE: u32 = 10_000;

impl Default for CleanupOptions {
    fn default() -> Self {
        Self {
            dry_run: false,
            batch_size: DEFAULT_BATCH_SIZE,
        }
    }
}

/// What a cleanup deleted (or, in a dry run, would delete), per level.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RetentionReport {
    /// `(level, rows)` in the order debug, info, warn, error.
    pub deleted: Vec<(Level, u64)>,
    /// True when nothing was deleted because it was a dry run.
    pub dry_run: bool,
}

impl RetentionReport {
    /// Rows over all levels.
    pub fn total(&self) -> u64 {
        self.deleted.iter().map(|(_, n)| n).sum()
    }
}

/// Removes events older than the policy allows: on PostgreSQL by dropping each level's expired
/// partitions (see the module), on SQLite `batch_size` rows per statement. `progress` is called
/// with the level and the rows done so far for it (after every batch on SQLite, once per level
/// on PostgreSQL). Safe to run from several instances at once.
///
/// # Errors
/// [`Error::InvalidInput`] for a zero batch size; [`Error::Storage`] when a delete fails (what
/// was deleted before stays deleted).
pub async fn cleanup(
    pool: &Pool,
    policy: &RetentionPolicy,
    batch_size: u32,
    dry_run: bool,
    mut progress: impl FnMut(Level, u64),
) -> Result<RetentionReport> {
    if batch_size == 0 {
        return Err(Error::invalid_input("batch_size", "must be at least 1"));
    }
    policy.validate()?;
    let mut report = RetentionReport {
        deleted: Vec::new(),
        dry_run,
    };
    for level in Level::ALL {
        let days = policy.days(level);
        let done = match pool {
            Pool::Postgres(pg) => drop_level(pg, level, days, dry_run).await?,
            Pool::Sqlite(_) => {
                let cutoff = Utc::now() - Duration::from_secs(u64::from(days) * 86_400);
                let cutoff = crate::store::rfc3339_micros(cutoff);
                delete_level(pool, level, &cutoff, batch_size, dry_run, &mut progress).await?
            }
        };
        progress(level, done);
        report.deleted.push((level, done));
    }
    Ok(report)
}

/// Drops the expired partitions of `level` (or, in a dry run, counts their rows); makes the
/// partitions ahead on the way.
async fn drop_level(pool: &sqlx::PgPool, level: Level, days: u32, dry_run: bool) -> Result<u64> {
    let rows: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(rows), 0)::bigint
           FROM keel.maintain_partition($1, now(), make_interval(days => $2), $3)
          WHERE action <> 'created'",
    )
    .bind(format!("system_logs_{}", level.as_str()))
    .bind(i32::try_from(days).unwrap_or(i32::MAX))
    .bind(dry_run)
    .fetch_one(pool)
    .await?;
    Ok(u64::try_from(rows).unwrap_or(0))
}

/// Deletes the rows of `level` older than `cutoff`, `batch_size` per statement (or, in a dry
/// run, counts them); `progress` after every batch.
async fn delete_level(
    pool: &Pool,
    level: Level,
    cutoff: &str,
    batch_size: u32,
    dry_run: bool,
    progress: &mut impl FnMut(Level, u64),
) -> Result<u64> {
    if dry_run {
        let count: i64 = on_pool!(pool, |conn, spell| {
            let sql = spell(
                r#"SELECT count(*) FROM system_logs
                   WHERE level = $1 AND "timestamp" < $2::timestamptz"#,
            );
            sqlx::query_scalar(&sql)
                .bind(level.as_str())
                .bind(cutoff)
                .fetch_one(conn)
                .await?
        });
        return Ok(u64::try_from(count).unwrap_or(0));
    }
    let delete = format!(
        r#"DELETE FROM system_logs WHERE id IN (
               SELECT id FROM system_logs WHERE level = $1 AND "timestamp" < $2::timestamptz
               LIMIT $3 {})"#,
        Dialect::of(pool).skip_locked()
    );
    let mut done = 0u64;
    loop {
        let deleted = on_pool!(pool, |conn, spell| {
            sqlx::query(&spell(&delete))
                .bind(level.as_str())
                .bind(cutoff)
                .bind(i64::from(batch_size))
                .execute(conn)
                .await?
                .rows_affected()
        });
        done += deleted;
        if deleted < u64::from(batch_size) {
            return Ok(done);
        }
        progress(level, done);
    }
}

/// The pg_cron line that runs the same cleanup inside PostgreSQL every night at 03:17.
pub fn pg_cron_schedule() -> &'static str {
    "SELECT cron.schedule('keel-logs-cleanup', '17 3 * * *', $$SELECT * FROM keel.cleanup_system_logs()$$);"
}

#[cfg(test)]
mod policy_tests {
    use super::*;

    #[test]
    fn the_pg_cron_line_schedules_the_cleanup_function_nightly() {
        let line = pg_cron_schedule();
        assert!(line.starts_with("SELECT cron.schedule('keel-logs-cleanup', '17 3 * * *'"));
        assert!(line.contains("keel.cleanup_system_logs()"));
    }

    #[test]
    fn retention_days_are_bounded_before_any_date_arithmetic() {
        assert!(RetentionPolicy::default().validate().is_ok());
        let huge = RetentionPolicy {
            debug_days: i32::MAX as u32,
            ..RetentionPolicy::default()
        };
        assert_eq!(huge.validate().unwrap_err().field(), Some("debug_days"));
        let edge = RetentionPolicy {
            error_days: MAX_RETENTION_DAYS,
            ..RetentionPolicy::default()
        };
        assert!(edge.validate().is_ok());
    }
}
