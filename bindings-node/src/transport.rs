//! JavaScript async functions as a provider's transport (core: `keel::llm::Transport`).
//!
//! `router.llm({ transports: { anthropic: send } })`, where `async send(request)` gets
//! `{ provider, model, operation, body }` and resolves to the provider's reply body, or
//! rejects with the SDK's error (`init.js` reads its `status`, `error`/`body` and
//! `headers['retry-after']` into `{ failure }` before it reaches here). A call that stops
//! waiting drops the answer; a Promise cannot be cancelled.

use std::sync::Arc;

use napi::Status;
use napi::bindgen_prelude::Promise;
use napi::threadsafe_function::ThreadsafeFunction;
use serde_json::Value;

use keel::llm::{Transport, TransportFailure, TransportFuture, TransportRequest, Transports};
use keel::options::Case;

/// A transport as `init.js` hands it over: resolves to `{ reply }` or `{ failure }`. Weak: it
/// does not keep the process alive.
pub type SendFn = ThreadsafeFunction<Value, Promise<Value>, Value, Status, false, true>;

/// The transports of `names` and `sends` (in the same order; `null` for a value that is not a
/// function).
///
/// # Errors
/// `invalid_input` naming `transports.<name>` for a value that is not a function.
pub fn transports(names: Vec<String>, sends: Vec<Option<SendFn>>) -> keel::Result<Transports> {
    let mut transports = Transports::default();
    for (name, send) in names.into_iter().zip(sends) {
        let send = send.ok_or_else(|| Transports::not_callable(&name))?;
        transports.insert(name, Arc::new(JsTransport(Arc::new(send))));
    }
    Ok(transports)
}

struct JsTransport(Arc<SendFn>);

impl Transport for JsTransport {
    fn send(&self, request: TransportRequest) -> TransportFuture {
        let send = self.0.clone();
        Box::pin(async move {
            let request = keel::record::to_value(&request, Case::Camel);
            let promise = send.call_async_catch(request).await.map_err(failed)?;
            let mut outcome = promise.await.map_err(failed)?;
            if let Some(reply) = outcome.get_mut("reply") {
                return Ok(reply.take());
            }
            let failure = outcome.get_mut("failure").map(Value::take);
            Err(TransportFailure::from_value(
                failure.unwrap_or_default(),
                Case::Camel,
            ))
        })
    }
}

fn failed(err: napi::Error) -> TransportFailure {
    TransportFailure {
        message: err.reason.clone(),
        ..TransportFailure::default()
    }
}
