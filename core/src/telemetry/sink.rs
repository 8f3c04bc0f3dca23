//! The process-wide asynchronous log writer.
//!
//! Callers only enqueue: `try_send` on a bounded queue, never a wait for a write. One writer
//! task drains the queue in batches (by size, or by time from the first queued event) and writes
//! each batch with one statement (`INSERT … SELECT FROM UNNEST` on PostgreSQL, a multi-row
//! `INSERT` on SQLite), or as JSON lines to stdout when there is no database.
//!
//! Nothing is lost silently:
//! - a full queue drops the new event and counts it;
//! - a database error is retried with exponential backoff while the outage is younger than
//!   `give_up_after`; after that, batches are counted as dropped until a write succeeds again;
//! - a batch the database rejects for its content is written row by row, so one bad event
//!   never takes the others with it;
//! - once writes succeed again, the number dropped since the last report is logged as
//!   `keel.telemetry.events_dropped`.
//!
//! [`Sink::flush`] returns once every event accepted before the call is written or counted as
//! dropped.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_queue::SegQueue;
use serde_json::{Map, Value};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::event::{Level, LogEvent, StoredEvent};
use super::export::Exporter;
use crate::store::Pool;

/// Where the writer puts events.
#[derive(Debug, Clone)]
pub enum Destination {
    /// `system_logs` in the Keel database.
    Database(Pool),
    /// JSON lines on standard output.
    Stdout,
    /// Nowhere: events are counted as written and thrown away (benchmarks, muted services).
    Discard,
}

/// Tuning of the writer. The defaults suit a service emitting up to ~50,000 events/s.
#[derive(Debug, Clone)]
pub struct SinkOptions {
    /// Events the queue holds before new ones are dropped (default 100,000).
    pub capacity: usize,
    /// Events per write (default 1,000).
    pub batch_size: usize,
    /// Longest an event waits in the queue for its batch to fill (default 200 ms).
    pub flush_interval: Duration,
    /// First retry delay after a failed write; doubles up to `retry_max` (default 100 ms).
    pub retry_base: Duration,
    /// Longest delay between retries (default 2 s).
    pub retry_max: Duration,
    /// How long an outage may last before batches are dropped instead of retried (default 60 s).
    pub give_up_after: Duration,
    /// Where the writer also hands each batch: an OTLP exporter (default none).
    pub export: Option<Exporter>,
}

impl Default for SinkOptions {
    fn default() -> Self {
        Self {
            capacity: 100_000,
            batch_size: 1_000,
            flush_interval: Duration::from_millis(200),
            retry_base: Duration::from_millis(100),
            retry_max: Duration::from_secs(2),
            give_up_after: Duration::from_secs(60),
            export: None,
        }
    }
}

/// Counters of a sink since it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct SinkStats {
    /// Events taken into the queue.
    pub accepted: u64,
    /// Events written.
    pub written: u64,
    /// Events dropped: queue full, or given up on during an outage, or rejected by the database.
    pub dropped: u64,
    /// Write attempts that failed (each retried or given up on).
    pub failed_writes: u64,
}

#[derive(Debug, Default)]
struct Counters {
    accepted: AtomicU64,
    written: AtomicU64,
    dropped_at_enqueue: AtomicU64,
    dropped_by_writer: AtomicU64,
    failed_writes: AtomicU64,
}

impl Counters {
    /// Accepted events that are written or dropped by now.
    fn settled(&self) -> u64 {
        self.written.load(Ordering::Acquire) + self.dropped_by_writer.load(Ordering::Acquire)
    }

    fn dropped(&self) -> u64 {
        self.dropped_at_enqueue.load(Ordering::Acquire)
            + self.dropped_by_writer.load(Ordering::Acquire)
    }
}

struct Shared {
    /// Lock-free: an enqueue is a push and two atomic adds, with no wake-up of the writer
    /// unless a batch has just filled.
    queue: SegQueue<LogEvent>,
    capacity: usize,
    batch_size: usize,
    counters: Counters,
    settled: Notify,
    wake: Notify,
    stopped: AtomicBool,
    /// The process that started the writer; a forked child must not wait on it.
    pid: u32,
}

