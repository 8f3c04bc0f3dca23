//! The one error type of the Keel core.
//!
//! Every variant has a stable machine code ([`Error::code`]) that the Python and Node bindings
//! expose unchanged (`keel.KeelError.code`, `err.code`). Codes are part of the public API: they
//! never change meaning once released, and tests assert codes, not message text.
//!
//! Messages that mention a database URL always carry it masked (see
//! [`crate::store::mask_url`]), so an error can be logged without leaking a password.

use crate::diagnostic::Diagnostic;
use crate::fault::CallFailure;

/// A `Result` whose error is the Keel [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in Keel.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A caller passed a value Keel cannot use. `field` names the offending argument.
    #[error("invalid {field}: {message}")]
    InvalidInput {
        /// The argument or field at fault, e.g. `options.max_connections`.
        field: String,
        /// What is wrong with it.
        message: String,
    },

    /// A database URL that Keel cannot parse or whose scheme it does not support.
    #[error("invalid database URL {url}: {reason}")]
    InvalidUrl {
        /// The URL as given, password masked.
        url: String,
        /// Why it was rejected.
        reason: String,
    },

    /// The database could not be reached or opened: PostgreSQL refused or timed out, or the
    /// SQLite file could not be created or opened.
    #[error("cannot connect to {url}: {source}")]
    Connection {
        /// The URL, password masked.
        url: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },

    /// Applying the embedded migrations failed.
    #[error("migrations failed on {url}: {source}")]
    Migration {
        /// The URL, password masked.
        url: String,
        /// The migrator's error.
        #[source]
        source: sqlx::migrate::MigrateError,
    },

    /// A query failed after the connection was established.
    #[error("storage error: {0}")]
    Storage(#[source] sqlx::Error),

    /// An operation did not finish within its time limit.
    #[error("{operation} timed out after {after_ms} ms")]
    Timeout {
        /// What was being done.
        operation: String,
        /// The limit that was hit, in milliseconds.
        after_ms: u64,
    },

    /// The caller gave up on the operation before it finished (a Node `AbortSignal`); work
    /// already handed to the database may still complete.
    #[error("the operation was aborted by its caller")]
    Aborted,

    /// The handle was closed with [`crate::Keel::close`] and cannot be used any more.
    #[error("the Keel handle is closed")]
    Closed,

    /// The handle was created in a parent process and used after `fork()`. Database
    /// connections and runtime threads do not survive a fork; connect again in the child.
    #[error(
        "this Keel handle was created in process {parent_pid} and used after fork() in process \
         {child_pid}; call connect() again in the child process"
    )]
    Forked {
        /// The process that created the handle.
        parent_pid: u32,
        /// The process that tried to use it.
        child_pid: u32,
    },

    /// No model can serve a request: nothing is configured for the feature and tier, or every
    /// candidate's circuit is open.
    #[error(
        "no model available for feature `{feature}` tier `{tier}`: {}",
        match reason {
            Unavailable::NotConfigured => "no primary or fallback is configured".to_owned(),
            Unavailable::AllCircuitsOpen =>
                format!("the circuits of all {candidates} candidate(s) are open"),
        }
    )]
    NoModelAvailable {
        /// The feature asked for.
        feature: &'static str,
        /// The tier resolved.
        tier: &'static str,
        /// Why nothing serves.
        reason: Unavailable,
        /// How many candidates were configured.
        candidates: usize,
    },

    /// A debit would take an org's balance below its grace threshold.
    #[error(
        "budget exceeded for org {org_id}: {requested} credit(s) requested, {remaining} remaining"
    )]
    BudgetExceeded {
        /// The org.
        org_id: uuid::Uuid,
        /// Credits asked for.
        requested: f64,
        /// The balance now.
        remaining: f64,
    },

    /// A SKILL.md (or a library of them) failed validation. Every error finding is kept, each
    /// with its file, line, column and stable code.
    #[error("{}", invalid_skill_message(diagnostics))]
    InvalidSkill {
        /// The error findings, file by file.
        diagnostics: Vec<Diagnostic>,
    },

    /// A model call failed on every candidate it was allowed to try. The code follows the last
    /// failure's kind ([`crate::fault::FailureKind::error_code`]): `rate_limited`, `timeout`,
    /// `content_refused`, `context_too_long` or `provider`; every attempt is kept.
    #[error("{0}")]
    Call(Box<CallFailure>),

    /// An agent run's credit budget is spent: the step it refused, and what was used of
    /// which limit (code `budget_exceeded`, as an org's balance).
    #[error("{0}")]
    RunBudgetExceeded(String),

    /// The queue sheds load: an enqueue into a low lane (2 or 3) while the backlog is past
    /// the shedding threshold. Retry after `retry_after_ms`; lanes 0 and 1 are never refused.
    #[error(
        "the queue is overloaded ({mode}: {depth} items waiting); lane {lane} enqueues are refused, retry in {retry_after_ms} ms"
    )]
    Overloaded {
        /// The lane refused.
        lane: u8,
        /// The queue's mode (`shed`).
        mode: &'static str,
        /// Items waiting when it refused.
        depth: u64,
        /// When to try again, in milliseconds.
        retry_after_ms: u64,
    },

    /// A call to an outside service's API (Slack's Web API) failed after the retries it was
    /// allowed. `error` is the service's own word for it (Slack's `error` field, or the HTTP
    /// status); the code follows `kind` ([`crate::fault::FailureKind::error_code`]):
    /// `rate_limited`, `timeout` or `provider`.
    #[error("{service} {method} failed: {error}")]
    Service {
        /// The service (`slack`).
        service: &'static str,
        /// The API method (`chat.postMessage`).
        method: String,
        /// What the service said.
        error: String,
        /// Whose fault, in the model calls' taxonomy.
        kind: crate::fault::FailureKind,
        /// The service's `Retry-After`, in milliseconds, when it gave one.
        retry_after_ms: Option<u64>,
    },

    /// A bug in Keel, or a panic caught at the FFI boundary. Please report it.
    #[error("internal error: {0}")]
    Internal(String),
}

