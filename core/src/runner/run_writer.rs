//! The batched writer of `agent_executions` rows.
//!
//! A run only enqueues its row (when it starts and when it ends) on a bounded channel; one
//! writer task per database handle drains it in batches and writes each batch with one
//! `INSERT … ON CONFLICT (id) DO UPDATE`, so the row a run ends with replaces the `running` row
//! it started with, whichever batch each landed in. A full channel drops the row and counts
//! it ([`RunWriter::dropped`]); [`RunWriter::flush`] waits for everything enqueued before it,
//! and [`flush_writers`] for every writer of the process (at exit).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::agent::{AgentConfig, RunStatus};
use super::classify::ErrorKind;
use super::context::RunShared;
use super::letter::Failed;
use crate::error::Result;
use crate::store::bind::{Bind, Binds, execute, split_id};
use crate::store::{Dialect, Pool};

/// Rows a batch writes at most.
const BATCH: usize = 500;
/// Rows the channel holds before new ones are dropped.
const CAPACITY: usize = 50_000;
/// Longest a row waits for its batch to fill.
const FLUSH_INTERVAL: Duration = Duration::from_millis(100);

/// A row as a run hands it to the writer (times in epoch milliseconds).
#[derive(Debug, Clone)]
pub(super) struct RunRow {
    pub id: Uuid,
    pub trace_id: Uuid,
    pub agent_name: Arc<str>,
    pub execution_type: Arc<str>,
    pub triggered_by: Option<Arc<str>>,
    pub started_ms: i64,
    pub completed_ms: Option<i64>,
    pub deadline_ms: i64,
    pub status: RunStatus,
    pub attempts: u32,
    pub items_emitted: u64,
    pub items_processed: u64,
    pub model_id: Option<String>,
    pub model_was_fallback: bool,
    pub tokens_consumed: u64,
    pub credits_consumed: f64,
    pub error_message: Option<String>,
    pub error_kind: Option<ErrorKind>,
    pub errors: Vec<Failed>,
    pub steps: Map<String, Value>,
    pub output: Option<Value>,
    pub metadata: Map<String, Value>,
    pub user_id: Option<Arc<str>>,
    pub org_id: Option<Arc<str>>,
    pub idempotency_key: Option<Arc<str>>,
}

impl RunRow {
    /// The `running` row a run of `config` starts with (`shared` holds its ids).
    pub(super) fn running(
        config: &AgentConfig,
        shared: &RunShared,
        started_at: SystemTime,
    ) -> Self {
        RunRow {
            id: shared.execution_id,
            trace_id: shared.trace_id,
            agent_name: shared.agent_name.clone(),
            execution_type: config.execution_type.as_str().into(),
            triggered_by: config.triggered_by.as_deref().map(Arc::from),
            started_ms: epoch_ms(started_at),
            completed_ms: None,
            deadline_ms: epoch_ms(started_at + config.deadline()),
            status: RunStatus::Running,
            attempts: 0,
            items_emitted: 0,
            items_processed: 0,
            model_id: None,
            model_was_fallback: false,
            tokens_consumed: 0,
            credits_consumed: 0.0,
            error_message: None,
            error_kind: None,
            errors: Vec::new(),
            steps: Map::new(),
            output: None,
            metadata: Map::new(),
            user_id: config.user_id.as_deref().map(Arc::from),
            org_id: config.org_id.as_deref().map(Arc::from),
            idempotency_key: shared.idempotency_key.clone(),
        }
    }
}

enum Message {
    Row(Box<RunRow>),
    Flush(oneshot::Sender<()>),
}

/// The handle runs enqueue their rows on; one per database handle.
#[derive(Debug, Clone)]
pub struct RunWriter {
    tx: mpsc::Sender<Message>,
    counts: Arc<Counts>,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Message")
    }
}

/// A writer's counters, shared with its task (which holds them while it lives, so the exit
/// flush reaches a writer whose handles are gone but whose rows are not written yet).
#[derive(Debug, Default)]
struct Counts {
    /// Rows accepted by the channel.
    accepted: AtomicU64,
    /// Rows the task has written or dropped.
    settled: AtomicU64,
    /// Rows dropped (a full channel, a row the database refused).
    dropped: AtomicU64,
    /// Told after each batch.
    batch_done: tokio::sync::Notify,
}

/// Every writer started, with the process that started it, for [`flush_writers`] at exit (a
/// forked child must not wait on its parent's writer).
static WRITERS: std::sync::Mutex<Vec<(u32, std::sync::Weak<Counts>)>> =
    std::sync::Mutex::new(Vec::new());

