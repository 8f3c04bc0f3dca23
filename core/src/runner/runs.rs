//! `agent_executions` on both backends: the batched row writer runs feed, the listing, the
//! sweeper, and the claim of an idempotency key.
//!
//! A run only enqueues its row (when it starts and when it ends) on a bounded channel; one
//! writer task per database handle drains it in batches and writes each batch with one
//! `INSERT … ON CONFLICT (id) DO UPDATE`, so the row a run ends with replaces the `running` row
//! it started with, whichever batch each landed in. A full channel drops the row and counts
//! it ([`RunWriter::dropped`]); [`Runs::flush`] waits for everything enqueued before it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::agent::RunStatus;
use super::bind::{Bind, Binds, bind_all, execute, listing, split_id};
use super::classify::ErrorKind;
use super::execution::{Execution, RunQuery, SweepOptions};
use super::letter::Failed;
use crate::Keel;
use crate::error::{Error, Result};
use crate::store::{Dialect, Pool, on_pool, rfc3339};

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
const COLUMNS: [&str; 27] = [
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
fn placeholder(dialect: Dialect, column: &str, param: &str) -> String {
    match column {
        "id" | "trace_id" | "user_id" | "org_id" => format!("{param}::uuid"),
        "started_at" | "completed_at" | "deadline_at" => dialect.from_epoch_ms(param),
        "credits_consumed" => format!("{param}::numeric"),
        "error_history" | "steps" | "output" | "metadata" => dialect.json(param),
        _ => param.to_owned(),
    }
}

fn binds_of(row: &RunRow, binds: &mut Vec<Bind>) {
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
        Bind::Text(Some(serde_json::to_string(&row.errors).unwrap_or_default())),
        Bind::Text(Some(Value::Object(row.steps.clone()).to_string())),
        Bind::Text(row.output.as_ref().map(Value::to_string)),
        Bind::Text(Some(Value::Object(row.metadata.clone()).to_string())),
        Bind::Text(user),
        Bind::Text(user_ref),
        Bind::Text(org),
        Bind::Text(org_ref),
        text(row.idempotency_key.as_ref()),
    ]);
}

/// Writes `rows` with one upsert: a later row of a run replaces its earlier one.
async fn write_rows(pool: &Pool, rows: &[RunRow]) -> Result<()> {
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
    let statement = format!(
        "INSERT INTO agent_executions ({}) VALUES {}
         ON CONFLICT (id) DO UPDATE SET {}, updated_at = now()",
        COLUMNS.join(", "),
        values.join(", "),
        updates.join(", "),
    );
    execute(pool, &statement, Binds(binds)).await.map(|_| ())
}

/// An execution row as [`columns`] selects it.
#[derive(Debug, sqlx::FromRow)]
struct ExecutionRow {
    id: String,
    trace_id: Option<String>,
    agent_name: String,
    execution_type: String,
    triggered_by: Option<String>,
    started_ms: i64,
    completed_ms: Option<i64>,
    deadline_ms: Option<i64>,
    status: String,
    attempts: i64,
    items_emitted: i64,
    items_processed: i64,
    model_id: Option<String>,
    model_was_fallback: bool,
    tokens_consumed: i64,
    credits_consumed: f64,
    error_message: Option<String>,
    error_kind: Option<String>,
    errors: String,
    steps: String,
    output: Option<String>,
    metadata: String,
    user_id: Option<String>,
    org_id: Option<String>,
    idempotency_key: Option<String>,
}

fn columns(dialect: Dialect) -> String {
    format!(
        "id::text AS id, trace_id::text AS trace_id, agent_name, execution_type, triggered_by,
         {} AS started_ms, {} AS completed_ms, {} AS deadline_ms, status,
         attempts::int8 AS attempts, items_emitted::int8 AS items_emitted,
         items_processed::int8 AS items_processed, model_id, model_was_fallback,
         tokens_consumed::int8 AS tokens_consumed, {} AS credits_consumed, error_message,
         error_kind, error_history::text AS errors, steps::text AS steps,
         output::text AS output, metadata::text AS metadata,
         coalesce(user_id::text, user_ref) AS user_id, coalesce(org_id::text, org_ref) AS org_id,
         idempotency_key",
        dialect.epoch_ms("started_at"),
        dialect.epoch_ms("completed_at"),
        dialect.epoch_ms("deadline_at"),
        dialect.float("credits_consumed"),
    )
}

