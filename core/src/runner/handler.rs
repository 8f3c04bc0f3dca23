//! Handlers of dead letters: what a handler answers ([`Handled`]), what it receives
//! ([`Replay`], with an idempotency key stable across retries), the [`LetterHandler`] trait
//! (any async function of a letter is one) and [`HttpHandler`], which posts letters to a URL.

use std::collections::BTreeMap;

use futures_util::future::BoxFuture;
use serde::Serialize;
use serde_json::Value;

use super::classify::Failure;
use super::letter::DeadLetter;
use crate::error::{Error, Result};

/// What a handler did with a letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Handled {
    /// The replay succeeded: the letter is resolved.
    Done,
    /// Work was accepted and goes on elsewhere: the letter waits for its completion call.
    Accepted,
}

impl Handled {
    /// What a host function's answer means: `"accepted"`, `{"accepted": true}` or
    /// `{"status": "accepted"}` is [`Handled::Accepted`]; anything else is done.
    pub fn of_value(value: &Value) -> Self {
        let accepted = value.as_str() == Some("accepted")
            || value.get("accepted").and_then(Value::as_bool) == Some(true)
            || value.get("status").and_then(Value::as_str) == Some("accepted");
        if accepted {
            Handled::Accepted
        } else {
            Handled::Done
        }
    }
}

/// What [`LetterHandler::handle`] returns.
pub type HandlerFuture = BoxFuture<'static, std::result::Result<Handled, Failure>>;

/// Replays a dead letter.
pub trait LetterHandler: Send + Sync {
    /// Replays `letter`; a failure says what went wrong as structurally as it can.
    fn handle(&self, letter: DeadLetter) -> HandlerFuture;
}

/// Any async function of a letter is a handler.
impl<F, Fut> LetterHandler for F
where
    F: Fn(DeadLetter) -> Fut + Send + Sync,
    Fut: std::future::Future<Output = std::result::Result<Handled, Failure>> + Send + 'static,
{
    fn handle(&self, letter: DeadLetter) -> HandlerFuture {
        Box::pin(self(letter))
    }
}

/// The key a letter's replays carry, the same for every retry of that letter.
pub fn idempotency_key(letter: &DeadLetter) -> String {
    format!("dlq:{}", letter.id)
}

/// What a handler receives: the letter's replay fields and its idempotency key (the HTTP
/// body of [`HttpHandler`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Replay<'a> {
    /// The letter's id.
    pub id: uuid::Uuid,
    /// The agent whose run failed.
    pub agent_name: &'a str,
    /// What triggered the run.
    pub trigger_type: &'a str,
    /// What to replay.
    pub payload: &'a Value,
    /// The org as given.
    pub org_id: Option<&'a str>,
    /// The user as given.
    pub user_id: Option<&'a str>,
    /// The run's trace.
    pub trace_id: Option<uuid::Uuid>,
    /// Which retry this is (1 for the first).
    pub retry: u32,
    /// The same for every retry of the letter.
    pub idempotency_key: String,
    /// Outputs of the steps the failed run completed, by name: hand them to `run_agent`'s
    /// `steps` so the replay skips them.
    pub steps: &'a serde_json::Map<String, Value>,
}

/// The replay of `letter`.
pub fn replay(letter: &DeadLetter) -> Replay<'_> {
    Replay {
        id: letter.id,
        agent_name: &letter.agent_name,
        trigger_type: &letter.trigger_type,
        payload: &letter.payload,
        org_id: letter.org_id.as_deref(),
        user_id: letter.user_id.as_deref(),
        trace_id: letter.trace_id,
        retry: letter.retry_count,
        idempotency_key: idempotency_key(letter),
        steps: &letter.steps,
    }
}

/// Posts letters to a URL: 202 is accepted, another 2xx done, anything else a failure with
/// its status, body and `Retry-After`.
#[derive(Debug, Clone)]
pub struct HttpHandler {
    client: reqwest::Client,
    url: String,
    headers: BTreeMap<String, String>,
}

impl HttpHandler {
    /// A handler posting to `url` with `headers` (an `Authorization`, say) through `client`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `url` when it is not an http(s) URL.
    pub fn new(
        client: reqwest::Client,
        url: &str,
        headers: BTreeMap<String, String>,
    ) -> Result<Self> {
        let parsed = url::Url::parse(url)
            .map_err(|e| Error::invalid_input("url", format!("not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::invalid_input("url", "must be an http or https URL"));
        }
        Ok(HttpHandler {
            client,
            url: url.to_owned(),
            headers,
        })
    }
}

impl LetterHandler for HttpHandler {
    fn handle(&self, letter: DeadLetter) -> HandlerFuture {
        let mut request = self
            .client
            .post(&self.url)
            .header("idempotency-key", idempotency_key(&letter))
            .json(&replay(&letter));
        for (k, v) in &self.headers {
            request = request.header(k, v);
        }
        Box::pin(async move {
            let reply = request.send().await.map_err(|e| {
                let timeout = e.is_timeout();
                Failure {
                    message: format!("the handler URL failed: {}", e.without_url()),
                    timeout,
                    connection: !timeout,
                    ..Failure::default()
                }
            })?;
            let status = reply.status().as_u16();
            if status == 202 {
                return Ok(Handled::Accepted);
            }
            if reply.status().is_success() {
                return Ok(Handled::Done);
            }
            let retry_after = reply
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let text = reply.text().await.unwrap_or_default();
            Err(Failure {
                message: format!(
                    "HTTP {status}: {}",
                    text.chars().take(200).collect::<String>()
                ),
                status: Some(status),
                body: serde_json::from_str(&text).ok(),
                retry_after,
                ..Failure::default()
            })
        })
    }
}