/// Waits (at most `timeout`) until every writer of this process has written what it accepted:
/// called by [`crate::telemetry::flush_all`], which the bindings run at exit.
pub(crate) async fn flush_writers(timeout: Duration) {
    let live: Vec<Arc<Counts>> = {
        let mut writers = WRITERS.lock().unwrap_or_else(|e| e.into_inner());
        writers.retain(|(_, w)| w.strong_count() > 0);
        let pid = std::process::id();
        writers
            .iter()
            .filter(|(started_by, _)| *started_by == pid)
            .filter_map(|(_, w)| w.upgrade())
            .collect()
    };
    let settled = live.into_iter().map(|counts| async move {
        let target = counts.accepted.load(Ordering::Acquire);
        loop {
            let done = counts.batch_done.notified();
            tokio::pin!(done);
            done.as_mut().enable();
            if counts.settled.load(Ordering::Acquire) >= target {
                return;
            }
            done.await;
        }
    });
    let _ = tokio::time::timeout(timeout, futures_util::future::join_all(settled)).await;
}

impl RunWriter {
    /// Starts the writer task on the current runtime.
    pub(crate) fn start(pool: Pool) -> Self {
        let (tx, rx) = mpsc::channel(CAPACITY);
        let counts = Arc::new(Counts::default());
        WRITERS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((std::process::id(), Arc::downgrade(&counts)));
        tokio::spawn(write_loop(pool, rx, counts.clone()));
        RunWriter { tx, counts }
    }

    /// Queues `row` without waiting; false (and counted) when the channel is full.
    pub(super) fn enqueue(&self, row: RunRow) -> bool {
        let queued = self.tx.try_send(Message::Row(Box::new(row))).is_ok();
        if queued {
            self.counts.accepted.fetch_add(1, Ordering::AcqRel);
        } else {
            self.counts.dropped.fetch_add(1, Ordering::Relaxed);
        }
        queued
    }

    /// Rows dropped because the channel was full or the database refused them.
    pub fn dropped(&self) -> u64 {
        self.counts.dropped.load(Ordering::Relaxed)
    }

