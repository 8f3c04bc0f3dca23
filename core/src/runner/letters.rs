//! The dead-letter table on both backends: enqueue, lease, complete, fail, and the operator's
//! retry, redrive and abandon. See `migrations/postgres/0011_dead_letters.sql`.
//!
//! Every change is one statement. A claim selects due letters with `FOR UPDATE SKIP LOCKED`
//! (SQLite has one writer) and raises their fencing token in the same `UPDATE … RETURNING`;
//! a worker's later statements name `id = … AND fencing_token = …`, so a worker whose lease
//! ran out changes nothing. Counters (`retry_count`, `fencing_token`) move only inside
//! `UPDATE`s, never from a value the client read.

use uuid::Uuid;

use super::classify::ErrorKind;
use super::letter::{DeadLetter, Failed, LetterQuery, LetterStatus, NewDeadLetter, clip};
use crate::Keel;
use crate::error::{Error, Result};
use crate::store::bind::{Bind, Binds, Filters, bind_all, split_id};
use crate::store::{Dialect, on_pool, rfc3339};

/// The dead letters on a handle's database.
#[derive(Debug, Clone)]
pub struct DeadLetters {
    pub(super) keel: Keel,
}

/// A letter row as [`columns`] selects it.
#[derive(Debug, sqlx::FromRow)]
struct LetterRow {
    id: String,
    agent_name: String,
    trigger_type: String,
    payload: String,
    org_id: Option<String>,
    user_id: Option<String>,
    trace_id: Option<String>,
    status: String,
    failure_reason: String,
    error_kind: Option<String>,
    errors: String,
    retry_count: i64,
    max_retries: i64,
    next_ms: i64,
    locked_by: Option<String>,
    locked_ms: Option<i64>,
    fencing_token: i64,
    abandoned_reason: Option<String>,
    idempotency_key: Option<String>,
    created_ms: i64,
    updated_ms: i64,
    resolved_ms: Option<i64>,
    steps: String,
}

/// The columns of a [`LetterRow`].
fn columns(dialect: Dialect) -> String {
    format!(
        "id::text AS id, agent_name, trigger_type, trigger_payload::text AS payload,
         coalesce(org_id::text, org_ref) AS org_id, coalesce(user_id::text, user_ref) AS user_id,
         trace_id::text AS trace_id, status, failure_reason, error_kind,
         error_history::text AS errors, retry_count::int8 AS retry_count,
         max_retries::int8 AS max_retries, {} AS next_ms, locked_by, {} AS locked_ms,
         fencing_token, abandoned_reason, idempotency_key, {} AS created_ms, {} AS updated_ms,
         {} AS resolved_ms, steps::text AS steps",
        dialect.epoch_ms("next_retry_at"),
        dialect.epoch_ms("locked_until"),
        dialect.epoch_ms("created_at"),
        dialect.epoch_ms("updated_at"),
        dialect.epoch_ms("resolved_at"),
    )
}

impl From<LetterRow> for DeadLetter {
    fn from(r: LetterRow) -> Self {
        let n = |v: i64| u32::try_from(v).unwrap_or(0);
        DeadLetter {
            id: Uuid::try_parse(&r.id).unwrap_or_default(),
            agent_name: r.agent_name,
            trigger_type: r.trigger_type,
            payload: serde_json::from_str(&r.payload).unwrap_or_default(),
            org_id: r.org_id,
            user_id: r.user_id,
            trace_id: r.trace_id.and_then(|t| Uuid::try_parse(&t).ok()),
            status: LetterStatus::parse(&r.status),
            failure_reason: r.failure_reason,
            error_kind: r.error_kind.and_then(|k| ErrorKind::parse("", &k).ok()),
            errors: serde_json::from_str(&r.errors).unwrap_or_default(),
            retry_count: n(r.retry_count),
            max_retries: n(r.max_retries),
            next_retry_at: rfc3339(r.next_ms),
            locked_by: r.locked_by,
            locked_until: r.locked_ms.map(rfc3339),
            fencing_token: u64::try_from(r.fencing_token).unwrap_or(0),
            abandoned_reason: r.abandoned_reason,
            idempotency_key: r.idempotency_key,
            created_at: rfc3339(r.created_ms),
            updated_at: rfc3339(r.updated_ms),
            resolved_at: r.resolved_ms.map(rfc3339),
            steps: match serde_json::from_str(&r.steps) {
                Ok(serde_json::Value::Object(steps)) => steps,
                _ => serde_json::Map::new(),
            },
        }
    }
}

/// The error for an operator's change to a letter that is missing or in the wrong state.
pub(super) fn not_in(id: Uuid, states: &str) -> Error {
    Error::invalid_input("id", format!("no {states} dead letter {id}"))
}

impl DeadLetters {
    /// The dead letters of `keel`'s database.
    pub fn open(keel: &Keel) -> Self {
        DeadLetters { keel: keel.clone() }
    }