impl From<ExecutionRow> for Execution {
    fn from(r: ExecutionRow) -> Self {
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        let object = |text: &str| match serde_json::from_str(text) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        Execution {
            id: Uuid::try_parse(&r.id).unwrap_or_default(),
            trace_id: r
                .trace_id
                .and_then(|t| Uuid::try_parse(&t).ok())
                .unwrap_or_default(),
            agent_name: r.agent_name,
            execution_type: r.execution_type,
            triggered_by: r.triggered_by,
            started_at: rfc3339(r.started_ms),
            completed_at: r.completed_ms.map(rfc3339),
            deadline_at: r.deadline_ms.map(rfc3339),
            status: RunStatus::parse(&r.status),
            attempts: u32::try_from(r.attempts).unwrap_or(0),
            items_emitted: n(r.items_emitted),
            items_processed: n(r.items_processed),
            model_id: r.model_id,
            model_was_fallback: r.model_was_fallback,
            tokens_consumed: n(r.tokens_consumed),
            credits_consumed: r.credits_consumed,
            error_message: r.error_message,
            error_kind: r.error_kind.and_then(|k| ErrorKind::parse("", &k).ok()),
            error_history: serde_json::from_str(&r.errors).unwrap_or_default(),
            steps: object(&r.steps),
            output: r.output.and_then(|o| serde_json::from_str(&o).ok()),
            metadata: object(&r.metadata),
            user_id: r.user_id,
            org_id: r.org_id,
            idempotency_key: r.idempotency_key,
        }
    }
}

/// The runs of a handle's database: their rows, the sweeper and the writer.
#[derive(Debug, Clone)]
pub struct Runs {
    keel: Keel,
}

impl Runs {
    /// The runs of `keel`'s database.
    pub fn open(keel: &Keel) -> Self {
        Runs { keel: keel.clone() }
    }

    /// Waits until every row enqueued so far is written.
    pub async fn flush(&self) {
        if let Ok(writer) = self.keel.run_writer() {
            writer.flush().await;
        }
    }

    async fn select(&self, statement: &str, binds: Binds) -> Result<Vec<Execution>> {
        let pool = self.keel.pool()?;
        let text = statement.replace("{cols}", &columns(Dialect::of(pool)));
        let rows: Vec<ExecutionRow> = on_pool!(pool, |conn, sql| {
            let text = sql(&text);
            bind_all!(sqlx::query_as::<_, ExecutionRow>(&text), binds)
                .fetch_all(conn)
                .await?
        });
        Ok(rows.into_iter().map(Execution::from).collect())
    }

