//! Leasing dead letters: a worker's claim, heartbeat, completion and failure, each one
//! fenced statement; and the operator's retry, redrive, resolve and abandon.

use std::time::Duration;

use uuid::Uuid;

use super::classify::ErrorKind;
use super::letter::{Claim, Claimed, DeadLetter, LetterStatus, MAX_WAIT_MS, clip, name};
use super::letters::{DeadLetters, not_in};
use crate::error::Result;
use crate::store::Dialect;
use crate::store::bind::{Bind, Binds};

/// A wait in milliseconds, at most [`MAX_WAIT_MS`], as bound.
fn millis(d: Duration) -> Option<i64> {
    Some(i64::try_from(d.as_millis().min(u128::from(MAX_WAIT_MS))).unwrap_or(i64::MAX))
}

fn text(v: impl Into<String>) -> Bind {
    Bind::Text(Some(v.into()))
}

/// What a failed retry leaves in the history, besides the time.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryFailure {
    /// Its kind.
    pub kind: ErrorKind,
    /// What went wrong.
    pub message: String,
    /// The HTTP status, when a reply failed.
    pub status: Option<u16>,
    /// Abandon now with this reason instead of retrying (a failure retrying cannot fix).
    pub abandon: Option<String>,
}

impl DeadLetters {
    /// The history entry of a lease that ran out, built in SQL from the row.
    fn expired_entry(dialect: Dialect) -> String {
        dialect.json_object(&[
            ("at", dialect.now_text()),
            ("kind", "'timeout'"),
            (
                "message",
                "'the lease of ' || coalesce(locked_by, '?') || ' ran out'",
            ),
            ("attempt", "retry_count"),
            ("worker", "locked_by"),
        ])
    }

