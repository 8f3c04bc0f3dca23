//! `Keel.queue`, `Queue`, `LocalLimiter`, `Keel.sharedLimiter` and `SharedLimiter`, and the
//! worker session `init.js` drives (core: `keel::flow`, whose `*_value` calls read the
//! arguments and own every default and check). Records are plain objects with camelCase keys
//! (`types.d.ts`).

use std::sync::Arc;

use napi_derive::napi;
use serde_json::{Map, Value};

use keel::flow::{self, WorkerSession};
use keel::options::Case::Camel;

use crate::error::{Arg, Outcome, call, guard, run};
use crate::json::{Json, Parsed};

/// The arguments of a call: the named ones (camelCase, as the caller spells them), then the
/// options object's fields.
pub(crate) fn args(named: Vec<(&str, Value)>, options: Option<Json>) -> Option<Value> {
    let mut map = match options.map(|o| o.0) {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    };
    for (name, value) in named {
        map.insert(name.to_owned(), value);
    }
    Some(Value::Object(map))
}

/// The Command Centre queue; make it with `db.queue(options)`.
#[napi]
pub struct Queue {
    inner: flow::Queue,
}

/// `db.queue(options)`.
pub fn open_queue(keel: &keel::Keel, options: Option<Json>) -> Outcome<Queue> {
    let opened = guard(|| flow::Queue::open_value(keel, options.map(|o| o.0), Camel, "options"));
    Outcome(opened.0.map(|inner| Queue { inner }))
}

