//! The queue worker: claim, run a handler with bounded concurrency, record the outcome, and
//! stop cleanly. [`WorkerSession`] holds every decision (how many to claim, when to wait,
//! batching completions into the next claim, keeping leases alive, what a handler's answer
//! means); [`QueueWorker`] drives it on tokio, and the Python and Node workers drive the same
//! session on their own event loops.

use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Notify;
use uuid::Uuid;

use super::item::QueueItem;
use super::queue::{Queue, short_name_of};
use crate::error::{Error, Result};
use crate::options::default_worker_id;

/// How a worker runs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerOptions {
    /// Its name in `lease_owner` (default: host, process id and a random suffix).
    pub worker_id: Option<String>,
    /// Handlers running at once (default 5, the original's).
    pub concurrency: u32,
    /// Items claimed at once, at most the free slots (default: `concurrency`).
    pub batch: Option<u32>,
    /// Only these lanes (default: all).
    pub lanes: Option<Vec<i64>>,
    /// How long to wait when nothing is due (default 500 ms).
    pub poll_ms: u64,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            worker_id: None,
            concurrency: 5,
            batch: None,
            lanes: None,
            poll_ms: 500,
        }
    }
}

/// What a handler's answer means for its item.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Done; keep the value (unless null) as the item's enrichment.
    Done(Value),
    /// Put back for this many milliseconds without spending an attempt (rate-limited).
    Defer(i64),
    /// Failed: retried after a backoff when `retryable` and attempts remain.
    Fail {
        /// Why.
        reason: String,
        /// Whether a retry could succeed.
        retryable: bool,
    },
}

impl Outcome {
    /// A handler's return value: `{"defer_ms": n}` (`deferMs` in JavaScript's `case`)
    /// defers, `{"fail": reason}` (with `"retryable": false` for a failure retrying cannot
    /// fix) fails, anything else is done.
    pub fn of_value(value: Value, case: crate::options::Case) -> Self {
        if let Some(ms) = value.get(case.spell("defer_ms")).and_then(Value::as_i64) {
            return Outcome::Defer(ms);
        }
        if let Some(reason) = value.get("fail").and_then(Value::as_str) {
            let retryable = value.get("retryable").and_then(Value::as_bool) != Some(false);
            return Outcome::Fail {
                reason: Self::reason(reason),
                retryable,
            };
        }
        Outcome::Done(value)
    }

    /// A handler that raised or threw: a retryable failure with its message (cut to 200
    /// characters).
    pub fn of_error(message: &str) -> Self {
        Outcome::Fail {
            reason: Self::reason(message),
            retryable: true,
        }
    }

    /// A failure's reason as the queue stores it: at most 200 characters, never blank (a
    /// handler's answer never stops the worker with a bad reason).
    fn reason(message: &str) -> String {
        let reason: String = message.trim().chars().take(200).collect();
        if reason.is_empty() {
            "the handler failed".into()
        } else {
            reason
        }
    }
}

/// What a worker did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct WorkerReport {
    /// Items claimed.
    pub claimed: u64,
    /// Completed.
    pub completed: u64,
    /// Deferred.
    pub deferred: u64,
    /// Failed (retrying or for good).
    pub failed: u64,
    /// Whose lease was lost before the outcome was recorded.
    pub lost: u64,
}

#[derive(Debug, Default)]
struct State {
    in_flight: Vec<(Uuid, u64)>,
    acks: Vec<(Uuid, u64)>,
    others: Vec<(Uuid, u64, Outcome)>,
    report: WorkerReport,
    stopping: bool,
    /// When the running items' leases are next extended (kept across calls of `next`, which
    /// a busy worker makes more often than a heartbeat's period).
    beat: Option<tokio::time::Instant>,
}

/// One worker's decisions, driven by a loop that runs the handlers.
#[derive(Debug)]
pub struct WorkerSession {
    queue: Queue,
    options: WorkerOptions,
    id: String,
    state: Mutex<State>,
    wake: Notify,
    /// On PostgreSQL, the enqueues' notifications (listening starts with the first wait;
    /// without it, through a transaction pooler, the worker polls).
    listener: tokio::sync::Mutex<Listening>,
}

