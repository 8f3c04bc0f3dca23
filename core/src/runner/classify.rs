//! What kind of failure an agent run or a dead letter's retry met, read from its structure:
//! an explicit kind, Keel's own error code, the timeout and connection flags, the HTTP status,
//! the provider's error type, and only then the words of the message, matched as whole words
//! (so "1400ms" is not a 400 and "1500" is not a 500).
//!
//! The original runner matched substrings of the lower-cased message, in the order
//! validation, context, model, transient (`../shared/reference`, §3.2 and §3.6 item 5).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::fault::FailureKind;
use crate::llm::TransportFailure;

/// The kind of a failure, which picks its retry policy ([`super::RetryPolicy`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// A fault that goes away by itself: a 5xx, an overloaded provider, a dropped connection.
    Transient,
    /// A 429 or the provider's rate-limit error; its `Retry-After` is honoured.
    RateLimited,
    /// No answer in time (an attempt's timeout, a 408 or 504).
    Timeout,
    /// The input did not fit the model's context window.
    ContextExceeded,
    /// The model does not exist or is not served.
    ModelUnavailable,
    /// The request was wrong (a 4xx, a validation error): retrying repeats it.
    Validation,
    /// Nothing said what went wrong.
    Unknown,
}

/// Every kind, in the order of [`ErrorKind::as_str`]'s documentation.
pub const ERROR_KINDS: [ErrorKind; 7] = [
    ErrorKind::Transient,
    ErrorKind::RateLimited,
    ErrorKind::Timeout,
    ErrorKind::ContextExceeded,
    ErrorKind::ModelUnavailable,
    ErrorKind::Validation,
    ErrorKind::Unknown,
];

impl ErrorKind {
    /// `transient`, `rate_limited`, `timeout`, `context_exceeded`, `model_unavailable`,
    /// `validation` or `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Transient => "transient",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Timeout => "timeout",
            ErrorKind::ContextExceeded => "context_exceeded",
            ErrorKind::ModelUnavailable => "model_unavailable",
            ErrorKind::Validation => "validation",
            ErrorKind::Unknown => "unknown",
        }
    }

    /// The kind named `name`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `field` for any other name.
    pub fn parse(field: &str, name: &str) -> Result<Self> {
        ERROR_KINDS
            .into_iter()
            .find(|k| k.as_str() == name)
            .ok_or_else(|| {
                Error::invalid_input(
                    field,
                    format!(
                        "unknown error kind {name:?}; one of {}",
                        ERROR_KINDS.map(ErrorKind::as_str).join(", ")
                    ),
                )
            })
    }
}

/// A failure as an executor, a handler or the HTTP layer reported it. Every field is optional;
/// the more structure, the surer the kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Failure {
    /// What went wrong, in words.
    pub message: String,
    /// The kind the thrower chose; wins over everything else.
    pub kind: Option<String>,
    /// Keel's error code, when the failure is a Keel error (`rate_limited`, `timeout`, …).
    pub code: Option<String>,
    /// The HTTP status of the reply that failed.
    pub status: Option<u16>,
    /// The provider's error type (`overloaded_error`, `invalid_request_error`, …); read from
    /// `body.error.type` (or `body.error.code`) when absent.
    pub error_type: Option<String>,
    /// The reply's error body.
    pub body: Option<Value>,
    /// The reply's `Retry-After` header: seconds or an HTTP date.
    pub retry_after: Option<String>,
    /// True when the attempt ran out of time.
    pub timeout: bool,
    /// True when no connection was made, or it broke before a reply.
    pub connection: bool,
}

/// What [`classify`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Classified {
    /// The kind.
    pub kind: ErrorKind,
    /// The wait the failure asked for (`Retry-After`), in milliseconds.
    pub retry_after_ms: Option<u64>,
    /// What decided: `kind`, `code`, `timeout`, `connection`, `status`, `error_type`,
    /// `message` or `none`.
    pub by: &'static str,
}

impl From<TransportFailure> for Failure {
    fn from(t: TransportFailure) -> Self {
        Failure {
            message: t.message,
            status: t.status,
            body: t.body,
            retry_after: t.retry_after,
            kind: t.kind,
            ..Failure::default()
        }
    }
}

impl From<&Error> for Failure {
    fn from(err: &Error) -> Self {
        let call = err.call_failure();
        Failure {
            message: err.message(),
            code: Some(err.code().to_owned()),
            kind: call.map(|c| ErrorKind::of_call(c.kind).as_str().to_owned()),
            status: call.and_then(|c| c.status),
            retry_after: call
                .and_then(|c| c.retry_after_ms)
                .map(|ms| format!("{}", ms as f64 / 1000.0)),
            ..Failure::default()
        }
    }
}

