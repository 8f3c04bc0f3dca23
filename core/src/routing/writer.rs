//! Off the response path: the task that writes decisions to `routing_logs` and `routing_cache`.
//!
//! A route hands its entries over an unbounded channel (a send is a pointer move; nothing is
//! dropped, so rows written equal decisions made) and returns. The task drains what is queued,
//! writes it in one transaction per table, and retries a failed write once after a second
//! before counting the rows as lost (`RouterStats::log_failures`). [`Writer::flush`] waits for
//! everything queued before it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::store::{CacheEntry, LogEntry, insert_logs, upsert_cache};
use crate::Keel;

/// What the writer is sent.
pub(crate) enum Job {
    Log(LogEntry),
    Cache(CacheEntry),
    Flush(oneshot::Sender<()>),
}

/// Counters of the writer.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub logged: AtomicU64,
    pub log_failures: AtomicU64,
    pub cache_writes: AtomicU64,
}

/// The sending side; the task ends when every clone is dropped, after writing what is queued.
#[derive(Clone)]
pub(crate) struct Writer {
    tx: mpsc::UnboundedSender<Job>,
    pub counters: Arc<Counters>,
}

/// The most rows written in one transaction.
const BATCH: usize = 512;

impl Writer {
    /// Starts the task on the current runtime.
    pub fn start(keel: Keel) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let counters = Arc::new(Counters::default());
        tokio::spawn(run(keel, rx, counters.clone()));
        Self { tx, counters }
    }

    /// Queues `job` (a closed writer drops it: the router is shutting down).
    pub fn send(&self, job: Job) {
        let _ = self.tx.send(job);
    }

    /// Waits until everything queued before this call is written (or failed).
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Job::Flush(done)).is_ok() {
            let _ = wait.await;
        }
    }
}

async fn run(keel: Keel, mut rx: mpsc::UnboundedReceiver<Job>, counters: Arc<Counters>) {
    let mut jobs = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut jobs, BATCH).await > 0 {
        let mut logs = Vec::new();
        let mut cache = Vec::new();
        let mut flushes = Vec::new();
        for job in jobs.drain(..) {
            match job {
                Job::Log(entry) => logs.push(entry),
                Job::Cache(entry) => cache.push(entry),
                Job::Flush(done) => flushes.push(done),
            }
        }
        if !logs.is_empty() {
            let written = write(&keel, |pool| insert_logs(pool, &logs)).await;
            let counter = if written {
                &counters.logged
            } else {
                &counters.log_failures
            };
            counter.fetch_add(logs.len() as u64, Ordering::Relaxed);
        }
        if !cache.is_empty() && write(&keel, |pool| upsert_cache(pool, &cache)).await {
            counters
                .cache_writes
                .fetch_add(cache.len() as u64, Ordering::Relaxed);
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// Runs `op` on the pool, once more after a second if it fails; false when both fail or the
/// handle is closed.
async fn write<'a, F, Fut>(keel: &'a Keel, op: F) -> bool
where
    F: Fn(&'a crate::store::Pool) -> Fut,
    Fut: std::future::Future<Output = crate::Result<()>>,
{
    for attempt in 0..2 {
        let Ok(pool) = keel.pool() else { return false };
        match op(pool).await {
            Ok(()) => return true,
            Err(err) => {
                tracing::warn!(error = %err, attempt, "keel routing: writing decisions failed");
                if attempt == 0 {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
    false
}