fn invalid_skill_message(diagnostics: &[Diagnostic]) -> String {
    match diagnostics {
        [] => "invalid skill".to_owned(),
        [only] => format!("invalid skill: {only}"),
        [first, rest @ ..] => format!("invalid skill: {first} (and {} more)", rest.len()),
    }
}

impl Error {
    /// Every code [`Error::code`] can return, in a stable order. Bindings use it to build one
    /// exception class per code and tests use it to check that none is missing.
    pub const CODES: &'static [&'static str] = &[
        "invalid_input",
        "invalid_url",
        "connection",
        "migration",
        "storage",
        "timeout",
        "aborted",
        "closed",
        "forked",
        "no_model_available",
        "budget_exceeded",
        "invalid_skill",
        "internal",
        "provider",
        "rate_limited",
        "content_refused",
        "context_too_long",
        "overloaded",
    ];

    /// The stable machine code of this error, e.g. `"invalid_url"`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidInput { .. } => "invalid_input",
            Error::InvalidUrl { .. } => "invalid_url",
            Error::Connection { .. } => "connection",
            Error::Migration { .. } => "migration",
            Error::Storage(_) => "storage",
            Error::Timeout { .. } => "timeout",
            Error::Aborted => "aborted",
            Error::Closed => "closed",
            Error::Forked { .. } => "forked",
            Error::NoModelAvailable { .. } => "no_model_available",
            Error::BudgetExceeded { .. } | Error::RunBudgetExceeded(_) => "budget_exceeded",
            Error::InvalidSkill { .. } => "invalid_skill",
            Error::Internal(_) => "internal",
            Error::Overloaded { .. } => "overloaded",
            Error::Call(failure) => failure.kind.error_code(),
            Error::Service { kind, .. } => kind.error_code(),
        }
    }

    /// The failed model call behind a `provider`, `rate_limited`, `timeout`,
    /// `content_refused` or `context_too_long` error: its attempts and `Retry-After`.
    pub fn call_failure(&self) -> Option<&CallFailure> {
        match self {
            Error::Call(failure) => Some(failure),
            _ => None,
        }
    }

    /// How long to wait before trying again: a provider's or a service's `Retry-After`, or
    /// the queue's wait for an `overloaded` enqueue.
    pub fn retry_after_ms(&self) -> Option<u64> {
        match self {
            Error::Call(failure) => failure.retry_after_ms,
            Error::Service { retry_after_ms, .. } => *retry_after_ms,
            Error::Overloaded { retry_after_ms, .. } => Some(*retry_after_ms),
            _ => None,
        }
    }

    /// The argument or field at fault, for errors caused by bad input.
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::InvalidInput { field, .. } => Some(field),
            Error::InvalidUrl { .. } => Some("url"),
            Error::InvalidSkill { diagnostics } => {
                diagnostics.first().and_then(|d| d.field.as_deref())
            }
            _ => None,
        }
    }

    /// What is wrong, without the field: the message of an [`Error::InvalidInput`], the
    /// display text of any other error.
    pub fn message(&self) -> String {
        match self {
            Error::InvalidInput { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }

    /// The error as one JSON object: `code`, `message`, `field` (or null), `diagnostics` (empty
    /// unless `invalid_skill`) and `causes`, outermost first. What `--json` commands print.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "code": self.code(),
            "message": self.to_string(),
            "field": self.field(),
            "diagnostics": self.diagnostics(),
            "causes": self.causes(),
        })
    }

    /// The findings of an [`Error::InvalidSkill`]; empty for every other error.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            Error::InvalidSkill { diagnostics } => diagnostics,
            _ => &[],
        }
    }

    /// Shorthand for [`Error::InvalidInput`].
    pub fn invalid_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidInput {
            field: field.into(),
            message: message.into(),
        }
    }

    /// A storage error that says the database was not reached (an I/O or TLS failure, or no
    /// connection within the pool's timeout) becomes [`Error::Connection`] to `masked_url`;
    /// anything else is returned unchanged.
    pub fn unreachable_as_connection(self, masked_url: &str) -> Self {
        match self {
            Error::Storage(
                source @ (sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut),
            ) => Error::Connection {
                url: masked_url.to_owned(),
                source,
            },
            other => other,
        }
    }

    /// Builds an [`Error::Internal`] from a caught panic payload, for the FFI boundary.
    pub fn from_panic(payload: &(dyn std::any::Any + Send)) -> Self {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic with a non-string payload".to_owned());
        Error::Internal(format!("panic: {message}"))
    }

    /// The chain of underlying causes, outermost first, as display strings.
    pub fn causes(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut next = std::error::Error::source(self);
        while let Some(err) = next {
            out.push(err.to_string());
            next = err.source();
        }
        out
    }
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::PoolClosed => Error::Closed,
            other => Error::Storage(other),
        }
    }
}