impl ErrorKind {
    /// The kind of a model call's failure (the LLM layer's taxonomy).
    pub fn of_call(kind: FailureKind) -> Self {
        match kind {
            FailureKind::Timeout => ErrorKind::Timeout,
            FailureKind::RateLimited => ErrorKind::RateLimited,
            FailureKind::ServerError | FailureKind::Overloaded | FailureKind::Connection => {
                ErrorKind::Transient
            }
            FailureKind::ContextTooLong => ErrorKind::ContextExceeded,
            FailureKind::ClientError | FailureKind::ContentRefused => ErrorKind::Validation,
        }
    }
}

/// Keel error codes and their kinds.
const CODES: [(&str, ErrorKind); 11] = [
    ("timeout", ErrorKind::Timeout),
    ("rate_limited", ErrorKind::RateLimited),
    ("context_too_long", ErrorKind::ContextExceeded),
    ("content_refused", ErrorKind::Validation),
    ("invalid_input", ErrorKind::Validation),
    ("invalid_skill", ErrorKind::Validation),
    ("budget_exceeded", ErrorKind::Validation),
    ("no_model_available", ErrorKind::ModelUnavailable),
    ("connection", ErrorKind::Transient),
    ("storage", ErrorKind::Transient),
    ("provider", ErrorKind::Transient),
];

/// Provider error types (Anthropic's, OpenAI's, Gemini's statuses) and their kinds.
const ERROR_TYPES: [(&str, ErrorKind); 16] = [
    ("rate_limit_error", ErrorKind::RateLimited),
    ("rate_limit_exceeded", ErrorKind::RateLimited),
    ("resource_exhausted", ErrorKind::RateLimited),
    ("overloaded_error", ErrorKind::Transient),
    ("api_error", ErrorKind::Transient),
    ("server_error", ErrorKind::Transient),
    ("unavailable", ErrorKind::Transient),
    ("internal", ErrorKind::Transient),
    ("timeout_error", ErrorKind::Timeout),
    ("deadline_exceeded", ErrorKind::Timeout),
    ("context_length_exceeded", ErrorKind::ContextExceeded),
    ("model_not_found", ErrorKind::ModelUnavailable),
    ("not_found_error", ErrorKind::ModelUnavailable),
    ("invalid_request_error", ErrorKind::Validation),
    ("authentication_error", ErrorKind::Validation),
    ("permission_error", ErrorKind::Validation),
];

/// Phrases of a message, as whole words, in the order they are tried.
const PHRASES: [(ErrorKind, &[&str]); 6] = [
    (
        ErrorKind::ContextExceeded,
        &[
            "context length",
            "context_length_exceeded",
            "context window",
            "maximum context",
            "prompt is too long",
            "too many tokens",
            "input too large",
        ],
    ),
    (
        ErrorKind::ModelUnavailable,
        &[
            "model not found",
            "model_not_found",
            "no such model",
            "model unavailable",
            "model_unavailable",
        ],
    ),
    (
        ErrorKind::RateLimited,
        &["rate limit", "rate limited", "too many requests", "429"],
    ),
    (
        ErrorKind::Timeout,
        &["timeout", "timed out", "etimedout", "deadline exceeded"],
    ),
    (
        ErrorKind::Transient,
        &[
            "500",
            "502",
            "503",
            "529",
            "service unavailable",
            "bad gateway",
            "overloaded",
            "econnreset",
            "econnrefused",
            "connection reset",
            "connection refused",
            "network",
            "temporarily unavailable",
        ],
    ),
    (
        ErrorKind::Validation,
        &[
            "400",
            "422",
            "validation",
            "invalid request",
            "invalid_request_error",
            "bad request",
        ],
    ),
];

/// The kind of `failure`; see the module documentation for the order.
///
/// # Errors
/// [`Error::InvalidInput`] on `kind` when the explicit kind is not one of [`ERROR_KINDS`].
pub fn classify(failure: &Failure) -> Result<Classified> {
    let retry_after_ms = failure
        .retry_after
        .as_deref()
        .and_then(crate::llm::parse_retry_after);
    let (kind, by) = decide(failure)?;
    Ok(Classified {
        kind,
        retry_after_ms,
        by,
    })
}

fn decide(failure: &Failure) -> Result<(ErrorKind, &'static str)> {
    if let Some(kind) = &failure.kind {
        return Ok((ErrorKind::parse("kind", kind)?, "kind"));
    }
    if let Some(kind) = failure.code.as_deref().and_then(|c| lookup(&CODES, c)) {
        return Ok((kind, "code"));
    }
    if failure.timeout {
        return Ok((ErrorKind::Timeout, "timeout"));
    }
    if failure.connection {
        return Ok((ErrorKind::Transient, "connection"));
    }
    let words = words(&failure.message);
    let error_type = failure
        .error_type
        .clone()
        .or_else(|| body_type(&failure.body));
    if let Some(status) = failure.status {
        return Ok((of_status(status, error_type.as_deref(), &words), "status"));
    }
    if let Some(kind) = error_type.as_deref().and_then(|t| lookup(&ERROR_TYPES, t)) {
        return Ok((context_or(kind, &words), "error_type"));
    }
    Ok(PHRASES
        .iter()
        .find(|(_, phrases)| phrases.iter().any(|p| contains_phrase(&words, p)))
        .map_or((ErrorKind::Unknown, "none"), |(kind, _)| (*kind, "message")))
}

