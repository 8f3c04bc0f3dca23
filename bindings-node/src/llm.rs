//! `ModelRouter.llm`, `Llm`, `CallStream` and `CancelToken` (core: `keel::llm`).
//!
//! Requests and options go to core as the JavaScript objects were written (camelCase);
//! completions and stream events come back as plain camelCase objects. An `AbortSignal`
//! (`{ signal }`) cancels a call through a [`CancelToken`] that `init.js` passes: the core
//! future is dropped, so the HTTP request ends and the call's credits are released.

use std::sync::Arc;

use napi_derive::napi;
use serde_json::Value;
use tokio::sync::{Mutex, watch};

use keel::llm;
use keel::options::Case;

use crate::error::{Arg, Outcome, Ref, guard, run};
use crate::json::Json;
use crate::options::{options, record};

/// Makes model calls through a router; make it with `router.llm(options)`.
#[napi]
#[derive(Clone)]
pub struct Llm {
    inner: llm::Llm,
}

/// Cancels the calls it is passed to (made by `init.js` from an `AbortSignal`; not part of the
/// API).
#[napi(js_name = "_CancelToken")]
#[derive(Clone)]
pub struct CancelToken {
    cancelled: Arc<watch::Sender<bool>>,
}

#[napi]
impl CancelToken {
    #[napi(constructor)]
    pub fn new() -> Self {
        Self {
            cancelled: Arc::new(watch::Sender::new(false)),
        }
    }

    /// Cancels every call holding this token.
    #[napi]
    pub fn cancel(&self) {
        self.cancelled.send_replace(true);
    }
}

impl CancelToken {
    /// Follows this token (an agent run's cancellation).
    pub(crate) fn subscribe(&self) -> watch::Receiver<bool> {
        self.cancelled.subscribe()
    }
}

impl Default for CancelToken {
    fn default() -> Self {
        Self::new()
    }
}

/// Runs `fut` until it ends or `token` cancels it (then `aborted`, with the future dropped).
async fn cancellable<T>(
    token: Option<watch::Receiver<bool>>,
    fut: impl std::future::Future<Output = keel::Result<T>>,
) -> keel::Result<T> {
    let Some(mut token) = token else {
        return fut.await;
    };
    tokio::select! {
        result = fut => result,
        _ = token.wait_for(|cancelled| *cancelled) => Err(keel::Error::Aborted),
    }
}

fn request(value: Json) -> keel::Result<llm::CallRequest> {
    llm::CallRequest::from_value(value.0, Case::Camel)
}

/// Reads `request` with `parse` and runs `task` on it, until it ends or `token` cancels it;
/// resolves to the result as a camelCase object.
async fn task<R, T, F>(
    llm: &llm::Llm,
    request: Json,
    token: Option<Ref<CancelToken>>,
    parse: fn(Value, Case) -> keel::Result<R>,
    task: impl FnOnce(llm::Llm, R) -> F + Send + 'static,
) -> napi::Result<Outcome<Value>>
where
    R: Send + 'static,
    T: serde::Serialize,
    F: std::future::Future<Output = keel::Result<T>> + Send,
{
    let token = token.map(|t| t.0.cancelled.subscribe());
    run!(llm, |l| {
        let request = parse(request.0, Case::Camel)?;
        Ok(record(&cancellable(token, task(l, request)).await?))
    })
}

impl Llm {
    /// The core client (for the message router's model stages).
    pub(crate) fn core(&self) -> &llm::Llm {
        &self.inner
    }
}

