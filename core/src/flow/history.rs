//! The queue's backlog per lane over a past window, from the items themselves.
//!
//! No sampler has to run: an item is in the backlog from its `created_at` until it finishes
//! (enriched, failed or skipped after a claim: the `updated_at` the finishing statement
//! writes). The items that count for a window are those still pending or in flight (read
//! through the pending and in-flight partial indexes) and those finished since its start
//! (read through the index of changed claimed items), so a window's cost follows the backlog
//! and the window's throughput, not the table. An item finished without ever being claimed
//! (skipped by another writer) has no finish time and is left out; so is an item a later
//! write touched after it finished, until that write's time.

use serde::{Deserialize, Serialize};

use super::queue::Queue;
use crate::error::{Error, Result};
use crate::store::{Dialect, on_pool, rfc3339};

/// The window a depth history covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HistoryOptions {
    /// How far back, 1 to 168 hours (default 24).
    pub hours: u32,
    /// How many points, 2 to 500 (default 96: every 15 minutes of a day).
    pub points: u32,
}

impl Default for HistoryOptions {
    fn default() -> Self {
        HistoryOptions {
            hours: 24,
            points: 96,
        }
    }
}

impl HistoryOptions {
    /// Checks the bounds.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `hours` or `points`.
    pub fn validate(&self) -> Result<()> {
        if !(1..=168).contains(&self.hours) {
            return Err(Error::invalid_input("hours", "must be 1 to 168"));
        }
        if !(2..=500).contains(&self.points) {
            return Err(Error::invalid_input("points", "must be 2 to 500"));
        }
        Ok(())
    }
}

/// One lane's backlog at each point of a [`DepthHistory`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaneHistory {
    /// The lane, 0 (most urgent) to 3.
    pub lane: u8,
    /// Items pending or in flight at each of the history's `times`.
    pub backlog: Vec<u64>,
}

/// The backlog per lane over a window ([`Queue::depth_history`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepthHistory {
    /// The points' times (RFC 3339, oldest first; the last is the database's now).
    pub times: Vec<String>,
    /// The time between two points, in milliseconds.
    pub step_ms: u64,
    /// Every lane, 0 to 3.
    pub lanes: Vec<LaneHistory>,
}

impl Queue {
    /// The backlog (items pending or in flight) per lane at `options.points` times evenly
    /// spaced over the last `options.hours`, ending now (see the module documentation).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on bad options; storage errors.
    pub async fn depth_history(&self, options: &HistoryOptions) -> Result<DepthHistory> {
        options.validate()?;
        let pool = self.keel.pool()?;
        let d = Dialect::of(pool);
        let window_ms = i64::from(options.hours) * 3_600_000;
        let steps = i64::from(options.points) - 1;
        let step_ms = window_ms / steps;
        // A time's point: the first at or after it (0 for anything before the start).
        let step = |expr: &str| {
            format!(
                "CASE WHEN {t} <= $1 THEN 0 ELSE ({t} - $1 + $2 - 1) / $2 END",
                t = d.epoch_ms(expr)
            )
        };
        // One pass over each set, counted by lane and by the points an item came and left at.
        let items = format!(
            "SELECT lane::int8, came::int8, left_at::int8, count(*)::int8 FROM (
                 SELECT queue_priority AS lane, {came} AS came, NULL::int8 AS left_at
                 FROM command_centre_items WHERE enrichment_status = 'pending'
                 UNION ALL
                 SELECT queue_priority, {came}, NULL::int8
                 FROM command_centre_items WHERE enrichment_status = 'processing'
                 UNION ALL
                 SELECT queue_priority, {came}, {left}
                 FROM command_centre_items
                 WHERE processing_started_at IS NOT NULL AND updated_at >= {start}
                   AND enrichment_status IN ('enriched', 'failed', 'skipped')
             ) items GROUP BY lane, came, left_at",
            start = d.from_epoch_ms("$1"),
            came = step("created_at"),
            left = step("updated_at"),
        );
        let now_sql = format!("SELECT {}", d.now_ms());
        type Counted = (i64, i64, Option<i64>, i64);
        let (now_ms, rows): (i64, Vec<Counted>) = on_pool!(pool, |conn, sql| {
            let (now_ms,): (i64,) = sqlx::query_as(&sql(&now_sql)).fetch_one(conn).await?;
            let start_ms = now_ms - step_ms * steps;
            // Not a prepared statement: planned for each call's window (a generic plan, which a
            // prepared one takes after five calls, reads a week through the index: twice as
            // slow as the parallel scan a week's window wants).
            let rows = sqlx::query_as(&sql(&items))
                .persistent(false)
                .bind(start_ms)
                .bind(step_ms)
                .fetch_all(conn)
                .await?;
            (now_ms, rows)
        });
        let start_ms = now_ms - step_ms * steps;
        let points = usize::try_from(options.points).unwrap_or(2);
        let lanes = super::LANES
            .iter()
            .map(|&lane| {
                let mut deltas = vec![0_i64; points + 1];
                // A change after the last point (a clock step) is past the window.
                let at = |point: i64| usize::try_from(point).unwrap_or(0).min(points);
                for &(_, came, left, count) in rows.iter().filter(|r| r.0 == i64::from(lane)) {
                    deltas[at(came)] += count;
                    if let Some(left) = left {
                        deltas[at(left)] -= count;
                    }
                }
                let mut running = 0_i64;
                let backlog = deltas[..points]
                    .iter()
                    .map(|delta| {
                        running += delta;
                        u64::try_from(running).unwrap_or(0)
                    })
                    .collect();
                LaneHistory { lane, backlog }
            })
            .collect();
        Ok(DepthHistory {
            times: (0..=steps)
                .map(|i| rfc3339(start_ms + i * step_ms))
                .collect(),
            step_ms: u64::try_from(step_ms).unwrap_or(0),
            lanes,
        })
    }
}