/// Why nothing could serve a request (`no_model_available`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// The matrix has no primary (and no fallback) for the feature and tier.
    NotConfigured,
    /// Every configured candidate's circuit is open.
    AllCircuitsOpen,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreached_database_is_a_connection_error_with_its_cause() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let err = Error::Storage(sqlx::Error::Io(io)).unreachable_as_connection("postgres://***@h");
        assert_eq!(err.code(), "connection");
        assert!(
            err.causes().iter().any(|c| c.contains("refused")),
            "{:?}",
            err.causes()
        );
        let json = err.to_json();
        assert_eq!(json["code"], "connection");
        assert_eq!(json["field"], serde_json::Value::Null);
        assert_eq!(json["causes"], serde_json::json!(err.causes()));
        // A database that answered with an error stays a storage error.
        let answered = Error::Storage(sqlx::Error::RowNotFound).unreachable_as_connection("x");
        assert_eq!(answered.code(), "storage");
    }

    #[test]
    fn a_panic_payload_becomes_an_internal_error() {
        for payload in [
            Box::new("static text") as Box<dyn std::any::Any + Send>,
            Box::new(String::from("owned text")),
            Box::new(7_u8),
        ] {
            let err = Error::from_panic(payload.as_ref());
            assert_eq!(err.code(), "internal");
            assert!(err.to_string().contains("panic:"), "{err}");
        }
        let err = Error::from_panic(&"boom");
        assert!(err.to_string().contains("boom"));
        assert!(Error::invalid_input("f", "bad").causes().is_empty());
    }
}