/// Whether a session listens for enqueues.
#[derive(Debug, Default)]
enum Listening {
    /// Not tried yet.
    #[default]
    Untried,
    /// Listening.
    On(Box<sqlx::postgres::PgListener>),
    /// Not possible (SQLite, or the connection refused): polling only.
    Off,
}

impl WorkerSession {
    /// A session over `queue` with `options`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the option out of range.
    pub fn new(queue: Queue, options: WorkerOptions) -> Result<Self> {
        if let Some(id) = &options.worker_id {
            short_name_of("worker_id", id)?;
        }
        if !(1..=1_000).contains(&options.concurrency) {
            return Err(Error::invalid_input("concurrency", "must be 1 to 1000"));
        }
        if options.batch.is_some_and(|b| !(1..=1_000).contains(&b)) {
            return Err(Error::invalid_input("batch", "must be 1 to 1000"));
        }
        if !(1..=60_000).contains(&options.poll_ms) {
            return Err(Error::invalid_input("poll_ms", "must be 1 to 60000"));
        }
        if let Some(lanes) = &options.lanes {
            for (i, &lane) in lanes.iter().enumerate() {
                super::check_lane(&format!("lanes[{i}]"), lane)?;
            }
        }
        Ok(WorkerSession {
            id: options.worker_id.clone().unwrap_or_else(default_worker_id),
            queue,
            options,
            state: Mutex::new(State::default()),
            wake: Notify::new(),
            listener: tokio::sync::Mutex::new(Listening::Untried),
        })
    }

    /// The name it leases under.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records what the handler of the claimed item `id` answered; its slot is free at once,
    /// the outcome is written by the next [`WorkerSession::next`] (completions together).
    pub fn settle(&self, id: Uuid, lease_token: u64, outcome: Outcome) {
        let mut state = self.state();
        state.in_flight.retain(|(i, _)| *i != id);
        match outcome {
            Outcome::Done(Value::Null) => state.acks.push((id, lease_token)),
            other => state.others.push((id, lease_token, other)),
        }
        drop(state);
        self.wake.notify_one();
    }

    /// Stops claiming; [`WorkerSession::next`] returns `None` once the running items are
    /// settled and recorded.
    pub fn stop(&self) {
        self.state().stopping = true;
        self.wake.notify_one();
    }

    /// What it did so far.
    pub fn report(&self) -> WorkerReport {
        self.state().report
    }

    /// Counts the completions of `acks` that `completed` holds.
    fn acked(&self, acks: usize, completed: usize) {
        let mut state = self.state();
        state.report.completed += completed as u64;
        state.report.lost += acks.saturating_sub(completed) as u64;
    }

    /// Writes the settled outcomes other than plain completions (which go with the next
    /// claim), one statement each; with `acks`, the completions too, in one statement.
    async fn flush(&self, acks: bool) -> Result<()> {
        let (acks, others) = {
            let mut state = self.state();
            let acks = if acks {
                std::mem::take(&mut state.acks)
            } else {
                Vec::new()
            };
            (acks, std::mem::take(&mut state.others))
        };
        let mut report = WorkerReport::default();
        if !acks.is_empty() {
            let done = self.queue.complete_all(&acks).await?.len();
            self.acked(acks.len(), done);
        }
        for (id, token, outcome) in others {
            let held = match outcome {
                Outcome::Done(value) => {
                    report.completed += 1;
                    self.queue.complete(id, token, Some(&value)).await?
                }
                Outcome::Defer(ms) => {
                    report.deferred += 1;
                    self.queue
                        .defer(id, token, ms.clamp(0, super::MAX_DELAY_MS as i64))
                        .await?
                }
                Outcome::Fail { reason, retryable } => {
                    report.failed += 1;
                    self.queue
                        .fail(id, token, &Outcome::reason(&reason), retryable, None)
                        .await?
                        .is_some()
                }
            };
            if !held {
                report.lost += 1;
            }
        }
        let mut state = self.state();
        state.report.completed += report.completed;
        state.report.deferred += report.deferred;
        state.report.failed += report.failed;
        state.report.lost += report.lost;
        Ok(())
    }

