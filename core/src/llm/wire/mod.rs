//! Each provider's wire format: the request body built from the neutral shape, the reply and
//! the error read back into it. Pure functions of JSON values, no I/O, so every mapping is
//! tested without a server.

use serde_json::Value;

use super::message::{Message, Part, Tool};
use crate::fault::FailureKind;

pub mod anthropic;
mod deltas;
pub mod gemini;
pub mod openai;
pub mod stream;

/// The wire formats Keel speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// Anthropic Messages API.
    Anthropic,
    /// OpenAI-compatible Chat Completions (OpenAI, Azure-style deployments, vLLM, Ollama,
    /// OpenRouter).
    OpenAi,
    /// Google Gemini `generateContent`.
    Gemini,
}

impl Wire {
    /// The wire of a canonical provider name (see [`crate::models::PROVIDERS`]).
    pub fn of(provider: &str) -> Option<Wire> {
        match provider {
            "anthropic" => Some(Wire::Anthropic),
            "google" => Some(Wire::Gemini),
            "openai" | "openrouter" => Some(Wire::OpenAi),
            _ => None,
        }
    }

    /// The OpenTelemetry `gen_ai.provider.name` of a provider on this wire.
    pub fn otel_name(self, provider: &str) -> &'static str {
        match (self, provider) {
            (Wire::Anthropic, _) => "anthropic",
            (Wire::Gemini, _) => "gcp.gemini",
            (Wire::OpenAi, "openai") => "openai",
            (Wire::OpenAi, _) => "openai_compatible",
        }
    }
}

/// What one attempt sends: the model, the conversation (system text apart, no system turns)
/// and the generation settings.
#[derive(Debug, Clone, Copy)]
pub struct Prompt<'a> {
    /// The provider's model id.
    pub model: &'a str,
    /// Instructions.
    pub system: Option<&'a str>,
    /// User, assistant and tool turns.
    pub messages: &'a [Message],
    /// Tools the model may call.
    pub tools: &'a [Tool],
    /// Most tokens of the reply.
    pub max_tokens: u32,
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// Stop sequences.
    pub stop: &'a [String],
    /// Ask for server-sent events.
    pub stream: bool,
}

/// Why a reply ended, in OpenTelemetry's `gen_ai.response.finish_reasons` vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model finished, or hit a stop sequence.
    Stop,
    /// It hit `max_tokens`.
    Length,
    /// It asks for tools to run.
    ToolCalls,
    /// A safety filter ended it.
    ContentFilter,
    /// Anything else the provider said.
    Other,
}

impl FinishReason {
    /// `stop`, `length`, `tool_calls`, `content_filter` or `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::ToolCalls => "tool_calls",
            FinishReason::ContentFilter => "content_filter",
            FinishReason::Other => "other",
        }
    }
}

/// Tokens a call used, as the provider reported them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct TokenUsage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Reply tokens.
    pub output_tokens: u64,
}

/// A provider's reply in the neutral shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// Text and tool-call parts, in order.
    pub content: Vec<Part>,
    /// Why it ended.
    pub finish_reason: FinishReason,
    /// Tokens used.
    pub usage: TokenUsage,
    /// The model that answered, when the provider says.
    pub model: Option<String>,
}

/// A failed attempt, classified.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// Whose fault, and what kind.
    pub kind: FailureKind,
    /// The HTTP status, when there was one.
    pub status: Option<u16>,
    /// The provider's message.
    pub message: String,
    /// `Retry-After`, in milliseconds.
    pub retry_after_ms: Option<u64>,
    /// Usage the provider billed anyway (a refusal, a stream cut short).
    pub usage: Option<TokenUsage>,
}

impl Fault {
    /// A fault of `kind` with `message`.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            status: None,
            message: message.into(),
            retry_after_ms: None,
            usage: None,
        }
    }

    /// A reply that is not the documented shape: the provider's fault.
    pub fn malformed(what: &str) -> Self {
        Self::new(FailureKind::ServerError, format!("malformed reply: {what}"))
    }

    /// The error of a call that ended on this fault at `provider`'s `model`, with every
    /// attempt made.
    pub(crate) fn into_error(
        self,
        provider: String,
        model: String,
        attempts: Vec<crate::fault::Attempt>,
    ) -> crate::Error {
        crate::Error::Call(Box::new(crate::fault::CallFailure {
            kind: self.kind,
            provider,
            model,
            status: self.status,
            message: self.message,
            retry_after_ms: self.retry_after_ms,
            attempts,
        }))
    }
}

/// The fault of an HTTP error reply: the status's kind ([`FailureKind::from_status`]) refined
/// by the body. `message` and `code` are read from the provider's error object;
/// `context_too_long` recognises the provider's "prompt too long" answers given as a 400.
pub(crate) fn http_fault(
    status: u16,
    message: String,
    code: &str,
    overloaded: bool,
    context_too_long: bool,
) -> Fault {
    let mut kind = FailureKind::from_status(Some(status));
    if overloaded {
        kind = FailureKind::Overloaded;
    } else if kind == FailureKind::ClientError && context_too_long {
        kind = FailureKind::ContextTooLong;
    }
    let message = if message.is_empty() {
        code.to_owned()
    } else {
        message
    };
    Fault {
        kind,
        status: Some(status),
        message,
        retry_after_ms: None,
        usage: None,
    }
}

/// `value[key]` as text, or "".
pub(crate) fn text_at<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// `value[key]` as a count, or 0.
pub(crate) fn count_at(value: &Value, key: &str) -> u64 {
    value.get(key).and_then(Value::as_u64).unwrap_or_default()
}

/// The name of the tool a result answers: its own, else the name of the call with its id.
pub(crate) fn tool_name<'a>(messages: &'a [Message], call_id: &str) -> Option<&'a str> {
    messages
        .iter()
        .flat_map(|m| &m.content)
        .find_map(|p| match p {
            Part::ToolCall { id, name, .. } if id == call_id => Some(name.as_str()),
            _ => None,
        })
}

/// Whether `text` mentions a prompt over the context window, as providers phrase it.
pub(crate) fn says_too_long(text: &str) -> bool {
    let text = text.to_ascii_lowercase();
    [
        "prompt is too long",
        "context length",
        "context_length",
        "maximum context",
        "too many tokens",
        "exceeds the maximum number of tokens",
        "input token count",
    ]
    .iter()
    .any(|p| text.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_faults_refine_the_status() {
        let f = http_fault(400, "prompt is too long".into(), "", false, true);
        assert_eq!(f.kind, FailureKind::ContextTooLong);
        let f = http_fault(500, "x".into(), "", false, true);
        assert_eq!(f.kind, FailureKind::ServerError);
        let f = http_fault(503, String::new(), "UNAVAILABLE", true, false);
        assert_eq!(
            (f.kind, f.message.as_str()),
            (FailureKind::Overloaded, "UNAVAILABLE")
        );
        assert!(says_too_long(
            "This model's maximum context length is 8192 tokens"
        ));
        assert!(!says_too_long("invalid api key"));
    }
}
