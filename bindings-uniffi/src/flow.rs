//! `Keel.queue`, `Queue` and its `WorkerSession`, `LocalLimiter`, `Keel.sharedLimiter`,
//! `SharedLimiter` and `rateLimitDecide` (core: `keel::flow`, whose `call_value` and `*_value`
//! calls read the arguments and own every default and check). Items, options and results are
//! JSON text in Node's camelCase shapes (`NewItem`, `QueueItem`, `Lease`, `ClaimOptions`,
//! `Claimed`, `Batch`, `SweepReport`, `QueueHealth`, `Limit`, `Acquisition`, `Decision`); the
//! Kotlin `Queue.work` (Queues.kt) drives a session.

use std::sync::Arc;

use keel::flow;
use keel::options::Case::Camel;
use serde_json::Value;

use crate::error::KeelError;
use crate::json::{args, call, call_text, nullable, record, required, value};
use crate::runtime::{run, within};
use crate::store::Keel;

/// The Command Centre queue; make it with `keel.queue(optionsJson)`.
#[derive(uniffi::Object)]
pub struct Queue {
    inner: flow::Queue,
}

#[uniffi::export]
impl Keel {
    /// The queue with `optionsJson` (Node's `QueueOptions`: lease, attempts, aging, caps,
    /// shedding; every default is core's).
    ///
    /// # Errors
    /// `invalid_input` naming the option out of range.
    #[uniffi::method(default(options_json = None))]
    pub fn queue(&self, options_json: Option<String>) -> Result<Arc<Queue>, KeelError> {
        let options = value(options_json.as_deref(), "options")?;
        let inner = within(|| flow::Queue::open_value(&self.inner, options, Camel, "options"))?;
        Ok(Arc::new(Queue { inner }))
    }

    /// Rate limits shared through the database.
    pub fn shared_limiter(&self) -> Arc<SharedLimiter> {
        Arc::new(SharedLimiter {
            inner: flow::SharedLimiter::open(&self.inner),
        })
    }
}

impl Queue {
    /// `claim` or `claim_batch` (`op`) for `worker` with `optionsJson`: the answer as JSON.
    async fn claiming(
        &self,
        op: &'static str,
        worker: String,
        options_json: Option<String>,
    ) -> Result<String, KeelError> {
        let args = move || args(vec![("worker", worker.into())], options_json.as_deref());
        Ok(call(&self.inner, op, args).await?.to_string())
    }

    /// A fenced change's answer (`true`: the token held the lease).
    async fn held(
        &self,
        op: &'static str,
        args: impl FnOnce() -> keel::Result<Value> + Send + 'static,
    ) -> Result<bool, KeelError> {
        Ok(call(&self.inner, op, args).await?.as_bool() == Some(true))
    }
}

#[uniffi::export]
impl Queue {
    /// Enqueues `itemsJson` (a `NewItem[]`): their ids, as JSON.
    ///
    /// # Errors
    /// `invalid_input` naming the item's field (`items[3].queuePriority`); `overloaded` for
    /// a low-lane enqueue while the queue sheds load.
    pub async fn enqueue(&self, items_json: String) -> Result<String, KeelError> {
        let args = move || args(vec![("items", required(&items_json, "items")?)], None);
        Ok(call(&self.inner, "enqueue", args).await?.to_string())
    }

    /// Leases up to `n` (default 10) waiting items of `lanes` to `worker`: a `QueueItem[]`.
    ///
    /// # Errors
    /// `invalid_input` naming the option.
    #[uniffi::method(default(options_json = None))]
    pub async fn claim(
        &self,
        worker: String,
        options_json: Option<String>,
    ) -> Result<String, KeelError> {
        self.claiming("claim", worker, options_json).await
    }

    /// Completes `doneJson` (a `Lease[]`) and claims the next batch, in one statement on
    /// PostgreSQL: a `Claimed` (`completed` ids, `items`).
    ///
    /// # Errors
    /// As `claim`.
    #[uniffi::method(default(options_json = None))]
    pub async fn claim_after(
        &self,
        done_json: String,
        worker: String,
        options_json: Option<String>,
    ) -> Result<String, KeelError> {
        let args = move || {
            let done = required(&done_json, "done")?;
            args(
                vec![("done", done), ("worker", worker.into())],
                options_json.as_deref(),
            )
        };
        Ok(call(&self.inner, "claim_after", args).await?.to_string())
    }

    /// `claim`, grouped by deal and contact within the fan-in bounds: a `Batch`.
    ///
    /// # Errors
    /// As `claim`.
    #[uniffi::method(default(options_json = None))]
    pub async fn claim_batch(
        &self,
        worker: String,
        options_json: Option<String>,
    ) -> Result<String, KeelError> {
        self.claiming("claim_batch", worker, options_json).await
    }

    /// Completes a claimed item, keeping `context` of `optionsJson` as its enrichment: false
    /// when the token no longer holds it.
    ///
    /// # Errors
    /// `invalid_input` for an id that is not a UUID.
    #[uniffi::method(default(options_json = None))]
    pub async fn complete(
        &self,
        id: String,
        lease_token: u64,
        options_json: Option<String>,
    ) -> Result<bool, KeelError> {
        let named = vec![("id", id.into()), ("leaseToken", lease_token.into())];
        let args = move || args(named, options_json.as_deref());
        self.held("complete", args).await
    }

