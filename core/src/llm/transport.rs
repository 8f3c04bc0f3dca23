//! Bring your own client: a [`Transport`] sends a provider's attempts instead of Keel's HTTP
//! client, for platforms that already call the vendors' SDKs. Keel still resolves, budgets,
//! falls back, reports to the breaker and writes spans around it; the transport only carries
//! the provider's own request body there and its reply body back.
//!
//! A streaming call through a transport is served from the whole reply: its deltas arrive
//! together once the transport answers, and fallback stays possible until then.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::http;
use super::message::Part;
use super::wire::stream::Piece;
use super::wire::{Fault, Reply, Wire};
use crate::fault::FailureKind;

/// One attempt handed to a transport.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransportRequest {
    /// The canonical provider (`anthropic`, `google`, `openai`, `openrouter`).
    pub provider: String,
    /// The model asked for.
    pub model: String,
    /// `chat` or `embeddings`.
    pub operation: &'static str,
    /// The body Keel would send: an Anthropic Messages request, an OpenAI Chat Completions
    /// (or embeddings) request, a Gemini `generateContent` (or `batchEmbedContents`) request.
    /// Never a streaming request.
    pub body: Value,
}

/// Why a transport's attempt failed, as the vendor's client reported it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TransportFailure {
    /// The HTTP status, when the provider answered (an SDK error's `status_code`/`status`).
    pub status: Option<u16>,
    /// The provider's error body, when there was one.
    pub body: Option<Value>,
    /// What went wrong, in words.
    pub message: String,
    /// The reply's `Retry-After` header (seconds, or an HTTP date).
    pub retry_after: Option<String>,
    /// The kind of failure the host error names (its `kind` property), read by the dead-letter
    /// worker ([`crate::runner::ErrorKind`]); model calls ignore it.
    pub kind: Option<String>,
}

impl TransportFailure {
    /// A failure from the object a binding builds out of a host error (`status`, `body`,
    /// `message`, `retry_after`, spelt in `case`); an object it cannot read becomes a
    /// connection failure saying so.
    pub fn from_value(value: Value, case: crate::options::Case) -> Self {
        crate::options::from_value(Some(value), case, "").unwrap_or_else(|err| Self {
            message: format!("the transport failed with an unreadable error ({err})"),
            ..Self::default()
        })
    }
}

/// What [`Transport::send`] returns: the provider's reply body, or why the attempt failed.
pub type TransportFuture = BoxFuture<'static, Result<Value, TransportFailure>>;

/// Sends attempts for one provider.
pub trait Transport: Send + Sync {
    /// Sends `request` and answers with the provider's reply body, or why it failed.
    fn send(&self, request: TransportRequest) -> TransportFuture;
}

/// Transports by canonical provider name.
#[derive(Clone, Default)]
pub struct Transports(pub(super) BTreeMap<String, Arc<dyn Transport>>);

impl Transports {
    /// Sends `provider`'s attempts through `transport`.
    pub fn insert(&mut self, provider: impl Into<String>, transport: Arc<dyn Transport>) {
        self.0.insert(provider.into(), transport);
    }

    /// The transport of a canonical provider name.
    pub fn get(&self, provider: &str) -> Option<&Arc<dyn Transport>> {
        self.0.get(provider)
    }

    /// The error for a transport that is not a function, named `transports.<provider>`.
    pub fn not_callable(provider: &str) -> crate::Error {
        crate::Error::invalid_input(
            format!("transports.{provider}"),
            "must be an async function",
        )
    }

    /// The providers with a transport.
    pub fn providers(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

impl std::fmt::Debug for Transports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

impl TransportFailure {
    /// The classified fault: the wire's reading of the status and body, else a connection
    /// failure (no answer from the provider).
    pub(super) fn fault(self, wire: Wire) -> Fault {
        let Some(status) = self.status else {
            return Fault::new(FailureKind::Connection, self.message);
        };
        let body = self
            .body
            .unwrap_or_else(|| json!({"error": {"message": self.message}}));
        let mut fault = http::error_fault(wire, status, &body);
        if fault.message.is_empty() {
            fault.message = self.message;
        }
        fault.retry_after_ms = self
            .retry_after
            .as_deref()
            .and_then(http::parse_retry_after);
        fault
    }
}

/// Sends one attempt through `transport` and reads the reply body as `read` does.
pub(super) async fn send<T>(
    transport: &Arc<dyn Transport>,
    wire: Wire,
    request: TransportRequest,
    read: impl FnOnce(&Value) -> Result<T, Fault>,
) -> Result<T, Fault> {
    match transport.send(request).await {
        Ok(body) => read(&body),
        Err(failure) => Err(failure.fault(wire)),
    }
}

/// The deltas of a whole reply, as a stream would have carried them.
pub(super) fn pieces(reply: &Reply) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut index = 0;
    for part in &reply.content {
        match part {
            Part::Text { text } => pieces.push(Piece::Text { text: text.clone() }),
            Part::ToolCall {
                id,
                name,
                arguments,
            } => {
                pieces.push(Piece::ToolCall {
                    index,
                    id: id.clone(),
                    name: name.clone(),
                });
                pieces.push(Piece::ToolArguments {
                    index,
                    delta: arguments.to_string(),
                });
                index += 1;
            }
            _ => {}
        }
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_classified_by_the_wire() {
        let failure = TransportFailure {
            status: Some(429),
            message: "slow down".into(),
            retry_after: Some("2".into()),
            ..TransportFailure::default()
        };
        let fault = failure.fault(Wire::Anthropic);
        assert_eq!(fault.kind, FailureKind::RateLimited);
        assert_eq!(
            (fault.message.as_str(), fault.retry_after_ms),
            ("slow down", Some(2000))
        );
        let overloaded = TransportFailure {
            status: Some(529),
            body: Some(
                json!({"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}),
            ),
            ..TransportFailure::default()
        };
        assert_eq!(
            overloaded.fault(Wire::Anthropic).kind,
            FailureKind::Overloaded
        );
        let reset = TransportFailure {
            message: "connection reset".into(),
            ..TransportFailure::default()
        };
        assert_eq!(reset.fault(Wire::OpenAi).kind, FailureKind::Connection);
    }

    #[test]
    fn a_whole_reply_becomes_its_deltas() {
        let reply = Reply {
            content: vec![
                Part::text("hi"),
                Part::ToolCall {
                    id: "c1".into(),
                    name: "f".into(),
                    arguments: json!({"a": 1}),
                },
            ],
            finish_reason: super::super::wire::FinishReason::ToolCalls,
            usage: Default::default(),
            model: None,
        };
        assert_eq!(
            pieces(&reply),
            vec![
                Piece::Text { text: "hi".into() },
                Piece::ToolCall {
                    index: 0,
                    id: "c1".into(),
                    name: "f".into()
                },
                Piece::ToolArguments {
                    index: 0,
                    delta: "{\"a\":1}".into()
                },
            ]
        );
    }
}
