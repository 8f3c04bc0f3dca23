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
use keel::runner::{DeadLetter, Failure, Handled, HandlerFuture, LetterHandler, replay};

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
        transports.insert(name, Arc::new(JsTransport::new(send)));
    }
    Ok(transports)
}

/// A JavaScript async function called from core through `init.js`'s wrapper: a provider's
/// transport, or a dead-letter handler ([`JsHandler`]).
pub struct JsTransport(Arc<SendFn>);

impl Transport for JsTransport {
    fn send(&self, request: TransportRequest) -> TransportFuture {
        self.call(keel::record::to_value(&request, Case::Camel))
    }
}

/// A JavaScript async function doing a model task of the host's ([`keel::llm::HostTask`]).
impl keel::llm::HostFunction for JsTransport {
    fn call(&self, argument: Value) -> TransportFuture {
        JsTransport::call(self, argument)
    }
}

/// A model task's model as JavaScript gave it: a `keel.Llm`, else the host's own async
/// function (`init.js` hands a function over apart, as `hosted`).
pub fn task_model(
    llm: Option<keel::llm::Llm>,
    hosted: Option<SendFn>,
) -> Option<keel::llm::TaskModel> {
    match (llm, hosted) {
        (Some(llm), _) => Some(keel::llm::TaskModel::Llm(llm)),
        (None, Some(send)) => {
            let function = Arc::new(JsTransport::new(send));
            Some(keel::llm::TaskModel::Host(keel::llm::HostTask::new(
                function,
                Case::Camel,
            )))
        }
        (None, None) => None,
    }
}

impl JsTransport {
    /// The function as `init.js` wraps it.
    pub fn new(send: SendFn) -> Self {
        JsTransport(Arc::new(send))
    }

    /// Calls the function with `argument`: its `{ reply }`, or its `{ failure }` read.
    pub fn call(&self, argument: Value) -> TransportFuture {
        let send = self.0.clone();
        Box::pin(async move {
            let promise = send.call_async_catch(argument).await.map_err(failed)?;
            Self::answer(promise.await.map_err(failed)?)
        })
    }

    /// What a wrapped function resolved to: its `{ reply }`, or its `{ failure }` read.
    pub fn answer(mut outcome: Value) -> Result<Value, TransportFailure> {
        // `{ reply: undefined }` arrives as `{}`: an answer of nothing.
        match outcome.get_mut("failure").map(Value::take) {
            Some(failure) => Err(TransportFailure::from_value(failure, Case::Camel)),
            None => Ok(outcome
                .get_mut("reply")
                .map(Value::take)
                .unwrap_or_default()),
        }
    }
}

/// A JavaScript async function as a dead-letter handler: called with the letter's `Replay`;
/// what it resolves to says done or accepted, what it throws is the failure (its `status`,
/// `error`/`body`, `retry-after` header and `kind` are read by `init.js`).
pub struct JsHandler(pub JsTransport);

impl LetterHandler for JsHandler {
    fn handle(&self, letter: DeadLetter) -> HandlerFuture {
        let call = self
            .0
            .call(keel::record::to_value(&replay(&letter), Case::Camel));
        Box::pin(async move {
            match call.await {
                Ok(answer) => Ok(Handled::of_value(&answer)),
                Err(failure) => Err(Failure::from(failure)),
            }
        })
    }
}

pub(crate) fn failed(err: napi::Error) -> TransportFailure {
    TransportFailure {
        message: err.reason.clone(),
        ..TransportFailure::default()
    }
}
