//! What a worker does with a claimed item, each one fenced statement naming the lease token
//! its claim returned (a holder whose lease ran out changes nothing): complete, fail, defer,
//! extend; and the sweep that returns expired leases to the queue.
//!
//! An item that fails for good (a failure that is not retryable, or its attempts spent) is
//! `failed` with its reason and goes to the agent dead-letter queue as a letter of agent
//! [`DEAD_LETTER_AGENT`], in the same transaction.

use serde::Serialize;
use uuid::Uuid;

use super::item::{MAX_DELAY_MS, QueueItem};
use super::queue::{ItemRow, Queue, short_name_of};
use crate::error::{Error, Result};
use crate::store::bind::{Bind, Binds, bind_all};
use crate::store::{Dialect, in_transaction};

/// The agent name of the dead letters of failed queue items.
pub const DEAD_LETTER_AGENT: &str = "command-centre-queue";

/// What a sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// Items whose lease ran out, back in their lane.
    pub requeued: u64,
    /// Items whose lease ran out on their last attempt, failed and dead-lettered.
    pub failed: u64,
}

fn token(t: u64) -> Bind {
    Bind::Int(Some(i64::try_from(t).unwrap_or(i64::MAX)))
}

fn id_bind(id: Uuid) -> Bind {
    Bind::Text(Some(id.to_string()))
}

fn delay(field: &str, ms: i64) -> Result<Bind> {
    if !(0..=MAX_DELAY_MS as i64).contains(&ms) {
        return Err(Error::invalid_input(
            field,
            "must be 0 to 30 days in milliseconds",
        ));
    }
    Ok(Bind::Int(Some(ms)))
}

/// The completion of every (id, lease token) pair of the JSON array `param`: one `UPDATE`,
/// which returns the ids it completed as text. The rows are found by the primary key (the ids
/// as one array) and the pairs matched by a hash; the state is compared with a subquery's
/// value so that the planner cannot pick the partial index of in-flight items instead (it holds
/// an entry for every claim since the last vacuum: reading it costs more the longer a queue
/// runs).
pub(super) fn completion(d: Dialect, param: &str) -> String {
    let pairs = d.json_pairs(param);
    format!(
        "UPDATE command_centre_items SET enrichment_status = 'enriched', enriched_at = now(),
             lease_owner = NULL, lease_expires_at = NULL, failure_reason = NULL,
             updated_at = now()
         WHERE {}
           AND (id, lease_token) IN (SELECT a::uuid, b::int8 FROM ({pairs}) AS p)
           AND enrichment_status = (SELECT 'processing')
         RETURNING id::text AS id",
        d.in_rows("id", &format!("SELECT a::uuid FROM ({pairs}) AS p"))
    )
}

/// The condition that `$1` (id) and `$2` (token) hold the item's lease.
const HELD: &str = "id = $1::uuid AND lease_token = $2::int8 AND enrichment_status = 'processing'";

