//! `Keel.deadLetters` and `DeadLetters`, `classifyFailure` and `retryDelays` (core:
//! `keel::runner`, whose `*_value` calls read the ids and JSON and own every check). Records
//! are plain objects with camelCase keys (`types.d.ts`).

use std::sync::Arc;

use napi::Env;
use napi::bindgen_prelude::AsyncBlock;
use napi_derive::napi;
use serde_json::Value;

use keel::options::Case::Camel;
use keel::runner::{self, LetterHandler};

use crate::error::{Arg, Outcome, guard, run, spawn};
use crate::json::Json;
use crate::options::record;
use crate::transport::{JsHandler, JsTransport, SendFn};

/// The dead-letter queue; make it with `db.deadLetters()`.
#[napi]
pub struct DeadLetters {
    inner: runner::DeadLetters,
}

#[napi]
impl DeadLetters {
    /// Enqueues a letter; once per `idempotencyKey`.
    #[napi(
        ts_args_type = "letter: NewDeadLetter, call?: CallOptions",
        ts_return_type = "Promise<DeadLetter>"
    )]
    pub async fn enqueue(&self, letter: Option<Json>) -> napi::Result<Outcome<Value>> {
        let letter = letter.map(|l| l.0);
        run!(self.inner, |s| Ok(record(
            &s.enqueue_value(letter, Camel, "letter").await?
        )))
    }

    /// The letters a query selects, newest first.
    #[napi(
        ts_args_type = "query?: (LetterQuery & CallOptions) | null",
        ts_return_type = "Promise<DeadLetter[]>"
    )]
    pub async fn list(&self, query: Option<Json>) -> napi::Result<Outcome<Value>> {
        let query = query.map(|q| q.0);
        run!(self.inner, |s| Ok(record(
            &s.list_value(query, Camel, "query").await?
        )))
    }

    /// The letter.
    #[napi(ts_args_type = "id: string", ts_return_type = "Promise<DeadLetter>")]
    pub async fn get(&self, Arg(id): Arg<String>) -> napi::Result<Outcome<Value>> {
        self.operate("get", id, None).await
    }

    /// Makes a pending letter due now.
    #[napi(ts_args_type = "id: string", ts_return_type = "Promise<DeadLetter>")]
    pub async fn retry(&self, Arg(id): Arg<String>) -> napi::Result<Outcome<Value>> {
        self.operate("retry", id, None).await
    }

    /// Brings an abandoned letter back, its retries counted from zero.
    #[napi(ts_args_type = "id: string", ts_return_type = "Promise<DeadLetter>")]
    pub async fn redrive(&self, Arg(id): Arg<String>) -> napi::Result<Outcome<Value>> {
        self.operate("redrive", id, None).await
    }

    /// Resolves an open letter: an asynchronous handler's work finished.
    #[napi(ts_args_type = "id: string", ts_return_type = "Promise<DeadLetter>")]
    pub async fn resolve(&self, Arg(id): Arg<String>) -> napi::Result<Outcome<Value>> {
        self.operate("resolve", id, None).await
    }

    /// Abandons an open letter with `options.reason`.
    #[napi(
        ts_args_type = "id: string, options: { reason: string }",
        ts_return_type = "Promise<DeadLetter>"
    )]
    pub async fn abandon(
        &self,
        Arg(id): Arg<String>,
        options: Option<Json>,
    ) -> napi::Result<Outcome<Value>> {
        self.operate("abandon", id, options.map(|o| o.0)).await
    }

    /// Deletes letters resolved more than `options.days` days ago (default 30): how many.
    #[napi(
        ts_args_type = "options?: ({ days?: number } & CallOptions) | null",
        ts_return_type = "Promise<number>"
    )]
    pub async fn purge(&self, options: Option<Json>) -> napi::Result<Outcome<u32>> {
        let options = options.map(|o| o.0);
        run!(self.inner, |s| Ok(u32::try_from(
            s.purge_value(options, Camel, "options").await?
        )
        .unwrap_or(u32::MAX)))
    }

    /// Claims one batch of due letters and replays each through `handler` (resolving to
    /// `'accepted'` leaves the letter for `resolve`; throwing is a failure) or posts it to
    /// `options.url`.
    #[napi(
        ts_args_type = "handler: ((replay: Replay) => unknown) | null, options?: (WorkerOptions & CallOptions) | null",
        ts_return_type = "Promise<WorkReport>"
    )]
    pub fn work_once(
        &self,
        env: Env,
        options: Option<Json>,
        handler: Option<SendFn>,
    ) -> Outcome<AsyncBlock<Outcome<Value>>> {
        let letters = self.inner.clone();
        let options = options.map(|o| o.0);
        let handler =
            handler.map(|h| Arc::new(JsHandler(JsTransport::new(h))) as Arc<dyn LetterHandler>);
        Outcome(spawn(&env, async move {
            let report = letters.work_once_value(options, handler, Camel, "options");
            Ok(record(&report.await?))
        }))
    }
}

impl DeadLetters {
    async fn operate(
        &self,
        operation: &'static str,
        id: String,
        options: Option<Value>,
    ) -> napi::Result<Outcome<Value>> {
        run!(self.inner, |s| Ok(record(
            &s.operate_value(operation, &id, options, Camel).await?
        )))
    }
}

/// The kind of a failure, what decided it and the wait it asked for. Pure.
#[napi(ts_args_type = "failure: FailureInfo", ts_return_type = "Classified")]
pub fn classify_failure(failure: Option<Json>) -> Outcome<Value> {
    let failure = failure.map(|f| f.0);
    guard(|| Ok(record(&runner::classify_value(failure, Camel, "")?)))
}

/// The ceilings and seeded delays of a backoff: `kind` (under `policy`) or `backoff`,
/// `retries`, `seed`, `retryAfterMs`. Pure.
#[napi(ts_args_type = "input: RetryDelaysInput", ts_return_type = "Delays")]
pub fn retry_delays(input: Option<Json>) -> Outcome<Value> {
    let input = input.map(|i| i.0);
    guard(|| Ok(record(&runner::retry_delays_value(input, Camel, "")?)))
}

/// The dead letters on `keel` (behind `Keel.deadLetters`).
pub fn open_letters(keel: &keel::Keel) -> DeadLetters {
    DeadLetters {
        inner: runner::DeadLetters::open(keel),
    }
}