    /// Completes many claimed items (`leasesJson`, a `Lease[]`) in one statement: the ids
    /// whose token held, as JSON.
    ///
    /// # Errors
    /// `invalid_input` naming the lease at fault.
    pub async fn complete_all(&self, leases_json: String) -> Result<String, KeelError> {
        let args = move || args(vec![("leases", required(&leases_json, "leases")?)], None);
        Ok(call(&self.inner, "complete_all", args).await?.to_string())
    }

    /// Records a failure with its `reason` (`optionsJson`: `retryable`, default true;
    /// `retryAfterMs`): the item after it, or null when the token no longer holds it.
    ///
    /// # Errors
    /// `invalid_input` naming the argument.
    #[uniffi::method(default(options_json = None))]
    pub async fn fail(
        &self,
        id: String,
        lease_token: u64,
        reason: String,
        options_json: Option<String>,
    ) -> Result<Option<String>, KeelError> {
        let named = vec![
            ("id", id.into()),
            ("leaseToken", lease_token.into()),
            ("reason", reason.into()),
        ];
        let args = move || args(named, options_json.as_deref());
        Ok(nullable(call(&self.inner, "fail", args).await?))
    }

    /// Puts a claimed item back for `delayMs` without spending an attempt: false when the
    /// token no longer holds it.
    ///
    /// # Errors
    /// `invalid_input` for a negative or too long delay.
    pub async fn defer(
        &self,
        id: String,
        lease_token: u64,
        delay_ms: i64,
    ) -> Result<bool, KeelError> {
        let named = vec![
            ("id", id.into()),
            ("leaseToken", lease_token.into()),
            ("delayMs", delay_ms.into()),
        ];
        self.held("defer", move || args(named, None)).await
    }

    /// Extends a claimed item's lease (`leaseMs` of `optionsJson`, default the queue's):
    /// false when the token no longer holds it.
    ///
    /// # Errors
    /// `invalid_input` naming the argument.
    #[uniffi::method(default(options_json = None))]
    pub async fn extend(
        &self,
        id: String,
        lease_token: u64,
        options_json: Option<String>,
    ) -> Result<bool, KeelError> {
        let named = vec![("id", id.into()), ("leaseToken", lease_token.into())];
        let args = move || args(named, options_json.as_deref());
        self.held("extend", args).await
    }

    /// Returns expired leases to their lanes and fails the last attempts: a `SweepReport`.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn sweep(&self) -> Result<String, KeelError> {
        Ok(call(&self.inner, "sweep", || args(vec![], None))
            .await?
            .to_string())
    }

    /// The backlog per lane, the oldest wait, the last minute's rates and the mode: a
    /// `QueueHealth`.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn health(&self) -> Result<String, KeelError> {
        call_text(&self.inner, "health", || args(vec![], None)).await
    }

    /// The item, or null.
    ///
    /// # Errors
    /// `invalid_input` for an id that is not a UUID.
    pub async fn get(&self, id: String) -> Result<Option<String>, KeelError> {
        let args = move || args(vec![("id", id.into())], None);
        Ok(nullable(call(&self.inner, "get", args).await?))
    }

    /// A worker session (what `Queue.work` drives): `optionsJson` is Node's
    /// `QueueWorkerOptions` (concurrency, batch, lanes, poll, worker id).
    ///
    /// # Errors
    /// `invalid_input` naming the option out of range.
    #[uniffi::method(default(options_json = None))]
    pub fn session(&self, options_json: Option<String>) -> Result<Arc<WorkerSession>, KeelError> {
        let options = value(options_json.as_deref(), "options")?;
        let queue = self.inner.clone();
        let inner = within(|| flow::WorkerSession::new_value(queue, options, Camel, "options"))?;
        Ok(Arc::new(WorkerSession {
            inner: Arc::new(inner),
        }))
    }
}

/// One worker's decisions (how many to claim, when to wait, what each answer means, the
/// writes); `Queue.work` runs the handlers it hands out.
#[derive(uniffi::Object)]
pub struct WorkerSession {
    inner: Arc<flow::WorkerSession>,
}

/// An item a session hands out: its id and lease token (what `settle` takes), and the whole
/// `QueueItem` as JSON (what the handler gets).
#[derive(uniffi::Record)]
pub struct WorkItem {
    /// The item's id.
    pub id: String,
    /// The lease it is held under.
    pub lease_token: u64,
    /// The `QueueItem`, as JSON.
    pub item_json: String,
}