/// The kind of an HTTP status, refined by the error type and the message where a status is
/// ambiguous (a 400 that says the prompt is too long, a 404 for a model).
fn of_status(status: u16, error_type: Option<&str>, words: &[String]) -> ErrorKind {
    let typed = error_type.and_then(|t| lookup(&ERROR_TYPES, t));
    match status {
        429 => ErrorKind::RateLimited,
        408 | 504 => ErrorKind::Timeout,
        413 => ErrorKind::ContextExceeded,
        404 if typed == Some(ErrorKind::ModelUnavailable) || mentions_model(words) => {
            ErrorKind::ModelUnavailable
        }
        500..=599 => ErrorKind::Transient,
        400..=499 => context_or(typed.unwrap_or(ErrorKind::Validation), words),
        _ => typed.unwrap_or(ErrorKind::Unknown),
    }
}

/// `kind`, unless the message says the context was exceeded (providers send that as a
/// validation error).
fn context_or(kind: ErrorKind, words: &[String]) -> ErrorKind {
    let (context, phrases) = PHRASES[0];
    if kind == ErrorKind::Validation && phrases.iter().any(|p| contains_phrase(words, p)) {
        return context;
    }
    kind
}

fn mentions_model(words: &[String]) -> bool {
    PHRASES[1].1.iter().any(|p| contains_phrase(words, p)) || words.iter().any(|w| w == "model")
}

fn lookup(table: &[(&str, ErrorKind)], name: &str) -> Option<ErrorKind> {
    let name = name.to_ascii_lowercase();
    table.iter().find(|(n, _)| *n == name).map(|(_, k)| *k)
}

/// `body.error.type`, `body.error.code` (a string) or `body.error.status` (Gemini).
fn body_type(body: &Option<Value>) -> Option<String> {
    let error = body.as_ref()?.get("error")?;
    ["type", "code", "status"]
        .iter()
        .find_map(|k| error.get(k)?.as_str().map(str::to_owned))
}

/// The lower-cased words of `text`: runs of letters, digits and `_`.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// True when the words of `phrase` appear in `words` in a row.
fn contains_phrase(words: &[String], phrase: &str) -> bool {
    let wanted: Vec<&str> = phrase.split(' ').collect();
    words
        .windows(wanted.len())
        .any(|w| w.iter().zip(&wanted).all(|(a, b)| a == b))
}

/// The kind of `failure` and the wait it asks for. An explicit kind that is not one of
/// Keel's is recorded as `unknown`, never a crash of the run.
pub(super) fn kind_of(failure: &Failure) -> (ErrorKind, Option<u64>) {
    let classified = classify(failure).or_else(|_| {
        classify(&Failure {
            kind: None,
            ..failure.clone()
        })
    });
    classified.map_or((ErrorKind::Unknown, None), |c| (c.kind, c.retry_after_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind_of(message: &str) -> ErrorKind {
        classify(&Failure {
            message: message.into(),
            ..Failure::default()
        })
        .unwrap()
        .kind
    }

    #[test]
    fn numbers_match_as_whole_words_only() {
        assert_eq!(kind_of("took 1400ms then failed"), ErrorKind::Unknown);
        assert_eq!(kind_of("status 400: bad field"), ErrorKind::Validation);
        assert_eq!(kind_of("limit is 1500 rows"), ErrorKind::Unknown);
        assert_eq!(kind_of("HTTP 503 from upstream"), ErrorKind::Transient);
    }

    #[test]
    fn structure_wins_over_words() {
        let failure = Failure {
            message: "validation of the reply timed out".into(),
            status: Some(529),
            ..Failure::default()
        };
        assert_eq!(classify(&failure).unwrap().kind, ErrorKind::Transient);
        let anthropic = Failure {
            status: Some(400),
            body: Some(serde_json::json!({"type": "error", "error": {
                "type": "invalid_request_error", "message": "prompt is too long: 210000 tokens"}})),
            message: "prompt is too long: 210000 tokens".into(),
            ..Failure::default()
        };
        assert_eq!(
            classify(&anthropic).unwrap().kind,
            ErrorKind::ContextExceeded
        );
    }

    #[test]
    fn an_unknown_explicit_kind_is_refused() {
        let failure = Failure {
            kind: Some("flaky".into()),
            ..Failure::default()
        };
        assert_eq!(classify(&failure).unwrap_err().field(), Some("kind"));
    }
}