/// Every sink started in this process, for [`flush_all`].
static SINKS: std::sync::Mutex<Vec<std::sync::Weak<Shared>>> = std::sync::Mutex::new(Vec::new());

/// Flushes every live sink this process started, for at most `timeout`; returns how many
/// finished. Bindings call it at interpreter exit so that nothing queued is lost silently.
pub async fn flush_all(timeout: Duration) -> usize {
    let deadline = tokio::time::Instant::now() + timeout;
    // Agent runs' rows first: their writers log nothing, the sinks may hold their spans.
    crate::runner::flush_writers(timeout).await;
    let pid = std::process::id();
    let live: Vec<Sink> = {
        let mut sinks = SINKS.lock().unwrap_or_else(|e| e.into_inner());
        sinks.retain(|weak| weak.strong_count() > 0);
        sinks
            .iter()
            .filter_map(std::sync::Weak::upgrade)
            .filter(|shared| shared.pid == pid)
            .map(|shared| Sink {
                shared,
                destination: "",
                export: None,
            })
            .collect()
    };
    let flushes = live.iter().map(Sink::flush);
    let mut done = 0;
    for flush in flushes {
        if tokio::time::timeout_at(deadline, flush).await.is_ok() {
            done += 1;
        }
    }
    done
}

impl Shared {
    /// Events accepted and not yet written or dropped by the writer.
    fn queued(&self) -> usize {
        let accepted = self.counters.accepted.load(Ordering::Acquire);
        accepted.saturating_sub(self.counters.settled()) as usize
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("queued", &self.queued())
            .field("counters", &self.counters)
            .finish()
    }
}

/// Handle on the writer. Cheap to clone; all clones feed one queue. The writer stops once every
/// handle is dropped and the queue is empty.
#[derive(Debug, Clone)]
pub struct Sink {
    shared: Arc<Shared>,
    destination: &'static str,
    export: Option<Exporter>,
}

