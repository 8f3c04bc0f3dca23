//! `keel queue`: the Command Centre queue's health (the real backlog per lane, the oldest
//! wait, the last minute's rates and the mode), its backlog per lane over a past window, the
//! sweep that returns expired leases (for cron), and one item.

use clap::Subcommand;
use keel::flow::{DepthHistory, HistoryOptions, Queue, QueueHealth, QueueItem};
use serde_json::json;

use crate::output::{Create, Ctx, DEFAULT_URL, Done};

/// `keel queue` subcommands.
#[derive(Subcommand)]
pub enum QueueCommand {
    /// The backlog per lane, the oldest wait, items in flight, the last minute's claims,
    /// completions and failures, and the mode (normal, batch, throttle, shed).
    Health,
    /// The backlog (pending or in flight) per lane at evenly spaced times over the last hours,
    /// from the items themselves.
    History {
        /// How far back, 1 to 168 hours.
        #[arg(long, default_value_t = HistoryOptions::default().hours)]
        hours: u32,
        /// How many times, 2 to 500.
        #[arg(long, default_value_t = HistoryOptions::default().points)]
        points: u32,
    },
    /// Return items whose lease ran out to their lanes; fail and dead-letter the last attempts.
    Sweep,
    /// Show one item.
    Show {
        /// The item's id.
        id: String,
    },
}

/// Runs a `keel queue` subcommand.
pub async fn run(ctx: &Ctx, command: QueueCommand) -> Done {
    let keel = ctx.connect_with(DEFAULT_URL, Create::No, false).await?;
    let done = dispatch(ctx, &keel, command).await;
    keel.close().await;
    done
}

async fn dispatch(ctx: &Ctx, keel: &keel::Keel, command: QueueCommand) -> Done {
    let queue = Queue::open(keel, Default::default())?;
    match command {
        QueueCommand::Health => {
            let health = queue.health().await?;
            ctx.emit(&health, || health_text(&health));
        }
        QueueCommand::History { hours, points } => {
            let history = queue
                .depth_history(&HistoryOptions { hours, points })
                .await?;
            ctx.emit(&history, || history_text(&history));
        }
        QueueCommand::Sweep => {
            let report = queue.sweep().await?;
            ctx.emit(&report, || {
                format!(
                    "requeued {} item(s) whose lease ran out; failed {} on their last attempt\n",
                    report.requeued, report.failed
                )
            });
        }
        QueueCommand::Show { id } => {
            let id = keel::options::require_uuid("id", &id)?;
            let item = queue.get(id).await?;
            match item {
                Some(item) => ctx.emit(&item, || item_text(&item)),
                None => ctx.emit(&json!(null), || format!("no item {id}\n")),
            }
        }
    }
    Ok(())
}

/// The health as a table, one row per lane.
pub fn health_text(h: &QueueHealth) -> String {
    let mut out = format!(
        "mode {}: {} due, {} in flight, oldest wait {} ms\n",
        h.mode.as_str(),
        h.depth,
        h.in_flight,
        h.oldest_wait_ms
    );
    out.push_str("lane  due     delayed  oldest wait (ms)\n");
    for l in &h.lanes {
        out.push_str(&format!(
            "{:<5} {:<7} {:<8} {}\n",
            l.lane, l.depth, l.delayed, l.oldest_wait_ms
        ));
    }
    out.push_str(&format!(
        "last minute: {} claimed, {} completed, {} failed\n",
        h.claimed_last_minute, h.completed_last_minute, h.failed_last_minute
    ));
    out
}

/// The history as a table, one row per time.
fn history_text(h: &DepthHistory) -> String {
    let mut out = String::from("time                      P0      P1      P2      P3\n");
    for (i, time) in h.times.iter().enumerate() {
        out.push_str(&format!("{time:<25}"));
        for lane in &h.lanes {
            out.push_str(&format!(
                " {:<7}",
                lane.backlog.get(i).copied().unwrap_or(0)
            ));
        }
        out.push('\n');
    }
    out
}

fn item_text(i: &QueueItem) -> String {
    format!(
        "{} [{}] lane {} · {} attempt(s)\n  {} ({}, {})\n  queued {}{}\n",
        i.id,
        serde_json::to_value(i.enrichment_status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        i.queue_priority,
        i.processing_attempts,
        i.title,
        i.item_type,
        i.source_agent,
        i.queued_at,
        i.failure_reason
            .as_deref()
            .map(|r| format!("\n  failed: {r}"))
            .unwrap_or_default(),
    )
}