#[napi]
impl Queue {
    /// Enqueues items: their ids.
    #[napi(
        ts_args_type = "items: NewItem[]",
        ts_return_type = "Promise<string[]>"
    )]
    pub async fn enqueue(&self, items: Json) -> napi::Result<Outcome<Parsed>> {
        call(&self.inner, "enqueue", args(vec![("items", items.0)], None)).await
    }

    /// Leases up to `options.n` (default 10) waiting items of `options.lanes` to `worker`.
    #[napi(
        ts_args_type = "worker: string, options?: ClaimOptions | null",
        ts_return_type = "Promise<QueueItem[]>"
    )]
    pub async fn claim(
        &self,
        Arg(worker): Arg<String>,
        options: Option<Json>,
    ) -> napi::Result<Outcome<Parsed>> {
        call(
            &self.inner,
            "claim",
            args(vec![("worker", worker.into())], options),
        )
        .await
    }

    /// Completes `done` and claims the next batch, in one statement on PostgreSQL.
    #[napi(
        ts_args_type = "done: Lease[], worker: string, options?: ClaimOptions | null",
        ts_return_type = "Promise<Claimed>"
    )]
    pub async fn claim_after(
        &self,
        done: Json,
        Arg(worker): Arg<String>,
        options: Option<Json>,
    ) -> napi::Result<Outcome<Parsed>> {
        let named = vec![("done", done.0), ("worker", worker.into())];
        call(&self.inner, "claim_after", args(named, options)).await
    }

    /// `claim`, grouped by deal and contact within the fan-in bounds.
    #[napi(
        ts_args_type = "worker: string, options?: ClaimOptions | null",
        ts_return_type = "Promise<Batch>"
    )]
    pub async fn claim_batch(
        &self,
        Arg(worker): Arg<String>,
        options: Option<Json>,
    ) -> napi::Result<Outcome<Parsed>> {
        call(
            &self.inner,
            "claim_batch",
            args(vec![("worker", worker.into())], options),
        )
        .await
    }

    /// Completes a claimed item, keeping `options.context` as its enrichment: false when the
    /// token no longer holds it.
    #[napi(
        ts_args_type = "id: string, leaseToken: number, options?: { context?: unknown } | null",
        ts_return_type = "Promise<boolean>"
    )]
    pub async fn complete(
        &self,
        Arg(id): Arg<String>,
        lease_token: Json,
        options: Option<Json>,
    ) -> napi::Result<Outcome<Parsed>> {
        let named = vec![("id", id.into()), ("leaseToken", lease_token.0)];
        call(&self.inner, "complete", args(named, options)).await
    }

    /// Completes many claimed items in one statement: the ids whose token held.
    #[napi(ts_args_type = "leases: Lease[]", ts_return_type = "Promise<string[]>")]
    pub async fn complete_all(&self, leases: Json) -> napi::Result<Outcome<Parsed>> {
        call(
            &self.inner,
            "complete_all",
            args(vec![("leases", leases.0)], None),
        )
        .await
    }

    /// Records a failure with its `reason` (`options.retryable`, default true;
    /// `options.retryAfterMs`): the item after it, or null when the token no longer holds it.
    #[napi(
        ts_args_type = "id: string, leaseToken: number, reason: string, options?: { retryable?: boolean, retryAfterMs?: number | null } | null",
        ts_return_type = "Promise<QueueItem | null>"
    )]
    pub async fn fail(
        &self,
        Arg(id): Arg<String>,
        lease_token: Json,
        Arg(reason): Arg<String>,
        options: Option<Json>,
    ) -> napi::Result<Outcome<Parsed>> {
        let named = vec![
            ("id", id.into()),
            ("leaseToken", lease_token.0),
            ("reason", reason.into()),
        ];
        call(&self.inner, "fail", args(named, options)).await
    }

    /// Puts a claimed item back for `delayMs` without spending an attempt.
    #[napi(
        ts_args_type = "id: string, leaseToken: number, delayMs: number",
        ts_return_type = "Promise<boolean>"
    )]
    pub async fn defer(
        &self,
        Arg(id): Arg<String>,
        lease_token: Json,
        delay_ms: Json,
    ) -> napi::Result<Outcome<Parsed>> {
        let named = vec![
            ("id", id.into()),
            ("leaseToken", lease_token.0),
            ("delayMs", delay_ms.0),
        ];
        call(&self.inner, "defer", args(named, None)).await
    }

    /// Extends a claimed item's lease (`options.leaseMs`, default the queue's).
    #[napi(
        ts_args_type = "id: string, leaseToken: number, options?: { leaseMs?: number | null } | null",
        ts_return_type = "Promise<boolean>"
    )]
    pub async fn extend(
        &self,
        Arg(id): Arg<String>,
        lease_token: Json,
        options: Option<Json>,
    ) -> napi::Result<Outcome<Parsed>> {
        let named = vec![("id", id.into()), ("leaseToken", lease_token.0)];
        call(&self.inner, "extend", args(named, options)).await
    }

    /// Returns expired leases to their lanes; fails and dead-letters the last attempts.
    #[napi(ts_return_type = "Promise<SweepReport>")]
    pub async fn sweep(&self) -> napi::Result<Outcome<Parsed>> {
        call(&self.inner, "sweep", None).await
    }

    /// The backlog per lane, the oldest wait, the last minute's rates and the mode.
    #[napi(ts_return_type = "Promise<QueueHealth>")]
    pub async fn health(&self) -> napi::Result<Outcome<Parsed>> {
        call(&self.inner, "health", None).await
    }

    /// The item, or null.
    #[napi(
        ts_args_type = "id: string",
        ts_return_type = "Promise<QueueItem | null>"
    )]
    pub async fn get(&self, Arg(id): Arg<String>) -> napi::Result<Outcome<Parsed>> {
        call(&self.inner, "get", args(vec![("id", id.into())], None)).await
    }

    /// A worker session for `init.js` (not part of the API).
    #[napi(
        js_name = "_session",
        ts_args_type = "options?: QueueWorkerOptions | null",
        ts_return_type = "_WorkerSession"
    )]
    pub fn session(&self, options: Option<Json>) -> Outcome<JsWorkerSession> {
        let options = options.map(|o| o.0);
        let session =
            guard(|| WorkerSession::new_value(self.inner.clone(), options, Camel, "options"));
        Outcome(session.0.map(|s| JsWorkerSession { inner: Arc::new(s) }))
    }
}

/// One worker's decisions, for `init.js` to drive (not part of the API).
#[napi(js_name = "_WorkerSession")]
pub struct JsWorkerSession {
    inner: Arc<WorkerSession>,
}

#[napi]
impl JsWorkerSession {
    /// The next items to run, or null when done.
    #[napi(ts_return_type = "Promise<QueueItem[] | null>")]
    pub async fn next(&self) -> napi::Result<Outcome<Parsed>> {
        run!(self.inner, |s| s
            .next_value(Camel)
            .await
            .map(|v| Parsed(v.to_string())))
    }