impl Sink {
    /// Starts a writer task on the current tokio runtime.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn start(destination: Destination, options: SinkOptions) -> Self {
        let options = SinkOptions {
            capacity: options.capacity.max(1),
            batch_size: options.batch_size.clamp(1, 5_000),
            ..options
        };
        let shared = Arc::new(Shared {
            queue: SegQueue::new(),
            capacity: options.capacity,
            batch_size: options.batch_size,
            counters: Counters::default(),
            settled: Notify::new(),
            wake: Notify::new(),
            stopped: AtomicBool::new(false),
            pid: std::process::id(),
        });
        SINKS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Arc::downgrade(&shared));
        let name = match destination {
            Destination::Database(Pool::Sqlite(_)) => "sqlite",
            Destination::Database(Pool::Postgres(_)) => "postgres",
            Destination::Stdout => "stdout",
            Destination::Discard => "discard",
        };
        let export = options.export.clone();
        let writer = Writer {
            destination,
            options,
            reported_drops: 0,
        };
        tokio::spawn(writer.run(shared.clone()));
        Self {
            shared,
            destination: name,
            export,
        }
    }

    /// `"postgres"`, `"sqlite"`, `"stdout"` or `"discard"`.
    pub fn destination(&self) -> &'static str {
        self.destination
    }

    /// Queues `event` without waiting. Returns false when the queue is full; the event is then
    /// counted as dropped.
    #[inline]
    pub fn enqueue(&self, event: LogEvent) -> bool {
        let shared = &*self.shared;
        // Loads only: the writer updates `written` once a batch, so this check costs no
        // contended read-modify-write. Several producers racing may overshoot the bound by one
        // event each.
        let queued = shared.queued();
        if queued >= shared.capacity || shared.stopped.load(Ordering::Relaxed) {
            shared
                .counters
                .dropped_at_enqueue
                .fetch_add(1, Ordering::AcqRel);
            return false;
        }
        shared.queue.push(event);
        shared.counters.accepted.fetch_add(1, Ordering::AcqRel);
        if queued + 1 == shared.batch_size {
            shared.wake.notify_one();
        }
        true
    }

    /// Waits until every event accepted before this call is written or counted as dropped,
    /// and, with OTLP export, until the spans among them are exported or counted as dropped.
    pub async fn flush(&self) -> SinkStats {
        let target = self.shared.counters.accepted.load(Ordering::Acquire);
        loop {
            let settled = self.shared.settled.notified();
            tokio::pin!(settled);
            settled.as_mut().enable();
            if self.shared.counters.settled() >= target
                || self.shared.stopped.load(Ordering::Acquire)
            {
                if let Some(export) = &self.export {
                    export.flush().await;
                }
                return self.stats();
            }
            self.shared.wake.notify_one();
            settled.await;
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> SinkStats {
        let c = &self.shared.counters;
        SinkStats {
            accepted: c.accepted.load(Ordering::Acquire),
            written: c.written.load(Ordering::Acquire),
            dropped: c.dropped(),
            failed_writes: c.failed_writes.load(Ordering::Acquire),
        }
    }

    /// The OTLP exporter's counters, or `None` when this writer does not export.
    pub fn export_stats(&self) -> Option<super::export::ExportStats> {
        self.export.as_ref().map(Exporter::stats)
    }
}

struct Writer {
    destination: Destination,
    options: SinkOptions,
    reported_drops: u64,
}

impl Writer {
    async fn run(mut self, shared: Arc<Shared>) {
        let outage_since: std::sync::Mutex<Option<Instant>> = std::sync::Mutex::new(None);
        // PostgreSQL takes two batches at once on two connections, so the server works on one
        // while the other travels; SQLite has one writer, so one batch at a time.
        let in_flight = match self.destination {
            Destination::Database(Pool::Postgres(_)) => 2,
            _ => 1,
        };
        loop {
            if shared.queued() < self.options.batch_size {
                tokio::select! {
                    () = shared.wake.notified() => {}
                    () = tokio::time::sleep(self.options.flush_interval) => {}
                }
            }
            // Take what is queued now, batch by batch, and no more: chasing the newest events
            // would read the cache lines producers are writing, slowing every enqueue.
            let mut budget = shared.queued();
            while budget > 0 {
                let first = self.take_batch(&shared, &mut budget);
                let second = if in_flight > 1 {
                    self.take_batch(&shared, &mut budget)
                } else {
                    Vec::new()
                };
                if first.is_empty() {
                    continue;
                }
                let (a, b) = tokio::join!(self.write(&shared, first, &outage_since), async {
                    !second.is_empty() && self.write(&shared, second, &outage_since).await
                });
                if a || b {
                    self.report_drops(&shared).await;
                }
            }
            shared.settled.notify_waiters();
            // Every handle is gone (the writer holds the last reference) and all is written.
            if Arc::strong_count(&shared) == 1 && shared.queue.is_empty() {
                shared.stopped.store(true, Ordering::Release);
                return;
            }
        }
    }

    /// Up to one batch of queued events (at most `budget`, which it lowers), made into rows:
    /// metadata is parsed and made safe here, off the callers' path. Empty once the queue is.
    fn take_batch(&self, shared: &Shared, budget: &mut usize) -> Vec<StoredEvent> {
        let limit = self.options.batch_size.min(*budget);
        // Nothing reads a discarded event: it is counted, not converted (unless exported).
        let discard =
            matches!(self.destination, Destination::Discard) && self.options.export.is_none();
        let mut batch = Vec::with_capacity(if discard { 0 } else { limit });
        let mut taken = 0;
        while taken < limit {
            let Some(event) = shared.queue.pop() else {
                break;
            };
            taken += 1;
            if !discard {
                batch.push(event.into_stored());
            }
        }
        if discard {
            shared
                .counters
                .written
                .fetch_add(taken as u64, Ordering::AcqRel);
        }
        *budget = if taken < limit { 0 } else { *budget - taken };
        if let Some(export) = &self.options.export
            && !batch.is_empty()
        {
            export.offer(&batch);
        }
        batch
    }

    /// Writes one batch, retrying through an outage; true when anything was written.
    async fn write(
        &self,
        shared: &Shared,
        mut batch: Vec<StoredEvent>,
        outage_since: &std::sync::Mutex<Option<Instant>>,
    ) -> bool {
        let counters = &shared.counters;
        let mut delay = self.options.retry_base;
        loop {
            match write_batch(&self.destination, &batch).await {
                Ok(()) => {
                    counters
                        .written
                        .fetch_add(batch.len() as u64, Ordering::AcqRel);
                    *outage_since.lock().unwrap_or_else(|e| e.into_inner()) = None;
                    return true;
                }
                Err(err) if is_content_error(&err) => {
                    // One bad row must not take the others with it: write them one by one.
                    counters.failed_writes.fetch_add(1, Ordering::AcqRel);
                    let mut any = false;
                    for event in batch.drain(..) {
                        match write_batch(&self.destination, std::slice::from_ref(&event)).await {
                            Ok(()) => {
                                any = true;
                                counters.written.fetch_add(1, Ordering::AcqRel)
                            }
                            Err(_) => counters.dropped_by_writer.fetch_add(1, Ordering::AcqRel),
                        };
                    }
                    return any;
                }
                Err(err) => {
                    counters.failed_writes.fetch_add(1, Ordering::AcqRel);
                    let since = *outage_since
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get_or_insert_with(Instant::now);
                    if since.elapsed() >= self.options.give_up_after {
                        tracing::warn!(error = %err, events = batch.len(), "keel telemetry: dropping a batch");
                        counters
                            .dropped_by_writer
                            .fetch_add(batch.len() as u64, Ordering::AcqRel);
                        return false;
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(self.options.retry_max);
                }
            }
        }
    }

    /// After a successful write, log how many events were dropped since the last report.
    async fn report_drops(&mut self, shared: &Shared) {
        let dropped = shared.counters.dropped();
        if dropped <= self.reported_drops {
            return;
        }
        let mut metadata = Map::new();
        metadata.insert("dropped".into(), Value::from(dropped - self.reported_drops));
        metadata.insert("dropped_total".into(), Value::from(dropped));
        let event = LogEvent::new(
            Level::Warn,
            "keel",
            "keel.telemetry.events_dropped",
            metadata,
        );
        // The report is not a caller's event, so it is not counted as accepted or written.
        if write_batch(&self.destination, &[event.into_stored()])
            .await
            .is_ok()
        {
            self.reported_drops = dropped;
        }
    }
}

/// True for errors caused by the rows themselves (a constraint or a bad value), which a retry
/// cannot fix; false for connection trouble.
fn is_content_error(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            // PostgreSQL classes 22 (data exception) and 23 (integrity); SQLite constraint codes.
            code.starts_with("22")
                || code.starts_with("23")
                || matches!(&*code, "19" | "275" | "531" | "787" | "1299" | "2067")
        }
        sqlx::Error::Encode(_) | sqlx::Error::TypeNotFound { .. } => true,
        _ => false,
    }
}

