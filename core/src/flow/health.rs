//! The queue's health and its load-shedding modes.
//!
//! [`Queue::health`] reads the real backlog (every due item per lane, not a fetched page),
//! the oldest wait, items in flight and the claims, completions and failures of the last
//! minute, and names the mode those numbers put the queue in:
//!
//! - `normal`;
//! - `batch`: a lane holds more than `batch_depth` due items (the original's 20): workers
//!   claim bigger batches grouped by entity ([`Queue::claim_batch`]);
//! - `throttle`: the backlog or the oldest wait passed the throttle threshold: low-lane (2, 3)
//!   enqueues wait `throttle_delay_ms` before they can be claimed;
//! - `shed`: past the shed threshold: low-lane enqueues are refused with
//!   [`crate::Error::Overloaded`] and a retry time. Lanes 0 and 1 always go in.
//!
//! Every change of mode is logged (`queue.mode`, with the numbers behind it). An enqueue reads
//! the mode at most `refresh_ms` old.

use std::sync::Mutex;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::queue::Queue;
use crate::error::{Error, Result};
use crate::store::{Dialect, on_pool};

/// How the queue sheds load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Shedding {
    /// Batch mode when a lane holds more than this many due items (default 20).
    pub batch_depth: u64,
    /// Throttle low lanes past this many due items (default 2,000).
    pub throttle_depth: u64,
    /// … or when the oldest due item has waited this long (default 10 min).
    pub throttle_wait_ms: u64,
    /// Refuse low lanes past this many due items (default 10,000).
    pub shed_depth: u64,
    /// … or when the oldest due item has waited this long (default 30 min).
    pub shed_wait_ms: u64,
    /// How long a throttled low-lane item waits before it can be claimed (default 30 s).
    pub throttle_delay_ms: u64,
    /// The retry time an `overloaded` refusal carries (default 60 s).
    pub retry_after_ms: u64,
    /// How old the mode an enqueue reads may be (default 1 s).
    pub refresh_ms: u64,
}

impl Default for Shedding {
    fn default() -> Self {
        Shedding {
            batch_depth: 20,
            throttle_depth: 2_000,
            throttle_wait_ms: 600_000,
            shed_depth: 10_000,
            shed_wait_ms: 1_800_000,
            throttle_delay_ms: 30_000,
            retry_after_ms: 60_000,
            refresh_ms: 1_000,
        }
    }
}

impl Shedding {
    /// Checks the thresholds: each above 0, throttling before shedding.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `shedding.<field>`.
    pub fn check(&self) -> Result<()> {
        for (field, v) in [
            ("batch_depth", self.batch_depth),
            ("throttle_depth", self.throttle_depth),
            ("throttle_wait_ms", self.throttle_wait_ms),
            ("shed_depth", self.shed_depth),
            ("shed_wait_ms", self.shed_wait_ms),
            ("retry_after_ms", self.retry_after_ms),
        ] {
            if v == 0 {
                return Err(Error::invalid_input(
                    format!("shedding.{field}"),
                    "must be more than 0",
                ));
            }
        }
        if self.shed_depth < self.throttle_depth {
            return Err(Error::invalid_input(
                "shedding.shed_depth",
                "must be at least throttle_depth",
            ));
        }
        if self.shed_wait_ms < self.throttle_wait_ms {
            return Err(Error::invalid_input(
                "shedding.shed_wait_ms",
                "must be at least throttle_wait_ms",
            ));
        }
        Ok(())
    }

    /// The mode `health`'s numbers put the queue in.
    pub fn mode_of(&self, health: &QueueHealth) -> Mode {
        let wait = health.oldest_wait_ms;
        if health.depth > self.shed_depth || wait > self.shed_wait_ms {
            Mode::Shed
        } else if health.depth > self.throttle_depth || wait > self.throttle_wait_ms {
            Mode::Throttle
        } else if health.lanes.iter().any(|l| l.depth > self.batch_depth) {
            Mode::Batch
        } else {
            Mode::Normal
        }
    }
}

/// How the queue takes load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Nothing to shed.
    Normal,
    /// A lane is deep: claim in batches grouped by entity.
    Batch,
    /// Low-lane enqueues are delayed.
    Throttle,
    /// Low-lane enqueues are refused.
    Shed,
}

impl Mode {
    /// The mode's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Normal => "normal",
            Mode::Batch => "batch",
            Mode::Throttle => "throttle",
            Mode::Shed => "shed",
        }
    }
}

/// One lane's backlog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LaneHealth {
    /// The lane.
    pub lane: u8,
    /// Items that can be claimed now.
    pub depth: u64,
    /// Items waiting for their not-before time.
    pub delayed: u64,
    /// How long its oldest due item has waited, in milliseconds.
    pub oldest_wait_ms: u64,
}

/// The queue's numbers and its mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueHealth {
    /// Every lane, 0 to 3.
    pub lanes: Vec<LaneHealth>,
    /// Due items across lanes.
    pub depth: u64,
    /// Claimed and not finished.
    pub in_flight: u64,
    /// The longest wait of a due item, in milliseconds.
    pub oldest_wait_ms: u64,
    /// Claims in the last minute.
    pub claimed_last_minute: u64,
    /// Completions in the last minute.
    pub completed_last_minute: u64,
    /// Items that failed for good in the last minute.
    pub failed_last_minute: u64,
    /// The mode these numbers put the queue in.
    pub mode: Mode,
}