    /// Runs `statement` (PostgreSQL spelling; `{cols}` stands for the letter columns) with
    /// `binds` and returns the letters it returns.
    pub(super) async fn letters(&self, statement: &str, binds: Binds) -> Result<Vec<DeadLetter>> {
        let pool = self.keel.pool()?;
        let dialect = Dialect::of(pool);
        let text = statement.replace("{cols}", &columns(dialect));
        let rows: Vec<LetterRow> = on_pool!(pool, |conn, sql| {
            let text = sql(&text);
            bind_all!(sqlx::query_as::<_, LetterRow>(&text), binds)
                .fetch_all(conn)
                .await?
        });
        Ok(rows.into_iter().map(DeadLetter::from).collect())
    }

    /// Enqueues a letter; with an idempotency key, once (a second call returns the first
    /// letter). The first retry is due after `delay_ms` (default: the dead-letter backoff's
    /// first delay, `backoff_ms`).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] from [`NewDeadLetter::check`]; storage errors.
    pub async fn enqueue(&self, letter: &NewDeadLetter, backoff_ms: u64) -> Result<DeadLetter> {
        letter.check()?;
        let dialect = Dialect::of(self.keel.pool()?);
        let last = letter.errors.last().expect("checked: at least one failure");
        let (org, org_ref) = split_id(letter.org_id.as_deref());
        let (user, user_ref) = split_id(letter.user_id.as_deref());
        let errors: Vec<Failed> = letter
            .errors
            .iter()
            .map(|e| Failed {
                message: clip(&e.message),
                ..e.clone()
            })
            .collect();
        let id = Uuid::now_v7();
        let insert = format!(
            "INSERT INTO agent_dead_letters
                 (id, trace_id, agent_name, trigger_type, trigger_payload, failure_reason,
                  error_kind, error_history, org_id, org_ref, user_id, user_ref, max_retries,
                  idempotency_key, next_retry_at, steps)
             VALUES ($1::uuid, $2::uuid, $3, $4, {}, $6, $7, {}, $9::uuid, $10, $11::uuid, $12,
                     $13, $14, {}, {})
             ON CONFLICT (idempotency_key) DO NOTHING",
            dialect.json("$5"),
            dialect.json("$8"),
            dialect.now_plus_ms("$15"),
            dialect.json("$16"),
        );
        let delay = letter.delay_ms.unwrap_or(backoff_ms);
        let binds = Binds(vec![
            Bind::Text(Some(id.to_string())),
            Bind::Text(letter.trace_id.clone()),
            Bind::Text(Some(letter.agent_name.clone())),
            Bind::Text(Some(
                letter
                    .trigger_type
                    .clone()
                    .unwrap_or_else(|| "agent".into()),
            )),
            // No payload is an empty object, as the column's default.
            Bind::Text(Some(match &letter.payload {
                serde_json::Value::Null => "{}".to_owned(),
                payload => crate::store::storable_json(payload),
            })),
            Bind::Text(Some(clip(&last.message))),
            Bind::Text(Some(last.kind.as_str().into())),
            Bind::Text(Some(crate::store::storable_json(&errors))),
            Bind::Text(org),
            Bind::Text(org_ref),
            Bind::Text(user),
            Bind::Text(user_ref),
            Bind::Int(Some(i64::from(letter.max_retries.unwrap_or(3)))),
            Bind::Text(letter.idempotency_key.clone()),
            Bind::Int(Some(i64::try_from(delay).unwrap_or(i64::MAX))),
            Bind::Text(Some(crate::store::storable_json(&letter.steps))),
        ]);
        self.execute(&insert, binds).await?;
        let found = match &letter.idempotency_key {
            Some(key) => {
                self.letters(
                    "SELECT {cols} FROM agent_dead_letters WHERE idempotency_key = $1",
                    Binds(vec![Bind::Text(Some(key.clone()))]),
                )
                .await?
            }
            None => self.by_id(id).await?,
        };
        found
            .into_iter()
            .next()
            .ok_or_else(|| Error::Internal("an enqueued letter was not found".into()))
    }

    pub(super) async fn execute(&self, statement: &str, binds: Binds) -> Result<u64> {
        crate::store::bind::execute(self.keel.pool()?, statement, binds).await
    }

    async fn by_id(&self, id: Uuid) -> Result<Vec<DeadLetter>> {
        self.letters(
            "SELECT {cols} FROM agent_dead_letters WHERE id = $1::uuid",
            Binds(vec![Bind::Text(Some(id.to_string()))]),
        )
        .await
    }

    /// The letter `id`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `id` when there is no such letter; storage errors.
    pub async fn get(&self, id: Uuid) -> Result<DeadLetter> {
        self.by_id(id)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| not_in(id, "such"))
    }

    /// The letters `query` selects, newest first.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `limit` (0 or over 1,000) or `since` (not RFC 3339); storage
    /// errors.
    pub async fn list(&self, query: &LetterQuery) -> Result<Vec<DeadLetter>> {
        let filters = Filters {
            statuses: query.status.iter().map(|s| s.as_str()).collect(),
            agent: query.agent_name.as_deref(),
            org: query.org_id.as_deref(),
            since: query.since.as_deref(),
            limit: query.limit,
        };
        let (conditions, binds) =
            filters.conditions(Dialect::of(self.keel.pool()?), "created_at")?;
        let statement = format!(
            "SELECT {{cols}} FROM agent_dead_letters WHERE {conditions}
             ORDER BY created_at DESC, id DESC LIMIT $6"
        );
        let binds = Binds(binds);
        self.letters(&statement, binds).await
    }
}