fn metadata_json(event: &StoredEvent) -> String {
    serde_json::to_string(&event.metadata).unwrap_or_else(|_| "{}".to_owned())
}

async fn write_batch(destination: &Destination, batch: &[StoredEvent]) -> Result<(), sqlx::Error> {
    match destination {
        Destination::Discard => Ok(()),
        Destination::Stdout => {
            let mut out = std::io::stdout().lock();
            for event in batch {
                let line = serde_json::to_string(event).unwrap_or_default();
                let _ = writeln!(out, "{line}");
            }
            let _ = out.flush();
            Ok(())
        }
        Destination::Database(Pool::Postgres(pool)) => {
            let n = batch.len();
            // Time-ordered (v7) ids: the primary key index takes appends, not random inserts.
            let ids: Vec<uuid::Uuid> = (0..n).map(|_| uuid::Uuid::now_v7()).collect();
            let mut ts = Vec::with_capacity(n);
            let mut level = Vec::with_capacity(n);
            let mut service = Vec::with_capacity(n);
            let mut action = Vec::with_capacity(n);
            let mut trace = Vec::with_capacity(n);
            let mut span = Vec::with_capacity(n);
            let mut parent = Vec::with_capacity(n);
            let mut user = Vec::with_capacity(n);
            let mut org = Vec::with_capacity(n);
            let mut agent = Vec::with_capacity(n);
            let mut duration = Vec::with_capacity(n);
            let mut error = Vec::with_capacity(n);
            let mut metadata = Vec::with_capacity(n);
            for e in batch {
                ts.push(e.timestamp);
                level.push(e.level.as_str());
                service.push(e.service.as_str());
                action.push(e.action.as_str());
                trace.push(e.trace_id);
                span.push(e.span_id);
                parent.push(e.parent_span_id);
                user.push(e.user_id);
                org.push(e.org_id);
                agent.push(e.agent_name.as_deref());
                duration.push(e.duration_ms.map(|d| d.clamp(0, i64::from(i32::MAX))));
                error.push(e.error_message.as_deref());
                metadata.push(metadata_json(e));
            }
            sqlx::query(
                r#"INSERT INTO system_logs ("timestamp", level, service, action, trace_id, span_id, parent_span_id,
                       user_id, org_id, agent_name, duration_ms, error_message, metadata, id)
                   SELECT t, l, s, a, tr, sp, pa, u, o, ag, d::integer, er, m::jsonb, i
                   FROM UNNEST($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::uuid[], $6::uuid[],
                               $7::uuid[], $8::uuid[], $9::uuid[], $10::text[], $11::int8[], $12::text[], $13::text[],
                               $14::uuid[])
                        AS x(t, l, s, a, tr, sp, pa, u, o, ag, d, er, m, i)"#,
            )
            .bind(ts)
            .bind(level)
            .bind(service)
            .bind(action)
            .bind(trace)
            .bind(span)
            .bind(parent)
            .bind(user)
            .bind(org)
            .bind(agent)
            .bind(duration)
            .bind(error)
            .bind(metadata)
            .bind(ids)
            .execute(pool)
            .await?;
            Ok(())
        }
        Destination::Database(Pool::Sqlite(pool)) => {
            // 14 columns a row; SQLite allows 32,766 parameters a statement. One transaction, so
            // a retried batch is never half written, begun through the store's one seam.
            let mut writer = crate::store::SqliteWriter::acquire(pool).await?;
            let mut tx = writer.begin().await?;
            for chunk in batch.chunks(2_000) {
                let mut query = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                    r#"INSERT INTO system_logs (id, "timestamp", level, service, action, trace_id, span_id,
                       parent_span_id, user_id, org_id, agent_name, duration_ms, error_message, metadata) "#,
                );
                query.push_values(chunk, |mut row, e| {
                    row.push_bind(uuid::Uuid::now_v7().to_string())
                        .push_bind(crate::store::rfc3339_micros(e.timestamp))
                        .push_bind(e.level.as_str())
                        .push_bind(e.service.clone())
                        .push_bind(e.action.clone())
                        .push_bind(e.trace_id.map(|id| id.to_string()))
                        .push_bind(e.span_id.map(|id| id.to_string()))
                        .push_bind(e.parent_span_id.map(|id| id.to_string()))
                        .push_bind(e.user_id.map(|id| id.to_string()))
                        .push_bind(e.org_id.map(|id| id.to_string()))
                        .push_bind(e.agent_name.clone())
                        .push_bind(e.duration_ms)
                        .push_bind(e.error_message.clone())
                        .push_bind(metadata_json(e));
                });
                query.build().execute(&mut *tx).await?;
            }
            tx.commit().await
        }
    }
}