/// The last mode a queue handle saw, to log changes and to answer enqueues.
#[derive(Debug)]
pub(super) struct ModeCache {
    seen: Mutex<Option<(Instant, Mode, u64)>>,
}

impl ModeCache {
    pub(super) fn new() -> Self {
        ModeCache {
            seen: Mutex::new(None),
        }
    }
}

impl Queue {
    /// The queue's health: the real backlog per lane, the oldest wait, items in flight, the
    /// last minute's claims, completions and failures, and the mode. A change of mode since
    /// this handle last looked is logged as `queue.mode`.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn health(&self) -> Result<QueueHealth> {
        let pool = self.keel.pool()?;
        let d = Dialect::of(pool);
        let waited = format!(
            "{} - {}",
            d.now_ms(),
            d.epoch_ms("min(CASE WHEN queued_at <= now() THEN queued_at END)")
        );
        let lanes = format!(
            "SELECT queue_priority::int8,
                    sum(CASE WHEN queued_at <= now() THEN 1 ELSE 0 END)::int8,
                    sum(CASE WHEN queued_at <= now() THEN 0 ELSE 1 END)::int8,
                    coalesce(({waited}), 0)::int8
             FROM command_centre_items WHERE enrichment_status = 'pending'
             GROUP BY queue_priority"
        );
        // Every claim, completion and failure sets updated_at, so the last minute's are among
        // the claimed items changed in it (one partial index).
        let counts = format!(
            "SELECT
                 (SELECT count(*) FROM command_centre_items
                  WHERE enrichment_status = 'processing')::int8,
                 count(*) FILTER (WHERE processing_started_at >= {cut})::int8,
                 count(*) FILTER (WHERE enriched_at >= {cut})::int8,
                 count(*) FILTER (WHERE enrichment_status = 'failed')::int8
             FROM command_centre_items
             WHERE processing_started_at IS NOT NULL AND updated_at >= {cut}",
            cut = d.now_plus_ms("-60000"),
        );
        type Lane = (i64, i64, i64, i64);
        let (rows, counts): (Vec<Lane>, (i64, i64, i64, i64)) = on_pool!(pool, |conn, sql| {
            let rows = sqlx::query_as(&sql(&lanes)).fetch_all(conn).await?;
            let counts = sqlx::query_as(&sql(&counts)).fetch_one(conn).await?;
            (rows, counts)
        });
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        let lanes: Vec<LaneHealth> = super::LANES
            .iter()
            .map(|&lane| {
                let row = rows.iter().find(|r| r.0 == i64::from(lane));
                LaneHealth {
                    lane,
                    depth: row.map_or(0, |r| n(r.1)),
                    delayed: row.map_or(0, |r| n(r.2)),
                    oldest_wait_ms: row.filter(|r| r.1 > 0).map_or(0, |r| n(r.3)),
                }
            })
            .collect();
        let mut health = QueueHealth {
            depth: lanes.iter().map(|l| l.depth).sum(),
            oldest_wait_ms: lanes.iter().map(|l| l.oldest_wait_ms).max().unwrap_or(0),
            lanes,
            in_flight: n(counts.0),
            claimed_last_minute: n(counts.1),
            completed_last_minute: n(counts.2),
            failed_last_minute: n(counts.3),
            mode: Mode::Normal,
        };
        health.mode = self.options.shedding.mode_of(&health);
        self.saw(&health);
        Ok(health)
    }

    /// Records the mode `health` shows; logs it when it changed.
    fn saw(&self, health: &QueueHealth) {
        let mut seen = self.modes.seen.lock().unwrap_or_else(|e| e.into_inner());
        let before = seen.map(|(_, mode, _)| mode);
        *seen = Some((Instant::now(), health.mode, health.depth));
        drop(seen);
        if before.is_some_and(|m| m != health.mode)
            || (before.is_none() && health.mode != Mode::Normal)
        {
            let mut data = serde_json::Map::new();
            data.insert("from".into(), before.map_or("normal", Mode::as_str).into());
            data.insert("to".into(), health.mode.as_str().into());
            data.insert("depth".into(), health.depth.into());
            data.insert("oldest_wait_ms".into(), health.oldest_wait_ms.into());
            data.insert("in_flight".into(), health.in_flight.into());
            let logger = self
                .keel
                .logger("queue", crate::telemetry::LoggerOptions::default());
            if health.mode >= Mode::Throttle {
                logger.warn("queue.mode", data);
            } else {
                logger.info("queue.mode", data);
            }
        }
    }

    /// The mode for an enqueue: the last one seen when fresh enough, else read now; and the
    /// depth behind it.
    pub(super) async fn current_mode(&self) -> Result<(Mode, u64)> {
        let refresh = std::time::Duration::from_millis(self.options.shedding.refresh_ms);
        let fresh = *self.modes.seen.lock().unwrap_or_else(|e| e.into_inner());
        match fresh {
            Some((at, mode, depth)) if at.elapsed() < refresh => Ok((mode, depth)),
            _ => self.health().await.map(|h| (h.mode, h.depth)),
        }
    }
}