impl Queue {
    /// Completes `id`, keeping `context` (a JSON value) as its enrichment; false when `token`
    /// no longer holds it.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn complete(
        &self,
        id: Uuid,
        lease_token: u64,
        context: Option<&serde_json::Value>,
    ) -> Result<bool> {
        let d = Dialect::of(self.keel.pool()?);
        let statement = format!(
            "UPDATE command_centre_items SET enrichment_status = 'enriched', enriched_at = now(),
                 enrichment_context = coalesce({}, enrichment_context), lease_owner = NULL,
                 lease_expires_at = NULL, failure_reason = NULL, updated_at = now()
             WHERE {HELD}",
            d.json("$3")
        );
        let binds = Binds(vec![
            id_bind(id),
            token(lease_token),
            Bind::Text(context.map(crate::store::storable_json)),
        ]);
        Ok(crate::store::bind::execute(self.keel.pool()?, &statement, binds).await? == 1)
    }

    /// Completes every (id, token) of `leases` in one statement; the ids whose token still
    /// held the lease.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn complete_all(&self, leases: &[(Uuid, u64)]) -> Result<Vec<Uuid>> {
        if leases.is_empty() {
            return Ok(Vec::new());
        }
        let statement = completion(Dialect::of(self.keel.pool()?), "$1");
        let json: Vec<(String, u64)> = leases.iter().map(|(i, t)| (i.to_string(), *t)).collect();
        let pool = self.keel.pool()?;
        let rows: Vec<(String,)> = crate::store::on_pool!(pool, |conn, sql| {
            sqlx::query_as(&sql(&statement))
                .bind(serde_json::json!(json).to_string())
                .fetch_all(conn)
                .await?
        });
        Ok(rows
            .into_iter()
            .filter_map(|(id,)| Uuid::try_parse(&id).ok())
            .collect())
    }

    /// Extends the lease of `id` to `lease_ms` from now (default: the queue's lease); false
    /// when `token` no longer holds it.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `lease_ms` (0 or over 30 days); storage errors.
    pub async fn extend(&self, id: Uuid, lease_token: u64, lease_ms: Option<i64>) -> Result<bool> {
        let lease = lease_ms.unwrap_or(self.options.lease_ms as i64);
        if lease == 0 {
            return Err(Error::invalid_input("lease_ms", "must be more than 0"));
        }
        let d = Dialect::of(self.keel.pool()?);
        let statement = format!(
            "UPDATE command_centre_items SET lease_expires_at = {}, updated_at = now()
             WHERE {HELD}",
            d.now_plus_ms("$3")
        );
        let binds = Binds(vec![
            id_bind(id),
            token(lease_token),
            delay("lease_ms", lease)?,
        ]);
        Ok(crate::store::bind::execute(self.keel.pool()?, &statement, binds).await? == 1)
    }

    /// Puts `id` back in its lane after `delay_ms` without spending an attempt (a
    /// rate-limited item); false when `token` no longer holds it.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `delay_ms` (negative or over 30 days); storage errors.
    pub async fn defer(&self, id: Uuid, lease_token: u64, delay_ms: i64) -> Result<bool> {
        let wait = delay("delay_ms", delay_ms)?;
        let d = Dialect::of(self.keel.pool()?);
        let statement = format!(
            "UPDATE command_centre_items SET enrichment_status = 'pending', queued_at = {},
                 processing_attempts = processing_attempts - 1, lease_owner = NULL,
                 lease_expires_at = NULL, updated_at = now()
             WHERE {HELD}",
            d.now_plus_ms("$3")
        );
        let binds = Binds(vec![id_bind(id), token(lease_token), wait]);
        Ok(crate::store::bind::execute(self.keel.pool()?, &statement, binds).await? == 1)
    }

    /// Records a failure of `id`: a retryable one with attempts left waits
    /// `retry_delay_ms × 2^(attempt − 1)` (at most an hour; at least `retry_after_ms` when
    /// given) and goes back to its lane; otherwise the item fails for good with `reason` and
    /// is dead-lettered. The item after the change, or `None` when `token` no longer holds
    /// it.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `reason` (empty or over 200 characters) or
    /// `retry_after_ms`; storage errors.
    pub async fn fail(
        &self,
        id: Uuid,
        lease_token: u64,
        reason: &str,
        retryable: bool,
        retry_after_ms: Option<i64>,
    ) -> Result<Option<QueueItem>> {
        short_name_of("reason", reason)?;
        let after = delay("retry_after_ms", retry_after_ms.unwrap_or(0))?;
        let d = Dialect::of(self.keel.pool()?);
        let (least, greatest) = (d.least(), d.greatest());
        let backoff = format!(
            "{greatest}($6::int8, {least}(3600000, $5::int8 * (1::int8 << {least}({greatest}(processing_attempts - 1, 0), 20))))"
        );
        let statement = format!(
            "UPDATE command_centre_items SET
                 enrichment_status = CASE WHEN $4 AND processing_attempts < $3::int8
                                          THEN 'pending' ELSE 'failed' END,
                 queued_at = CASE WHEN $4 AND processing_attempts < $3::int8
                                  THEN {} ELSE queued_at END,
                 failure_reason = $7, lease_owner = NULL, lease_expires_at = NULL,
                 updated_at = now()
             WHERE {HELD}
             RETURNING {{cols}}",
            d.from_epoch_ms(&format!("({} + {backoff})", d.now_ms())),
        );
        let binds = Binds(vec![
            id_bind(id),
            token(lease_token),
            Bind::Int(Some(i64::from(self.options.max_attempts))),
            Bind::Bool(Some(retryable)),
            Bind::Int(Some(self.options.retry_delay_ms as i64)),
            after,
            Bind::Text(Some(reason.to_owned())),
        ]);
        self.settle(&statement, binds)
            .await
            .map(|mut items| items.pop())
    }

    /// Returns items whose lease ran out to their lanes (at most 1,000 per call), and fails
    /// and dead-letters those whose lease ran out on their last attempt.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn sweep(&self) -> Result<SweepReport> {
        let d = Dialect::of(self.keel.pool()?);
        let statement = format!(
            "UPDATE command_centre_items SET
                 enrichment_status = CASE WHEN processing_attempts < $1::int8
                                          THEN 'pending' ELSE 'failed' END,
                 failure_reason = CASE WHEN processing_attempts < $1::int8 THEN failure_reason
                     ELSE 'the lease of ' || coalesce(lease_owner, '?')
                          || ' ran out on the last attempt' END,
                 lease_owner = NULL, lease_expires_at = NULL,
                 lease_token = lease_token + 1, updated_at = now()
             WHERE {}
             RETURNING {{cols}}",
            d.in_rows(
                "id",
                &format!(
                    "SELECT id FROM command_centre_items
                     WHERE enrichment_status = 'processing' AND lease_expires_at <= now()
                     ORDER BY lease_expires_at LIMIT 1000 {}",
                    d.skip_locked()
                )
            )
        );
        let binds = Binds(vec![Bind::Int(Some(i64::from(self.options.max_attempts)))]);
        let items = self.settle(&statement, binds).await?;
        let failed = items
            .iter()
            .filter(|i| i.enrichment_status == super::ItemState::Failed)
            .count() as u64;
        Ok(SweepReport {
            requeued: items.len() as u64 - failed,
            failed,
        })
    }

    /// Runs an outcome `statement` and, in the same transaction, dead-letters the items it
    /// failed; the changed items.
    async fn settle(&self, statement: &str, binds: Binds) -> Result<Vec<QueueItem>> {
        let pool = self.keel.pool()?;
        let d = Dialect::of(pool);
        let statement = statement.replace("{cols}", &super::queue::columns(d));
        let letter = format!(
            "INSERT INTO agent_dead_letters
                 (id, agent_name, trigger_type, trigger_payload, failure_reason, error_kind,
                  org_id, user_id, max_retries, idempotency_key)
             VALUES ($1::uuid, '{DEAD_LETTER_AGENT}', 'queue', {}, $3, 'unknown', $4::uuid,
                     $5::uuid, 3, $6)
             ON CONFLICT (idempotency_key) DO NOTHING",
            d.json("$2")
        );
        let items: Vec<QueueItem> = in_transaction!(pool, None::<&str>, |tx, sql| {
            let rows: Vec<ItemRow> = {
                let text = sql(&statement);
                bind_all!(sqlx::query_as::<_, ItemRow>(&text), binds)
                    .fetch_all(&mut *tx)
                    .await?
            };
            let items: Vec<QueueItem> = rows.into_iter().map(QueueItem::from).collect();
            for item in items
                .iter()
                .filter(|i| i.enrichment_status == super::ItemState::Failed)
            {
                let payload = serde_json::json!({
                    "item_id": item.id,
                    "item_type": item.item_type,
                    "queue_priority": item.queue_priority,
                    "attempts": item.processing_attempts,
                });
                sqlx::query(&sql(&letter))
                    .bind(Uuid::now_v7().to_string())
                    .bind(payload.to_string())
                    .bind(item.failure_reason.clone().unwrap_or_default())
                    .bind(&item.org_id)
                    .bind(&item.user_id)
                    .bind(format!("queue:{}:{}", item.id, item.lease_token))
                    .execute(&mut *tx)
                    .await?;
            }
            Ok::<_, Error>(items)
        })?;
        Ok(items)
    }
}