    /// The run `id`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `id` when there is no such run; storage errors.
    pub async fn get(&self, id: Uuid) -> Result<Execution> {
        self.select(
            "SELECT {cols} FROM agent_executions WHERE id = $1::uuid",
            Binds(vec![Bind::Text(Some(id.to_string()))]),
        )
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| Error::invalid_input("id", format!("no run {id}")))
    }

    /// The run of `agent` with idempotency key `key`, if one was made.
    pub(super) async fn by_key(&self, agent: &str, key: &str) -> Result<Option<Execution>> {
        Ok(self
            .select(
                "SELECT {cols} FROM agent_executions WHERE agent_name = $1 AND idempotency_key = $2",
                Binds(vec![
                    Bind::Text(Some(agent.to_owned())),
                    Bind::Text(Some(key.to_owned())),
                ]),
            )
            .await?
            .into_iter()
            .next())
    }

    /// Writes `row` now unless a row with its agent and idempotency key exists: true when
    /// this run holds the key.
    pub(super) async fn claim_key(&self, row: &RunRow) -> Result<bool> {
        let pool = self.keel.pool()?;
        let dialect = Dialect::of(pool);
        let params: Vec<String> = COLUMNS
            .iter()
            .enumerate()
            .map(|(c, column)| placeholder(dialect, column, &format!("${}", c + 1)))
            .collect();
        let statement = format!(
            "INSERT INTO agent_executions ({}) VALUES ({})
             ON CONFLICT (agent_name, idempotency_key) WHERE idempotency_key IS NOT NULL
             DO NOTHING",
            COLUMNS.join(", "),
            params.join(", "),
        );
        let mut binds = Vec::with_capacity(COLUMNS.len());
        binds_of(row, &mut binds);
        Ok(execute(pool, &statement, Binds(binds)).await? == 1)
    }

    /// Writes `row` now, not through the writer (the end of a run with an idempotency key,
    /// which a second run with the key reads at once).
    pub(super) async fn write_now(&self, row: &RunRow) -> Result<()> {
        write_rows(self.keel.pool()?, std::slice::from_ref(row)).await
    }

    /// The runs `query` selects, newest first.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `limit` (0 or over 1,000), `since` (not RFC 3339) or
    /// `trace_id` (not a UUID); storage errors.
    pub async fn list(&self, query: &RunQuery) -> Result<Vec<Execution>> {
        let since = listing(query.limit, query.since.as_deref())?;
        let dialect = Dialect::of(self.keel.pool()?);
        let trace = crate::options::parse_uuid("trace_id", query.trace_id.as_deref())?;
        let statuses: Vec<&str> = query.status.iter().map(|s| s.as_str()).collect();
        let (org, org_ref) = split_id(query.org_id.as_deref());
        let statement = format!(
            "SELECT {{cols}} FROM agent_executions
             WHERE ($1::text IS NULL OR status IN ({}))
               AND ($2::text IS NULL OR agent_name = $2)
               AND ($3::text IS NULL OR org_id = $3::uuid)
               AND ($4::text IS NULL OR org_ref = $4)
               AND ($5::int8 IS NULL OR started_at >= {})
               AND ($6::text IS NULL OR trace_id = $6::uuid)
             ORDER BY started_at DESC, id DESC LIMIT $7",
            dialect.json_strings("$1"),
            dialect.from_epoch_ms("$5"),
        );
        let binds = Binds(vec![
            Bind::Text((!statuses.is_empty()).then(|| serde_json::json!(statuses).to_string())),
            Bind::Text(query.agent_name.clone()),
            Bind::Text(org),
            Bind::Text(org_ref),
            Bind::Int(since),
            Bind::Text(trace.map(|t| t.to_string())),
            Bind::Int(Some(i64::from(query.limit))),
        ]);
        self.select(&statement, binds).await
    }

    /// Marks runs still `running` past their deadline (plus `grace_ms`), or rows without a
    /// deadline started more than `stale_after_ms` ago, as failed with kind `timeout`;
    /// returns how many. On PostgreSQL this is `keel.sweep_agent_executions()`, the function
    /// pg_cron calls ([`super::SWEEP_SCHEDULE`]).
    ///
    /// # Errors
    /// Storage errors.
    pub async fn sweep(&self, options: SweepOptions) -> Result<u64> {
        let pool = self.keel.pool()?;
        let ms = |v: u64| Bind::Int(Some(i64::try_from(v).unwrap_or(i64::MAX)));
        let binds = Binds(vec![ms(options.grace_ms), ms(options.stale_after_ms)]);
        match pool {
            Pool::Postgres(pool) => {
                let swept: i32 = sqlx::query_scalar(
                    "SELECT keel.sweep_agent_executions(make_interval(secs => $1::float8 / 1000),
                                                        make_interval(secs => $2::float8 / 1000))",
                )
                .bind(i64::try_from(options.grace_ms).unwrap_or(i64::MAX))
                .bind(i64::try_from(options.stale_after_ms).unwrap_or(i64::MAX))
                .fetch_one(pool)
                .await?;
                Ok(u64::try_from(swept).unwrap_or(0))
            }
            Pool::Sqlite(_) => {
                let d = Dialect::SQLITE;
                let statement = format!(
                    "UPDATE agent_executions
                        SET status = 'failed', completed_at = now(), updated_at = now(),
                            error_kind = 'timeout', error_message = '{SWEPT}'
                      WHERE status = 'running'
                        AND ({} < {} - $1 OR (deadline_at IS NULL AND {} < {} - $2))",
                    d.epoch_ms("deadline_at"),
                    d.now_ms(),
                    d.epoch_ms("started_at"),
                    d.now_ms(),
                );
                execute(pool, &statement, binds).await
            }
        }
    }
}

/// What a swept run's `error_message` says (the same text as the PostgreSQL function's).
const SWEPT: &str =
    "swept: the run was still running past its deadline; its process stopped without finishing it";

impl Keel {
    /// The writer of this database's `agent_executions` rows, started on first use on the
    /// runtime `connect` ran on.
    ///
    /// # Errors
    /// [`Error::Closed`] or [`Error::Forked`] as [`Keel::pool`].
    pub fn run_writer(&self) -> Result<&RunWriter> {
        let pool = self.pool()?.clone();
        Ok(self.runs_cell().get_or_init(|| {
            let _guard = self.runtime().enter();
            RunWriter::start(pool)
        }))
    }
}