    /// The handler of item `id` returned `value`, or threw with `error` (its message).
    #[napi(
        ts_args_type = "id: string, leaseToken: number, value: unknown, error?: string | null",
        ts_return_type = "void"
    )]
    pub fn settle(
        &self,
        Arg(id): Arg<String>,
        lease_token: Json,
        value: Json,
        error: Option<String>,
    ) -> Outcome<()> {
        let answer = match error {
            Some(message) => Err(message),
            None => Ok(value.0),
        };
        let token = lease_token.0.as_f64().map_or(0, |t| t as u64);
        guard(|| self.inner.settle_value(&id, token, answer, Camel))
    }

    /// Stops claiming; `next` resolves to null once the running items are recorded.
    #[napi]
    pub fn stop(&self) {
        self.inner.stop();
    }

    /// What it did so far.
    #[napi(ts_return_type = "QueueWorkerReport")]
    pub fn report(&self) -> Value {
        crate::options::record(&self.inner.report())
    }
}

/// A rate limiter in this process (GCRA per key, bounded memory).
#[napi]
pub struct LocalLimiter {
    inner: flow::LocalLimiter,
}

#[napi]
impl LocalLimiter {
    /// A limiter holding at most `options.capacity` busy keys (default 100,000).
    #[napi(constructor, ts_args_type = "options?: { capacity?: number } | null")]
    pub fn new(env: napi::Env, options: Option<Json>) -> napi::Result<Self> {
        guard(|| flow::LocalLimiter::new_value(options.map(|o| o.0), Camel, "options"))
            .0
            .map(|inner| LocalLimiter { inner })
            .map_err(|e| crate::error::js_error(&env, &e))
    }

    /// Decides one request on `key` under `limit` (`{limit, periodMs?, burst?}`).
    #[napi(
        ts_args_type = "key: string, limit: Limit",
        ts_return_type = "Decision"
    )]
    pub fn check(&self, Arg(key): Arg<String>, limit: Json) -> Outcome<Value> {
        let one = args(vec![("key", key.into())], Some(limit));
        let keys = args(
            vec![("keys", Value::Array(one.into_iter().collect()))],
            None,
        );
        guard(|| self.inner.acquire_value(keys, Camel))
    }

    /// Decides one request on several keys together, all or none.
    #[napi(ts_args_type = "acquisition: Acquisition", ts_return_type = "Decision")]
    pub fn acquire(&self, acquisition: Json) -> Outcome<Value> {
        guard(|| self.inner.acquire_value(Some(acquisition.0), Camel))
    }

    /// How many keys hold state.
    #[napi]
    pub fn keys(&self) -> u32 {
        u32::try_from(self.inner.keys()).unwrap_or(u32::MAX)
    }
}

/// Rate limits shared through the database; make it with `db.sharedLimiter()`.
#[napi]
pub struct SharedLimiter {
    inner: flow::SharedLimiter,
}

/// `db.sharedLimiter()`.
pub fn open_shared(keel: &keel::Keel) -> SharedLimiter {
    SharedLimiter {
        inner: flow::SharedLimiter::open(keel),
    }
}

#[napi]
impl SharedLimiter {
    /// `LocalLimiter.check`, decided in the database.
    #[napi(
        ts_args_type = "key: string, limit: Limit",
        ts_return_type = "Promise<Decision>"
    )]
    pub async fn check(&self, Arg(key): Arg<String>, limit: Json) -> napi::Result<Outcome<Value>> {
        let one = args(vec![("key", key.into())], Some(limit));
        let keys = args(
            vec![("keys", Value::Array(one.into_iter().collect()))],
            None,
        );
        run!(self.inner, |s| s.acquire_value(keys, Camel).await)
    }

    /// `LocalLimiter.acquire`, decided in the database.
    #[napi(
        ts_args_type = "acquisition: Acquisition",
        ts_return_type = "Promise<Decision>"
    )]
    pub async fn acquire(&self, acquisition: Json) -> napi::Result<Outcome<Value>> {
        let a = Some(acquisition.0);
        run!(self.inner, |s| s.acquire_value(a, Camel).await)
    }
}

/// One GCRA decision, pure: `limit` (`{limit, periodMs, burst}`), the key's `tatMs` and
/// `nowMs`. What both limiters compute.
#[napi(ts_args_type = "input: DecideInput", ts_return_type = "Decided")]
pub fn rate_limit_decide(input: Json) -> Outcome<Value> {
    guard(|| {
        Ok(crate::options::record(&flow::decide_value(
            Some(input.0),
            Camel,
        )?))
    })
}