#[napi]
impl Llm {
    /// The input tokens of `messages` sent to `model`, corrected by the usage this client's
    /// calls have reported.
    #[napi(
        ts_args_type = "model: string, messages: Message[]",
        ts_return_type = "TokenCount"
    )]
    pub fn count_tokens(&self, Arg(model): Arg<String>, Json(messages): Json) -> Outcome<Value> {
        guard(|| {
            let count = self
                .inner
                .tokens()
                .count_messages_value(&model, messages, Case::Camel)?;
            Ok(record(&count))
        })
    }

    /// Starts a call driven on this event loop through the client's transports, when core
    /// can (`keel::llm::Llm::drive`); `null` when it waits on Keel's side first (`init.js`
    /// then calls `complete`).
    #[napi(
        js_name = "_drive",
        ts_args_type = "request: CallRequest",
        ts_return_type = "_DrivenCall | null"
    )]
    pub fn drive(&self, request: Json) -> Outcome<Option<crate::driven::DrivenCall>> {
        guard(|| {
            let request = llm::CallRequest::from_value(request.0, Case::Camel)?;
            Ok(match self.inner.drive(request)? {
                llm::Driven::Call(call) => Some(crate::driven::DrivenCall::new(call)),
                llm::Driven::Awaits(_) => None,
            })
        })
    }

    /// Makes a call; resolves to the completion.
    #[napi(
        ts_args_type = "request: CallRequest, call?: CallOptions",
        ts_return_type = "Promise<Completion>"
    )]
    pub async fn complete(
        &self,
        request: Json,
        token: Option<Ref<CancelToken>>,
    ) -> napi::Result<Outcome<Value>> {
        let parse = llm::CallRequest::from_value;
        task(&self.inner, request, token, parse, |l, r| async move {
            l.complete(&r).await
        })
        .await
    }

    /// Summarizes `request.text`; resolves to the summary and the call that wrote it.
    #[napi(
        ts_args_type = "request: SummaryRequest, call?: CallOptions",
        ts_return_type = "Promise<Summary>"
    )]
    pub async fn summarize(
        &self,
        request: Json,
        token: Option<Ref<CancelToken>>,
    ) -> napi::Result<Outcome<Value>> {
        let parse = llm::SummaryRequest::from_value;
        task(&self.inner, request, token, parse, |l, r| async move {
            l.summarize(&r).await
        })
        .await
    }

    /// Puts `request.text` under one of `request.labels`; resolves to the label.
    #[napi(
        ts_args_type = "request: ClassifyRequest, call?: CallOptions",
        ts_return_type = "Promise<Classification>"
    )]
    pub async fn classify(
        &self,
        request: Json,
        token: Option<Ref<CancelToken>>,
    ) -> napi::Result<Outcome<Value>> {
        let parse = llm::ClassifyRequest::from_value;
        task(&self.inner, request, token, parse, |l, r| async move {
            l.classify(&r).await
        })
        .await
    }

    /// Embeds `request.texts`; resolves to one vector per text, in order.
    #[napi(
        ts_args_type = "request: EmbedRequest, call?: CallOptions",
        ts_return_type = "Promise<Embeddings>"
    )]
    pub async fn embed(
        &self,
        request: Json,
        token: Option<Ref<CancelToken>>,
    ) -> napi::Result<Outcome<Value>> {
        let parse = llm::EmbedRequest::from_value;
        task(&self.inner, request, token, parse, |l, r| async move {
            l.embed(&r).await
        })
        .await
    }

    /// Starts a streaming call; resolves once it is under way to a `CallStream` (an async
    /// iterator of events, the last one `{ event: 'done', ... }`).
    #[napi(
        ts_args_type = "request: CallRequest, call?: CallOptions",
        ts_return_type = "Promise<CallStream>"
    )]
    pub async fn stream(
        &self,
        request: Json,
        token: Option<Ref<CancelToken>>,
    ) -> napi::Result<Outcome<CallStream>> {
        let token = token.map(|t| t.0.cancelled.subscribe());
        run!(self.inner, |l| {
            let request = self::request(request)?;
            let stream = cancellable(token.clone(), l.stream(request)).await?;
            Ok(CallStream {
                inner: Arc::new(Mutex::new(Some(stream))),
                token,
            })
        })
    }
}

/// A streaming call: `for await (const event of stream)`.
#[napi]
pub struct CallStream {
    inner: Arc<Mutex<Option<llm::CallStream>>>,
    token: Option<watch::Receiver<bool>>,
}

#[napi]
impl CallStream {
    /// The next events (one, or every one already buffered) as JSON text of an array, or
    /// `null` once the stream has ended; a failure rejects, after the events before it. One
    /// string per burst: `JSON.parse` builds the objects far faster than napi calls per field
    /// (`for await` parses it for you).
    #[napi(ts_return_type = "Promise<string | null>")]
    pub async fn next(&self) -> napi::Result<Outcome<Option<String>>> {
        let token = self.token.clone();
        run!(self.inner, |inner| {
            let mut stream = inner.lock().await;
            let batch = match stream.as_mut() {
                Some(s) => cancellable(token, s.next_batch(llm::BURST)).await,
                None => Ok(None),
            };
            match batch {
                Ok(Some(events)) => Ok(Some(keel::record::to_text(&events, Case::Camel))),
                ended => {
                    // Ended, failed or cancelled: stop the call now, not when collected.
                    stream.take();
                    ended.map(|_| None)
                }
            }
        })
    }

    /// Stops the call: the HTTP request ends and unspent credits are released.
    #[napi(ts_return_type = "void")]
    pub fn close(&self) -> Outcome<()> {
        guard(|| {
            if let Ok(mut stream) = self.inner.try_lock() {
                stream.take();
            } else {
                let inner = self.inner.clone();
                napi::bindgen_prelude::spawn(async move {
                    inner.lock().await.take();
                });
            }
            Ok(())
        })
    }
}

/// Makes a client on `router` (behind `ModelRouter.llm`).
pub fn open(
    router: &keel::models::ModelRouter,
    value: Option<Json>,
    (names, sends): (Vec<String>, Vec<Option<crate::transport::SendFn>>),
) -> Outcome<Llm> {
    guard(|| {
        let mut options: llm::LlmOptions = options(value, "options")?;
        options.transports = crate::transport::transports(names, sends)?;
        let inner =
            napi::bindgen_prelude::within_runtime_if_available(|| llm::Llm::new(router, options))?;
        Ok(Llm { inner })
    })
}