    /// Starts listening for enqueues on PostgreSQL.
    async fn listen(&self) -> Listening {
        let Ok(crate::store::Pool::Postgres(pg)) = self.queue.keel.pool() else {
            return Listening::Off;
        };
        let listening = async {
            let mut listener = sqlx::postgres::PgListener::connect_with(pg).await?;
            listener.listen(super::queue::WAKE_CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        match listening.await {
            Ok(listener) => Listening::On(Box::new(listener)),
            Err(_) => Listening::Off,
        }
    }

    /// Extends the leases of the running items; every third of the lease.
    async fn heartbeat(&self) -> Result<()> {
        let running = self.state().in_flight.clone();
        for (id, token) in running {
            self.queue.extend(id, token, None).await?;
        }
        Ok(())
    }

    /// The next items to run: writes the settled outcomes, then claims up to the free slots
    /// (waiting while none is free or nothing is due, extending running leases meanwhile).
    /// `None` when stopped and every running item is settled and recorded.
    ///
    /// # Errors
    /// Storage errors of the claim or of recording outcomes.
    pub async fn next(&self) -> Result<Option<Vec<QueueItem>>> {
        let every =
            Duration::from_millis(self.queue.options().lease_ms / 3).max(Duration::from_millis(1));
        loop {
            let beat = *self
                .state()
                .beat
                .get_or_insert_with(|| tokio::time::Instant::now() + every);
            if tokio::time::Instant::now() >= beat {
                self.heartbeat().await?;
                self.state().beat = Some(tokio::time::Instant::now() + every);
                continue;
            }
            self.flush(false).await?;
            let (free, stopping, running) = {
                let s = self.state();
                let free = self.options.concurrency as usize
                    - s.in_flight.len().min(self.options.concurrency as usize);
                (free, s.stopping, s.in_flight.len())
            };
            if stopping {
                self.flush(true).await?;
                if running == 0 && self.state().others.is_empty() {
                    // Done: the listening connection goes back to its pool now.
                    *self.listener.lock().await = Listening::Off;
                    return Ok(None);
                }
            } else if free > 0 {
                let n = self.options.batch.map_or(free, |b| (b as usize).min(free));
                // The finished items are completed by the claim's own statement.
                let acks = std::mem::take(&mut self.state().acks);
                let claimed = match self
                    .queue
                    .claim_after(&acks, &self.id, n as u32, self.options.lanes.as_deref())
                    .await
                {
                    Ok(claimed) => claimed,
                    Err(err) => {
                        // Nothing was written: the completions wait for the next try.
                        self.state().acks.extend(acks);
                        return Err(err);
                    }
                };
                self.acked(acks.len(), claimed.completed.len());
                let items = claimed.items;
                if !items.is_empty() {
                    let mut s = self.state();
                    s.report.claimed += items.len() as u64;
                    s.in_flight
                        .extend(items.iter().map(|i| (i.id, i.lease_token)));
                    return Ok(Some(items));
                }
            }
            // Nothing to hand out: wait for a settled item, a stop, an enqueue, the poll or a
            // heartbeat.
            let poll = Duration::from_millis(self.options.poll_ms);
            let mut listening = self.listener.lock().await;
            if matches!(*listening, Listening::Untried) {
                *listening = self.listen().await;
            }
            let enqueued = async {
                match &mut *listening {
                    Listening::On(listener) => {
                        if listener.recv().await.is_err() {
                            // A broken connection: back to polling until the next wait.
                            std::future::pending::<()>().await;
                        }
                    }
                    _ => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = self.wake.notified() => {}
                () = enqueued => {}
                () = tokio::time::sleep(poll) => {}
                () = tokio::time::sleep_until(beat) => {}
            }
            drop(listening);
        }
    }
}

impl Drop for WorkerSession {
    /// The listening connection goes back to its pool on the handle's runtime: a session may
    /// be dropped on a thread without one (a binding's object collected by its engine), and a
    /// pooled connection needs a runtime to drop.
    fn drop(&mut self) {
        let listening = std::mem::take(self.listener.get_mut());
        if let Listening::On(listener) = listening {
            self.queue
                .keel
                .runtime()
                .spawn(async move { drop(listener) });
        }
    }
}

/// What [`QueueWorker::run`]'s handler returns.
pub type HandlerResult = std::result::Result<Value, String>;

/// A worker over a queue, on tokio.
#[derive(Debug)]
pub struct QueueWorker {
    session: std::sync::Arc<WorkerSession>,
}

impl QueueWorker {
    /// A worker over `queue` with `options`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the option out of range.
    pub fn new(queue: Queue, options: WorkerOptions) -> Result<Self> {
        Ok(QueueWorker {
            session: std::sync::Arc::new(WorkerSession::new(queue, options)?),
        })
    }

    /// Runs `handler` on claimed items until `stop` completes, then finishes the running
    /// items, records every outcome and returns what it did. A handler's `Ok` value is read
    /// by [`Outcome::of_value`]; an `Err` is a retryable failure.
    ///
    /// # Errors
    /// Storage errors (running handlers are finished first).
    pub async fn run<H, Fut>(
        &self,
        handler: H,
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<WorkerReport>
    where
        H: Fn(QueueItem) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = HandlerResult> + Send + 'static,
    {
        let handler = std::sync::Arc::new(handler);
        let session = self.session.clone();
        // A stop only flags the session: a claim under way is never dropped half done.
        let stopper = async move {
            stop.await;
            session.stop();
            std::future::pending::<()>().await;
        };
        let work = async {
            let mut tasks = tokio::task::JoinSet::new();
            loop {
                let items = match self.session.next().await {
                    Ok(Some(items)) => items,
                    Ok(None) => return Ok(self.session.report()),
                    Err(err) => {
                        self.session.stop();
                        while tasks.join_next().await.is_some() {}
                        let _ = self.session.next().await;
                        return Err(err);
                    }
                };
                for item in items {
                    let (session, handler) = (self.session.clone(), handler.clone());
                    tasks.spawn(async move {
                        let (id, token) = (item.id, item.lease_token);
                        let ran = std::panic::AssertUnwindSafe(handler(item));
                        let outcome = match futures_util::FutureExt::catch_unwind(ran).await {
                            Ok(Ok(value)) => Outcome::of_value(value, crate::options::Case::Snake),
                            Ok(Err(message)) => Outcome::of_error(&message),
                            Err(_) => Outcome::of_error("the handler panicked"),
                        };
                        session.settle(id, token, outcome);
                    });
                }
                while tasks.try_join_next().is_some() {}
            }
        };
        tokio::select! {
            () = stopper => unreachable!("the stopper never finishes"),
            report = work => report,
        }
    }

    /// The session it drives.
    pub fn session(&self) -> &WorkerSession {
        &self.session
    }
}

#[cfg(test)]
mod tests {
    use super::Outcome;
    use crate::options::Case;
    use serde_json::json;

    #[test]
    fn a_handlers_answer_is_read_in_its_languages_spelling() {
        assert_eq!(
            Outcome::of_value(json!({"defer_ms": 5}), Case::Snake),
            Outcome::Defer(5)
        );
        assert_eq!(
            Outcome::of_value(json!({"deferMs": 5}), Case::Camel),
            Outcome::Defer(5)
        );
        assert_eq!(
            Outcome::of_value(json!({"deferMs": 5}), Case::Snake),
            Outcome::Done(json!({"deferMs": 5}))
        );
        assert_eq!(
            Outcome::of_value(json!({"fail": "no deal", "retryable": false}), Case::Snake),
            Outcome::Fail {
                reason: "no deal".into(),
                retryable: false
            }
        );
    }

    #[test]
    fn a_reason_is_never_blank_nor_over_200_characters() {
        let long = "x".repeat(500);
        let Outcome::Fail { reason, retryable } =
            Outcome::of_value(json!({"fail": long}), Case::Snake)
        else {
            panic!("a failure")
        };
        assert_eq!((reason.len(), retryable), (200, true));
        assert_eq!(
            Outcome::of_error("   "),
            Outcome::Fail {
                reason: "the handler failed".into(),
                retryable: true
            }
        );
    }
}