    /// Leases due letters of `agents` (all agents when `None`) to `worker` for `lease`, in one
    /// statement: up to `batch` pending letters whose retry is due (oldest first), and up to
    /// `batch` letters whose lease ran out (their history records it), each read through its
    /// own partial index. Each claim counts a retry and raises the fencing
    /// token. A letter whose lease ran out on its last retry is abandoned instead (`the lease
    /// ran out on the last retry`), never dropped: it comes back in [`Claim::abandoned`].
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] on `worker` (empty or over 200 characters) or `batch`
    /// (0 or over 1,000); storage errors.
    pub async fn claim(
        &self,
        worker: &str,
        agents: Option<&[String]>,
        batch: u32,
        lease: Duration,
    ) -> Result<Claim> {
        name("worker", worker)?;
        if !(1..=1_000).contains(&batch) {
            return Err(crate::Error::invalid_input("batch", "must be 1 to 1000"));
        }
        let dialect = Dialect::of(self.keel.pool()?);
        let spent = "status <> 'pending' AND retry_count >= max_retries";
        let claim = format!(
            "WITH due AS MATERIALIZED (
                 SELECT id FROM agent_dead_letters
                 WHERE status = 'pending' AND {} AND ($4::text IS NULL OR agent_name IN ({agents}))
                 ORDER BY next_retry_at LIMIT $2 {lock}),
             expired AS MATERIALIZED (
                 SELECT id FROM agent_dead_letters
                 WHERE status IN ('retrying', 'accepted') AND {}
                   AND ($4::text IS NULL OR agent_name IN ({agents}))
                 ORDER BY locked_until LIMIT $2 {lock})
             UPDATE agent_dead_letters SET
                 error_history = CASE WHEN status = 'pending' THEN error_history ELSE {} END,
                 abandoned_reason = CASE WHEN {spent}
                     THEN 'the lease ran out on the last retry' ELSE abandoned_reason END,
                 locked_by = CASE WHEN {spent} THEN NULL ELSE $1 END,
                 locked_until = CASE WHEN {spent} THEN NULL ELSE {} END,
                 retry_count = CASE WHEN {spent} THEN retry_count ELSE retry_count + 1 END,
                 status = CASE WHEN {spent} THEN 'abandoned' ELSE 'retrying' END,
                 fencing_token = fencing_token + 1, updated_at = now()
             WHERE id IN (SELECT id FROM due UNION ALL SELECT id FROM expired)
             RETURNING {{cols}}",
            dialect.is_past("next_retry_at"),
            dialect.is_past("locked_until"),
            dialect.json_push("error_history", &Self::expired_entry(dialect)),
            dialect.now_plus_ms("$3"),
            agents = dialect.json_strings("$4"),
            lock = dialect.skip_locked(),
        );
        let binds = Binds(vec![
            text(worker),
            Bind::Int(Some(i64::from(batch))),
            Bind::Int(millis(lease)),
            Bind::Text(agents.map(|a| serde_json::json!(a).to_string())),
        ]);
        let mut letters = self.letters(&claim, binds).await?;
        letters.sort_by(|a, b| a.next_retry_at.cmp(&b.next_retry_at));
        let (abandoned, leased): (Vec<DeadLetter>, Vec<DeadLetter>) = letters
            .into_iter()
            .partition(|l| l.status == LetterStatus::Abandoned);
        let leased = leased
            .into_iter()
            .map(|letter| Claimed {
                token: letter.fencing_token,
                letter,
            })
            .collect();
        Ok(Claim { leased, abandoned })
    }

    /// Resolves the letters of `leases` (id and token) in one statement; the ids whose token
    /// still held the lease.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn complete_all(&self, leases: &[(Uuid, u64)]) -> Result<Vec<Uuid>> {
        if leases.is_empty() {
            return Ok(Vec::new());
        }
        let dialect = Dialect::of(self.keel.pool()?);
        let pairs = dialect.json_pairs("$1");
        let statement = format!(
            "UPDATE agent_dead_letters SET status = 'resolved', resolved_at = now(),
                 locked_by = NULL, locked_until = NULL, updated_at = now()
             WHERE id IN (SELECT a::uuid FROM ({pairs}) AS p)
               AND status IN ('retrying', 'accepted')
               AND fencing_token = (SELECT b::int8 FROM ({pairs}) AS p
                                    WHERE a::uuid = agent_dead_letters.id)
             RETURNING id::text"
        );
        let json: Vec<(String, u64)> = leases.iter().map(|(id, t)| (id.to_string(), *t)).collect();
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

    /// Runs a statement on the letter `id` under `token`; true when it still held the lease.
    async fn fenced(&self, statement: &str, id: Uuid, token: u64, more: Vec<Bind>) -> Result<bool> {
        let mut binds = vec![
            text(id.to_string()),
            Bind::Int(Some(i64::try_from(token).unwrap_or(i64::MAX))),
        ];
        binds.extend(more);
        Ok(self.execute(statement, Binds(binds)).await? == 1)
    }

    /// Extends the lease of `id` by `lease` from now; false when `token` no longer holds it.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn extend(&self, id: Uuid, token: u64, lease: Duration) -> Result<bool> {
        let dialect = Dialect::of(self.keel.pool()?);
        let statement = format!(
            "UPDATE agent_dead_letters SET locked_until = {}, updated_at = now()
             WHERE id = $1::uuid AND fencing_token = $2 AND status = 'retrying'",
            dialect.now_plus_ms("$3")
        );
        self.fenced(&statement, id, token, vec![Bind::Int(millis(lease))])
            .await
    }

    /// Resolves `id`; false when `token` no longer holds it.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn complete(&self, id: Uuid, token: u64) -> Result<bool> {
        let statement = "UPDATE agent_dead_letters SET status = 'resolved', resolved_at = now(),
                 locked_by = NULL, locked_until = NULL, updated_at = now()
             WHERE id = $1::uuid AND fencing_token = $2 AND status IN ('retrying', 'accepted')";
        self.fenced(statement, id, token, Vec::new()).await
    }

    /// Marks `id` accepted by an asynchronous handler: resolved by [`DeadLetters::resolve`],
    /// or leased again after `wait`. False when `token` no longer holds it.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn accept(&self, id: Uuid, token: u64, wait: Duration) -> Result<bool> {
        let dialect = Dialect::of(self.keel.pool()?);
        let statement = format!(
            "UPDATE agent_dead_letters SET status = 'accepted', locked_until = {},
                 updated_at = now()
             WHERE id = $1::uuid AND fencing_token = $2 AND status = 'retrying'",
            dialect.now_plus_ms("$3")
        );
        self.fenced(&statement, id, token, vec![Bind::Int(millis(wait))])
            .await
    }

    /// Records a failed retry of `id`: the letter waits `delay_ms` (at most 30 days) for its
    /// next retry, or is
    /// abandoned when its retries are spent (or the failure says so). Returns the letter, or
    /// `None` when `token` no longer holds it.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn fail(
        &self,
        id: Uuid,
        token: u64,
        worker: &str,
        failure: &RetryFailure,
        delay_ms: u64,
    ) -> Result<Option<DeadLetter>> {
        let dialect = Dialect::of(self.keel.pool()?);
        let entry = dialect.json_object(&[
            ("at", dialect.now_text()),
            ("kind", "$3"),
            ("message", "$4"),
            ("status", "$5::int8"),
            ("attempt", "retry_count"),
            ("worker", "$6"),
        ]);
        let statement = format!(
            "UPDATE agent_dead_letters SET
                 status = CASE WHEN $7::text IS NOT NULL OR retry_count >= max_retries
                               THEN 'abandoned' ELSE 'pending' END,
                 abandoned_reason = CASE
                     WHEN $7::text IS NOT NULL THEN $7
                     WHEN retry_count >= max_retries
                         THEN 'retries exhausted (' || retry_count || ' of ' || max_retries || ')'
                     ELSE NULL END,
                 next_retry_at = {}, locked_by = NULL, locked_until = NULL,
                 failure_reason = $4, error_kind = $3, error_history = {},
                 updated_at = now()
             WHERE id = $1::uuid AND fencing_token = $2 AND status IN ('retrying', 'accepted')
             RETURNING {{cols}}",
            dialect.now_plus_ms("$8"),
            dialect.json_push("error_history", &entry),
        );
        let binds = Binds(vec![
            text(id.to_string()),
            Bind::Int(Some(i64::try_from(token).unwrap_or(i64::MAX))),
            text(failure.kind.as_str()),
            text(clip(&failure.message)),
            Bind::Int(failure.status.map(i64::from)),
            text(worker),
            Bind::Text(failure.abandon.clone()),
            Bind::Int(millis(Duration::from_millis(delay_ms.min(MAX_WAIT_MS)))),
        ]);
        Ok(self.letters(&statement, binds).await?.into_iter().next())
    }

    /// Runs an operator's change on one letter in `states`; the changed letter.
    async fn operate(
        &self,
        set: &str,
        id: Uuid,
        states: &str,
        more: Vec<Bind>,
    ) -> Result<DeadLetter> {
        let list: Vec<String> = states.split(' ').map(|s| format!("'{s}'")).collect();
        let statement = format!(
            "UPDATE agent_dead_letters SET {set}, updated_at = now()
             WHERE id = $1::uuid AND status IN ({}) RETURNING {{cols}}",
            list.join(", ")
        );
        let mut binds = vec![text(id.to_string())];
        binds.extend(more);
        self.letters(&statement, Binds(binds))
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| not_in(id, &states.replace(' ', " or ")))
    }

    /// Makes the pending letter `id` due now.
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] on `id` when no pending letter has it; storage errors.
    pub async fn retry(&self, id: Uuid) -> Result<DeadLetter> {
        self.operate("next_retry_at = now()", id, "pending", Vec::new())
            .await
    }

    /// Brings the abandoned letter `id` back: pending, due now, its retries counted from zero
    /// (its history kept).
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] on `id` when no abandoned letter has it; storage errors.
    pub async fn redrive(&self, id: Uuid) -> Result<DeadLetter> {
        let set = "status = 'pending', retry_count = 0, abandoned_reason = NULL,
                   next_retry_at = now(), fencing_token = fencing_token + 1";
        self.operate(set, id, "abandoned", Vec::new()).await
    }

    /// Resolves the open letter `id` (an asynchronous handler's completion call); a worker
    /// still holding it can no longer change it.
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] on `id` when no open letter has it; storage errors.
    pub async fn resolve(&self, id: Uuid) -> Result<DeadLetter> {
        let set = "status = 'resolved', resolved_at = now(), locked_by = NULL,
                   locked_until = NULL, fencing_token = fencing_token + 1";
        self.operate(set, id, "pending retrying accepted", Vec::new())
            .await
    }

    /// Abandons the open letter `id` with `reason`.
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] on `reason` (empty or over 200 characters) or on `id`
    /// when no open letter has it; storage errors.
    pub async fn abandon(&self, id: Uuid, reason: &str) -> Result<DeadLetter> {
        name("reason", reason)?;
        let set = "status = 'abandoned', abandoned_reason = $2, locked_by = NULL,
                   locked_until = NULL, fencing_token = fencing_token + 1";
        self.operate(set, id, "pending retrying accepted", vec![text(reason)])
            .await
    }

    /// Deletes letters resolved more than `days` days ago, 1,000 at a time; how many. Open
    /// and abandoned letters are never deleted.
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] on `days` (0 or over 3,650); storage errors.
    pub async fn purge(&self, days: u32) -> Result<u64> {
        if !(1..=3_650).contains(&days) {
            return Err(crate::Error::invalid_input("days", "must be 1 to 3650"));
        }
        let dialect = Dialect::of(self.keel.pool()?);
        let statement = format!(
            "DELETE FROM agent_dead_letters WHERE id IN (
                 SELECT id FROM agent_dead_letters
                 WHERE status = 'resolved' AND {} LIMIT 1000)",
            dialect.older_than_ms("resolved_at", "$1")
        );
        let age = Bind::Int(Some(i64::from(days) * 86_400_000));
        let mut total = 0;
        loop {
            let deleted = self.execute(&statement, Binds(vec![age.clone()])).await?;
            total += deleted;
            if deleted < 1_000 {
                return Ok(total);
            }
        }
    }
}
