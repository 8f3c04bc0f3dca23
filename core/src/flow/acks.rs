//! Completions folded into the next claim: on PostgreSQL one statement completes the items a
//! worker finished (each under its own lease token) and claims its next batch, so a worker
//! that drains the queue pays one round trip per batch (SQLite: two statements).

use uuid::Uuid;

use super::claim::in_claim_order;
use super::item::QueueItem;
use super::queue::{ItemRow, Queue, columns};
use crate::error::Result;
use crate::store::bind::{Bind, bind_all};
use crate::store::{Dialect, Pool, in_transaction, on_pool};

/// What [`Queue::claim_after`] did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Claimed {
    /// The finished items whose token still held their lease, now completed.
    pub completed: Vec<Uuid>,
    /// The next batch.
    pub items: Vec<QueueItem>,
}

impl Queue {
    /// Completes `done` (id and lease token of each finished item) and claims up to `n`
    /// items of `lanes` for `worker`, as [`Queue::complete_all`] then [`Queue::claim`] would,
    /// in one statement on PostgreSQL.
    ///
    /// # Errors
    /// As [`Queue::claim`].
    pub async fn claim_after(
        &self,
        done: &[(Uuid, u64)],
        worker: &str,
        n: u32,
        lanes: Option<&[i64]>,
    ) -> Result<Claimed> {
        let lanes = Self::claim_check(worker, n, lanes)?;
        let pool = self.keel.pool()?;
        if matches!(pool, Pool::Sqlite(_)) || done.is_empty() {
            let completed = self.complete_all(done).await?;
            let items = self.claim_checked(worker, n, &lanes).await?;
            return Ok(Claimed { completed, items });
        }
        let d = Dialect::POSTGRES;
        let (ctes, update) = self.claim_parts(d, &lanes);
        let completion = super::outcome::completion(d, "$7");
        let statement = format!(
            "WITH done AS ({completion}),
             {ctes},
             claimed AS ({update})
             SELECT (SELECT coalesce(json_agg(id), '[]'::json) FROM done)::text,
                    (SELECT coalesce(json_agg(c), '[]'::json) FROM claimed c)::text",
        )
        .replace("{cols}", &columns(d));
        let json: Vec<(String, u64)> = done.iter().map(|(i, t)| (i.to_string(), *t)).collect();
        let more = vec![Bind::Text(Some(serde_json::json!(json).to_string()))];
        let binds = || self.claim_binds(worker, n, more.clone());
        let (completed, items): (String, String) = if self.capped() {
            in_transaction!(pool, Some("keel.queue.claim"), |tx, _sql| {
                bind_all!(sqlx::query_as(&statement), binds())
                    .fetch_one(&mut *tx)
                    .await?
            })
        } else {
            on_pool!(pool, |conn, _sql| {
                bind_all!(sqlx::query_as(&statement), binds())
                    .fetch_one(conn)
                    .await?
            })
        };
        let completed: Vec<Uuid> = serde_json::from_str(&completed).unwrap_or_default();
        let rows: Vec<ItemRow> = serde_json::from_str(&items)
            .map_err(|e| crate::Error::Internal(format!("a claim's rows: {e}")))?;
        Ok(Claimed {
            completed,
            items: in_claim_order(rows),
        })
    }
}
