//! One taxonomy of what goes wrong with a model call, shared by the circuit breaker
//! ([`crate::models`]), the LLM client ([`crate::llm`]) and the agent runner to come.
//!
//! A [`FailureKind`] says whose fault a failure is: the provider's faults count toward opening
//! a circuit and are worth a fallback; the caller's (a bad request, a prompt too long, a
//! refusal) are neither, because another model would fail or refuse the same way.

use std::str::FromStr;

use crate::error::{Error, Result};

/// What went wrong with a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// No answer in time.
    Timeout,
    /// A 5xx, or a reply that is not the provider's documented shape.
    ServerError,
    /// A 429.
    RateLimited,
    /// The provider said it is overloaded (Anthropic's 529).
    Overloaded,
    /// The request was at fault (4xx validation, auth): the model is fine.
    ClientError,
    /// The prompt did not fit the context window: the model is fine.
    ContextTooLong,
    /// The model declined to answer (a safety refusal): the model is fine.
    ContentRefused,
    /// The provider could not be reached, or the connection broke before a reply.
    Connection,
}

/// Every kind, in the order [`FailureKind::as_str`] documents.
const KINDS: [FailureKind; 8] = [
    FailureKind::Timeout,
    FailureKind::ServerError,
    FailureKind::RateLimited,
    FailureKind::Overloaded,
    FailureKind::ClientError,
    FailureKind::ContextTooLong,
    FailureKind::ContentRefused,
    FailureKind::Connection,
];

impl FailureKind {
    /// True for the provider's faults, the only ones that count toward opening a circuit and
    /// that a call falls back on.
    pub fn counts(self) -> bool {
        matches!(
            self,
            FailureKind::Timeout
                | FailureKind::ServerError
                | FailureKind::RateLimited
                | FailureKind::Overloaded
                | FailureKind::Connection
        )
    }

    /// The kind of an HTTP status: 429 rate limited, 529 overloaded, 408/504 timeout, other 5xx
    /// server error, 413 context too long, other 4xx client error. Anything else (no status, a
    /// network error) is a timeout: the provider did not answer.
    pub fn from_status(status: Option<u16>) -> Self {
        match status {
            Some(429) => FailureKind::RateLimited,
            Some(529) => FailureKind::Overloaded,
            Some(408) | Some(504) => FailureKind::Timeout,
            Some(413) => FailureKind::ContextTooLong,
            Some(s) if (500..600).contains(&s) => FailureKind::ServerError,
            Some(s) if (400..500).contains(&s) => FailureKind::ClientError,
            _ => FailureKind::Timeout,
        }
    }

    /// `timeout`, `server_error`, `rate_limited`, `overloaded`, `client_error`,
    /// `context_too_long`, `content_refused` or `connection`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Timeout => "timeout",
            FailureKind::ServerError => "server_error",
            FailureKind::RateLimited => "rate_limited",
            FailureKind::Overloaded => "overloaded",
            FailureKind::ClientError => "client_error",
            FailureKind::ContextTooLong => "context_too_long",
            FailureKind::ContentRefused => "content_refused",
            FailureKind::Connection => "connection",
        }
    }

    /// The [`Error::code`] a call that ended on this kind fails with: `rate_limited`,
    /// `timeout`, `content_refused`, `context_too_long`, else `provider`.
    pub fn error_code(self) -> &'static str {
        match self {
            FailureKind::RateLimited => "rate_limited",
            FailureKind::Timeout => "timeout",
            FailureKind::ContentRefused => "content_refused",
            FailureKind::ContextTooLong => "context_too_long",
            _ => "provider",
        }
    }
}

impl FromStr for FailureKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        KINDS.into_iter().find(|k| k.as_str() == s).ok_or_else(|| {
            let names: Vec<_> = KINDS.iter().map(|k| k.as_str()).collect();
            Error::invalid_input("kind", format!("`{s}` is not one of {}", names.join(", ")))
        })
    }
}

/// One try of one model during a call.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Attempt {
    /// The provider called.
    pub provider: String,
    /// The model asked for.
    pub model: String,
    /// `ok`, or the [`FailureKind`] it failed with.
    pub outcome: String,
    /// The HTTP status, when the provider answered.
    pub status: Option<u16>,
    /// From the request to its end (the last byte, or the failure), in milliseconds.
    pub latency_ms: f64,
    /// How long the provider asked us to wait (`Retry-After`), in milliseconds.
    pub retry_after_ms: Option<u64>,
}

/// A model call that failed: the last failure, and every attempt made.
#[derive(Debug, Clone, PartialEq)]
pub struct CallFailure {
    /// What the last attempt failed with.
    pub kind: FailureKind,
    /// The provider of the last attempt.
    pub provider: String,
    /// The model of the last attempt.
    pub model: String,
    /// The HTTP status, when the provider answered.
    pub status: Option<u16>,
    /// The provider's own error message (keys never appear in it).
    pub message: String,
    /// How long the provider asked us to wait, in milliseconds.
    pub retry_after_ms: Option<u64>,
    /// Every attempt, in order.
    pub attempts: Vec<Attempt>,
}

impl std::fmt::Display for CallFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} failed ({}",
            self.provider,
            self.model,
            self.kind.as_str()
        )?;
        if let Some(status) = self.status {
            write!(f, ", HTTP {status}")?;
        }
        write!(f, ")")?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if self.attempts.len() > 1 {
            write!(f, " after {} attempts", self.attempts.len())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_name() {
        for kind in KINDS {
            assert_eq!(kind.as_str().parse::<FailureKind>().unwrap(), kind);
        }
        let err = "nope".parse::<FailureKind>().unwrap_err();
        assert_eq!(err.field(), Some("kind"));
    }

    #[test]
    fn only_provider_faults_count() {
        let counted: Vec<_> = KINDS.into_iter().filter(|k| k.counts()).collect();
        assert_eq!(
            counted,
            [
                FailureKind::Timeout,
                FailureKind::ServerError,
                FailureKind::RateLimited,
                FailureKind::Overloaded,
                FailureKind::Connection
            ]
        );
    }

    #[test]
    fn error_codes_follow_the_kind() {
        let codes: Vec<_> = KINDS.iter().map(|k| k.error_code()).collect();
        assert_eq!(
            codes,
            [
                "timeout",
                "provider",
                "rate_limited",
                "provider",
                "provider",
                "context_too_long",
                "content_refused",
                "provider"
            ]
        );
        for code in codes {
            assert!(Error::CODES.contains(&code), "{code}");
        }
    }
}
