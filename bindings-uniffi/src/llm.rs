//! `ModelRouter.llm`, `Llm` and `CallStream` (core: `keel::llm`): one call that resolves,
//! budgets, calls, falls back, records and logs. Requests and results are JSON text
//! (camelCase: Node's `CallRequest`, `Completion`, stream events). Cancelling the coroutine
//! or task awaiting a call drops it: the HTTP request ends and its credits are released.

use std::sync::Arc;

use keel::llm;
use keel::options::Case;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::error::KeelError;
use crate::json::{record, value};
use crate::runtime::run;

/// Makes model calls through a router; make it with `router.llm(optionsJson)`.
#[derive(uniffi::Object)]
pub struct Llm {
    pub(crate) inner: llm::Llm,
}

/// Reads `request_json` with `parse` and runs `task` on it; the result as JSON text.
async fn task<R, T, F>(
    llm: &llm::Llm,
    request_json: String,
    parse: fn(Value, Case) -> keel::Result<R>,
    task: impl FnOnce(llm::Llm, R) -> F + Send + 'static,
) -> Result<String, KeelError>
where
    R: Send + 'static,
    T: serde::Serialize,
    F: std::future::Future<Output = keel::Result<T>> + Send + 'static,
{
    let llm = llm.clone();
    run(async move {
        let request = parse(
            value(Some(&request_json), "request")?.unwrap_or_default(),
            Case::Camel,
        )?;
        Ok(record(&task(llm, request).await?))
    })
    .await
}

#[uniffi::export]
impl Llm {
    /// The input tokens of `messagesJson` (a `Message[]`) sent to `model`, corrected by the
    /// usage this client's calls have reported; as JSON (`TokenCount`).
    ///
    /// # Errors
    /// `invalid_input` naming the message at fault.
    pub fn count_tokens(&self, model: String, messages_json: String) -> Result<String, KeelError> {
        let messages = value(Some(&messages_json), "messages")?.unwrap_or_default();
        let count = self
            .inner
            .tokens()
            .count_messages_value(&model, messages, Case::Camel)?;
        Ok(record(&count))
    }

    /// Makes a call (`CallRequest`); the completion as JSON (`Completion`).
    ///
    /// # Errors
    /// The failure taxonomy's codes (`provider`, `rate_limited`, `timeout`, …) after every
    /// allowed fallback, `budget_exceeded`, `no_model_available`, `invalid_input`.
    pub async fn complete(&self, request_json: String) -> Result<String, KeelError> {
        let parse = llm::CallRequest::from_value;
        task(&self.inner, request_json, parse, |l, r| async move {
            l.complete(&r).await
        })
        .await
    }

    /// Summarizes `request.text` (`SummaryRequest`); the summary as JSON.
    ///
    /// # Errors
    /// As `complete`.
    pub async fn summarize(&self, request_json: String) -> Result<String, KeelError> {
        let parse = llm::SummaryRequest::from_value;
        task(&self.inner, request_json, parse, |l, r| async move {
            l.summarize(&r).await
        })
        .await
    }

    /// Puts `request.text` under one of `request.labels` (`ClassifyRequest`); as JSON.
    ///
    /// # Errors
    /// As `complete`.
    pub async fn classify(&self, request_json: String) -> Result<String, KeelError> {
        let parse = llm::ClassifyRequest::from_value;
        task(&self.inner, request_json, parse, |l, r| async move {
            l.classify(&r).await
        })
        .await
    }

    /// Embeds `request.texts` (`EmbedRequest`); one vector per text, as JSON.
    ///
    /// # Errors
    /// As `complete`.
    pub async fn embed(&self, request_json: String) -> Result<String, KeelError> {
        let parse = llm::EmbedRequest::from_value;
        task(&self.inner, request_json, parse, |l, r| async move {
            l.embed(&r).await
        })
        .await
    }

    /// Starts a streaming call (`CallRequest`); the stream once it is under way. In Kotlin,
    /// `llm.streamFlow(requestJson)` reads it as a `Flow<String>` of events.
    ///
    /// # Errors
    /// As `complete`, for failures before the stream starts.
    pub async fn stream(&self, request_json: String) -> Result<Arc<CallStream>, KeelError> {
        let llm = self.inner.clone();
        let stream = run(async move {
            let request = value(Some(&request_json), "request")?.unwrap_or_default();
            llm.stream(llm::CallRequest::from_value(request, Case::Camel)?)
                .await
        })
        .await?;
        Ok(Arc::new(CallStream {
            inner: Arc::new(Mutex::new(Some(stream))),
        }))
    }
}

/// Events read from a stream per call of `next`, at most.
const BURST: usize = 256;

/// A streaming call: `next()` until null. Closing it (Kotlin's `close()`, Swift's deinit)
/// stops the call: the HTTP request ends and unspent credits are released.
#[derive(uniffi::Object)]
pub struct CallStream {
    inner: Arc<Mutex<Option<llm::CallStream>>>,
}

#[uniffi::export]
impl CallStream {
    /// The next events (one, or every one already buffered), each as JSON text (`delta`,
    /// `toolCall`, …, the last one `done`), or null once the stream has ended; a failure
    /// throws, after the events before it.
    ///
    /// # Errors
    /// The failure taxonomy's codes, for a failure after the first content.
    pub async fn next(&self) -> Result<Option<Vec<String>>, KeelError> {
        let inner = self.inner.clone();
        run(async move {
            let mut stream = inner.lock().await;
            let Some(call) = stream.as_mut() else {
                return Ok(None);
            };
            match call.next_batch(BURST).await {
                Ok(Some(events)) => Ok(Some(events.iter().map(record).collect())),
                ended => {
                    // Ended or failed: stop the call now, not when collected.
                    stream.take();
                    ended.map(|_| None)
                }
            }
        })
        .await
    }
}