    /// Waits until every row enqueued before the call is written (or dropped).
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Message::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

async fn write_loop(pool: Pool, mut rx: mpsc::Receiver<Message>, counts: Arc<Counts>) {
    let mut messages = Vec::with_capacity(BATCH);
    loop {
        if rx.recv_many(&mut messages, BATCH).await == 0 {
            return;
        }
        // Wait for the batch to fill unless someone is waiting for a flush.
        if messages.len() < BATCH && !messages.iter().any(|m| matches!(m, Message::Flush(_))) {
            tokio::time::sleep(FLUSH_INTERVAL).await;
            // What arrived meanwhile, without waiting for more.
            while messages.len() < BATCH {
                match rx.try_recv() {
                    Ok(message) => messages.push(message),
                    Err(_) => break,
                }
            }
        }
        let mut rows: Vec<RunRow> = Vec::with_capacity(messages.len());
        let mut flushes = Vec::new();
        let mut received = 0;
        for message in messages.drain(..) {
            match message {
                Message::Row(row) => {
                    received += 1;
                    // The last row of a run wins: a batch cannot change one row twice.
                    match rows.iter_mut().find(|r| r.id == row.id) {
                        Some(earlier) => *earlier = *row,
                        None => rows.push(*row),
                    }
                }
                Message::Flush(done) => flushes.push(done),
            }
        }
        if !rows.is_empty() && write_rows(&pool, &rows).await.is_err() {
            // One bad row must not take the others with it.
            for row in &rows {
                if let Err(err) = write_rows(&pool, std::slice::from_ref(row)).await {
                    tracing::warn!(error = %err, run = %row.id, "keel runs: an execution row was not written");
                    counts.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        counts.settled.fetch_add(received, Ordering::AcqRel);
        counts.batch_done.notify_waiters();
        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// Writes the run's row as failed if the run is dropped before it ends (its caller stopped
/// waiting, a Python task was cancelled), so no row stays `running`.
pub(super) struct RowGuard {
    pub writer: RunWriter,
    pub row: Option<RunRow>,
    /// True once `row` is the run's final row: written as it is.
    pub ended: bool,
    /// False for a keyed run until it holds its key: its row is then never written.
    pub claimed: bool,
}

impl Drop for RowGuard {
    fn drop(&mut self) {
        if !self.claimed {
            return;
        }
        if let Some(mut row) = self.row.take() {
            if self.ended {
                self.writer.enqueue(row);
                return;
            }
            row.status = RunStatus::Failed;
            row.completed_ms = Some(epoch_ms(SystemTime::now()));
            row.error_message = Some("cancelled: the run's caller stopped waiting".into());
            self.writer.enqueue(row);
        }
    }
}

pub(super) fn epoch_ms(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

pub(super) fn now_text() -> String {
    crate::store::rfc3339(epoch_ms(SystemTime::now()))
}

/// The columns the writer sets, in bind order.
pub(super) const COLUMNS: [&str; 27] = [
    "id",
    "trace_id",
    "agent_name",
    "execution_type",
    "triggered_by",
    "started_at",
    "completed_at",
    "deadline_at",
    "status",
    "attempts",
    "items_emitted",
    "items_processed",
    "model_id",
    "model_was_fallback",
    "tokens_consumed",
    "credits_consumed",
    "error_message",
    "error_kind",
    "error_history",
    "steps",
    "output",
    "metadata",
    "user_id",
    "user_ref",
    "org_id",
    "org_ref",
    "idempotency_key",
];

/// How each column's parameter is spelt, `{}` standing for `$n`.
pub(super) fn placeholder(dialect: Dialect, column: &str, param: &str) -> String {
    match column {
        "id" | "trace_id" | "user_id" | "org_id" => format!("{param}::uuid"),
        "started_at" | "completed_at" | "deadline_at" => dialect.from_epoch_ms(param),
        "credits_consumed" => format!("{param}::numeric"),
        "error_history" | "steps" | "output" | "metadata" => dialect.json(param),
        _ => param.to_owned(),
    }
}

pub(super) fn binds_of(row: &RunRow, binds: &mut Vec<Bind>) {
    let text = |v: Option<&Arc<str>>| Bind::Text(v.map(|s| s.to_string()));
    let int = |v: u64| Bind::Int(Some(i64::try_from(v).unwrap_or(i64::MAX)));
    let (user, user_ref) = split_id(row.user_id.as_deref());
    let (org, org_ref) = split_id(row.org_id.as_deref());
    binds.extend([
        Bind::Text(Some(row.id.to_string())),
        Bind::Text(Some(row.trace_id.to_string())),
        Bind::Text(Some(row.agent_name.to_string())),
        Bind::Text(Some(row.execution_type.to_string())),
        text(row.triggered_by.as_ref()),
        Bind::Int(Some(row.started_ms)),
        Bind::Int(row.completed_ms),
        Bind::Int(Some(row.deadline_ms)),
        Bind::Text(Some(row.status.as_str().into())),
        int(u64::from(row.attempts)),
        int(row.items_emitted),
        int(row.items_processed),
        Bind::Text(row.model_id.clone()),
        Bind::Bool(Some(row.model_was_fallback)),
        int(row.tokens_consumed),
        Bind::Float(Some(row.credits_consumed)),
        Bind::Text(row.error_message.clone()),
        Bind::Text(row.error_kind.map(|k| k.as_str().into())),
        Bind::Text(Some(crate::store::storable_json(&row.errors))),
        Bind::Text(Some(crate::store::storable_json(&row.steps))),
        Bind::Text(row.output.as_ref().map(crate::store::storable_json)),
        Bind::Text(Some(crate::store::storable_json(&row.metadata))),
        Bind::Text(user),
        Bind::Text(user_ref),
        Bind::Text(org),
        Bind::Text(org_ref),
        text(row.idempotency_key.as_ref()),
    ]);
}

/// Writes `rows` with one upsert: a later row of a run replaces its earlier one.
pub(super) async fn write_rows(pool: &Pool, rows: &[RunRow]) -> Result<()> {
    let dialect = Dialect::of(pool);
    let mut values = Vec::with_capacity(rows.len());
    let mut binds = Vec::with_capacity(rows.len() * COLUMNS.len());
    for (r, row) in rows.iter().enumerate() {
        let params: Vec<String> = COLUMNS
            .iter()
            .enumerate()
            .map(|(c, column)| {
                placeholder(dialect, column, &format!("${}", r * COLUMNS.len() + c + 1))
            })
            .collect();
        values.push(format!("({})", params.join(", ")));
        binds_of(row, &mut binds);
    }
    let updates: Vec<String> = COLUMNS
        .iter()
        .filter(|c| !matches!(**c, "id" | "started_at"))
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    // PostgreSQL partitions the table by `started_at`, so its key is (id, started_at); a run's
    // rows all carry its start.
    let key = match dialect {
        Dialect::POSTGRES => "id, started_at",
        _ => "id",
    };
    let statement = format!(
        "INSERT INTO agent_executions ({}) VALUES {}
         ON CONFLICT ({key}) DO UPDATE SET {}, updated_at = now()",
        COLUMNS.join(", "),
        values.join(", "),
        updates.join(", "),
    );
    execute(pool, &statement, Binds(binds)).await.map(|_| ())
}