#[uniffi::export]
impl WorkerSession {
    /// The next items to run, or null when the session is done.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn next(&self) -> Result<Option<Vec<WorkItem>>, KeelError> {
        let session = self.inner.clone();
        let items = run(async move { session.next().await }).await?;
        Ok(items.map(|items| {
            let work = |item: keel::flow::QueueItem| WorkItem {
                id: item.id.to_string(),
                lease_token: item.lease_token,
                item_json: record(&item),
            };
            items.into_iter().map(work).collect()
        }))
    }

    /// The handler of item `id` answered `answerJson` (null: done; `{"deferMs": n}`,
    /// `{"fail": reason, "retryable": false}`, or an enrichment), or threw with `error` (its
    /// message, which wins).
    ///
    /// # Errors
    /// `invalid_input` for an id that is not a UUID or an answer that is not JSON.
    #[uniffi::method(default(answer_json = None, error = None))]
    pub fn settle(
        &self,
        id: String,
        lease_token: u64,
        answer_json: Option<String>,
        error: Option<String>,
    ) -> Result<(), KeelError> {
        let answer = match error {
            Some(message) => Err(message),
            None => Ok(value(answer_json.as_deref(), "answer")?.unwrap_or(Value::Null)),
        };
        Ok(self.inner.settle_value(&id, lease_token, answer, Camel)?)
    }

    /// Stops claiming; `next` answers null once the running items are settled and recorded.
    pub fn stop(&self) {
        self.inner.stop();
    }

    /// What it did so far: a `QueueWorkerReport` as JSON.
    pub fn report(&self) -> String {
        record(&self.inner.report())
    }
}

/// A rate limiter in this process (GCRA per key, bounded memory).
#[derive(uniffi::Object)]
pub struct LocalLimiter {
    inner: flow::LocalLimiter,
}

/// `{"keys": [{"key": key, ...limit}]}`: one key's acquisition.
fn one_key(key: String, limit_json: &str) -> keel::Result<Value> {
    let one = args(vec![("key", key.into())], Some(limit_json))?;
    args(vec![("keys", Value::Array(vec![one]))], None)
}

#[uniffi::export]
impl LocalLimiter {
    /// A limiter holding at most `capacity` of `optionsJson` busy keys (default 100,000).
    ///
    /// # Errors
    /// `invalid_input` for a capacity of zero.
    #[uniffi::constructor(default(options_json = None))]
    pub fn new(options_json: Option<String>) -> Result<Arc<Self>, KeelError> {
        let options = value(options_json.as_deref(), "options")?;
        let inner = flow::LocalLimiter::new_value(options, Camel, "options")?;
        Ok(Arc::new(LocalLimiter { inner }))
    }

    /// Decides one request on `key` under `limitJson` (`{limit, periodMs?, burst?}`): a
    /// `Decision` (`allowed`, `remaining`, `retryAfterMs`, `limit`).
    ///
    /// # Errors
    /// `invalid_input` naming the field (a limit of zero).
    pub fn check(&self, key: String, limit_json: String) -> Result<String, KeelError> {
        let keys = one_key(key, &limit_json)?;
        Ok(self.inner.acquire_value(Some(keys), Camel)?.to_string())
    }

    /// Decides one request on several keys together (`acquisitionJson`, an `Acquisition`),
    /// all or none: a `Decision`.
    ///
    /// # Errors
    /// `invalid_input` naming the field.
    pub fn acquire(&self, acquisition_json: String) -> Result<String, KeelError> {
        let acquisition = required(&acquisition_json, "acquisition")?;
        Ok(self
            .inner
            .acquire_value(Some(acquisition), Camel)?
            .to_string())
    }

    /// How many keys hold state.
    pub fn keys(&self) -> u64 {
        self.inner.keys() as u64
    }
}

/// Rate limits shared through the database; make it with `keel.sharedLimiter()`.
#[derive(uniffi::Object)]
pub struct SharedLimiter {
    inner: flow::SharedLimiter,
}

#[uniffi::export]
impl SharedLimiter {
    /// `LocalLimiter.check`, decided in the database (every instance obeys one quota).
    ///
    /// # Errors
    /// As `LocalLimiter.check`; storage errors.
    pub async fn check(&self, key: String, limit_json: String) -> Result<String, KeelError> {
        let limiter = self.inner.clone();
        let decided = run(async move {
            let keys = one_key(key, &limit_json)?;
            limiter.acquire_value(Some(keys), Camel).await
        });
        Ok(decided.await?.to_string())
    }

    /// `LocalLimiter.acquire`, decided in the database.
    ///
    /// # Errors
    /// As `LocalLimiter.acquire`; storage errors.
    pub async fn acquire(&self, acquisition_json: String) -> Result<String, KeelError> {
        let limiter = self.inner.clone();
        let decided = run(async move {
            let acquisition = required(&acquisition_json, "acquisition")?;
            limiter.acquire_value(Some(acquisition), Camel).await
        });
        Ok(decided.await?.to_string())
    }
}

/// One GCRA decision, pure (`inputJson`: `limit` as `{limit, periodMs, burst}`, the key's
/// `tatMs` and `nowMs`): what both limiters compute, as a `Decided`.
///
/// # Errors
/// `invalid_input` naming the field.
#[uniffi::export]
pub fn rate_limit_decide(input_json: String) -> Result<String, KeelError> {
    let input = value(Some(&input_json), "input")?;
    Ok(record(&flow::decide_value(input, Camel)?))
}
