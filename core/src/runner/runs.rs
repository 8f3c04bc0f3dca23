//! `agent_executions` on both backends: the rows as a listing reads them, the sweeper, and the
//! claim of an idempotency key. The rows are written by [`super::run_writer`].

use serde_json::{Map, Value};
use uuid::Uuid;

use super::agent::RunStatus;
use super::classify::ErrorKind;
use super::execution::{Execution, RunQuery, SweepOptions};
use super::run_writer::{COLUMNS, RunRow, RunWriter, binds_of, placeholder, write_rows};
use crate::Keel;
use crate::error::{Error, Result};
use crate::store::bind::{Bind, Binds, Filters, bind_all, execute};
use crate::store::{Dialect, Pool, on_pool, rfc3339};

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
        let statement = match dialect {
            // A partitioned table cannot hold the key unique without `started_at`: the key is
            // claimed in `agent_execution_keys`, and the row written only when that insert was.
            Dialect::POSTGRES => {
                let param = |name: &str| {
                    let c = COLUMNS.iter().position(|c| *c == name).unwrap_or(0);
                    params[c].clone()
                };
                format!(
                    "WITH claimed AS (
                         INSERT INTO agent_execution_keys (agent_name, idempotency_key, execution_id, started_at)
                         VALUES ({}, {}, {}, {})
                         ON CONFLICT (agent_name, idempotency_key) DO NOTHING
                         RETURNING 1)
                     INSERT INTO agent_executions ({})
                     SELECT {} WHERE EXISTS (SELECT 1 FROM claimed)",
                    param("agent_name"),
                    param("idempotency_key"),
                    param("id"),
                    param("started_at"),
                    COLUMNS.join(", "),
                    params.join(", "),
                )
            }
            _ => format!(
                "INSERT INTO agent_executions ({}) VALUES ({})
                 ON CONFLICT (agent_name, idempotency_key) WHERE idempotency_key IS NOT NULL
                 DO NOTHING",
                COLUMNS.join(", "),
                params.join(", "),
            ),
        };
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
        let filters = Filters {
            statuses: query.status.iter().map(|s| s.as_str()).collect(),
            agent: query.agent_name.as_deref(),
            org: query.org_id.as_deref(),
            since: query.since.as_deref(),
            limit: query.limit,
        };
        let (conditions, mut binds) =
            filters.conditions(Dialect::of(self.keel.pool()?), "started_at")?;
        let trace = crate::options::parse_uuid("trace_id", query.trace_id.as_deref())?;
        binds.push(Bind::Text(trace.map(|t| t.to_string())));
        let statement = format!(
            "SELECT {{cols}} FROM agent_executions
             WHERE {conditions} AND ($7::text IS NULL OR trace_id = $7::uuid)
             ORDER BY started_at DESC, id DESC LIMIT $6"
        );
        let binds = Binds(binds);
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
