//! `_DrivenCall` (core: `keel::llm::DrivenCall`): a model call whose attempts the caller's
//! transports send on this event loop, driven by `init.js`. Each method hands one step to core
//! and converts what it gives. Requests, answers and completions cross as JSON text, which the
//! engine's `JSON.parse` and `JSON.stringify` turn into objects and back (see [`Parsed`] and
//! [`engine_value`]) several times faster than napi builds or reads them property by property.

use std::sync::{Arc, Mutex, MutexGuard};

use napi::bindgen_prelude::Unknown;
use napi_derive::napi;

use keel::llm::{self, Completion};

use crate::error::{Outcome, guard, run};
use crate::json::{Parsed, engine_value};
use crate::options::record;
use crate::transport::JsTransport;

type Shared = Arc<Mutex<Box<llm::DrivenCall>>>;

/// A model call driven on this event loop (made by `Llm._drive`, driven by `init.js`; not
/// part of the API).
#[napi(js_name = "_DrivenCall")]
pub struct DrivenCall {
    inner: Shared,
}

impl DrivenCall {
    /// `call`, for `init.js` to drive.
    pub fn new(call: Box<llm::DrivenCall>) -> Self {
        DrivenCall {
            inner: Arc::new(Mutex::new(call)),
        }
    }
}

fn locked(inner: &Shared) -> MutexGuard<'_, Box<llm::DrivenCall>> {
    inner.lock().unwrap_or_else(|e| e.into_inner())
}

/// A request or a completion, built by the engine's `JSON.parse`.
fn parsed<T: serde::Serialize>(value: &T) -> Parsed {
    Parsed(record(value).to_string())
}

/// The completion, or `null` when the next attempt is ready.
fn step(outcome: keel::Result<Option<Completion>>) -> Outcome<Option<Parsed>> {
    guard(|| outcome.map(|done| done.as_ref().map(parsed)))
}

#[napi]
impl DrivenCall {
    /// What the provider's transport sends now, or `null` when `wait()` does the step.
    #[napi(ts_return_type = "TransportRequest | null")]
    pub fn transport_request(&self) -> Option<Parsed> {
        locked(&self.inner).transport_request().map(parsed)
    }

    /// The milliseconds the current attempt may take.
    #[napi]
    pub fn timeout_ms(&self) -> f64 {
        locked(&self.inner).timeout().as_secs_f64() * 1000.0
    }

    /// Settles the attempt with the transport's `{ reply }` or `{ failure }` (read through the
    /// engine's `JSON.stringify`, or value by value when that throws or writes what JSON text
    /// cannot carry): the completion, or `null` when the next attempt is ready.
    #[napi(
        ts_args_type = "outcome: { reply?: unknown; failure?: unknown }",
        ts_return_type = "Completion | null"
    )]
    pub fn settle(&self, outcome: Unknown<'_>) -> Outcome<Option<Parsed>> {
        let answer = JsTransport::answer(engine_value(&outcome));
        step(locked(&self.inner).settle_transport(answer))
    }

    /// Settles the attempt as one that took longer than `timeoutMs()`.
    #[napi(ts_return_type = "Completion | null")]
    pub fn timed_out(&self) -> Outcome<Option<Parsed>> {
        step(locked(&self.inner).settle_timeout())
    }

    /// Does a step on Keel's side (an attempt through Keel's own client, the breaker report
    /// of a call that failed for good) and settles it.
    #[napi(ts_return_type = "Promise<Completion | null>")]
    pub async fn wait(&self) -> napi::Result<Outcome<Option<Parsed>>> {
        let waiting = locked(&self.inner).wait();
        run!(self.inner, |inner| {
            let waited = waiting.await;
            let done = locked(&inner).settle_waited(waited)?;
            Ok(done.as_ref().map(parsed))
        })
    }
}
