//! Core errors as one uniffi error enum: a variant per stable code (`keel::Error::CODES`),
//! each carrying the code, the message, the field at fault, the retry hint, a skill's findings
//! and a model call's attempts. Kotlin sees `KeelException.InvalidInput(code, detail, …)` and
//! so on (and `e.info` for any of them); Swift a `KeelError` enum.

/// A Keel failure. The variant names the stable code; `detail` says what went wrong (any
/// URL's password masked); `field` names the offending argument when bad input caused it;
/// `retry_after_ms` says when to try again where a provider or the queue said;
/// `diagnostics_json` lists an `invalid_skill`'s findings and `attempts_json` a failed model
/// call's attempts (JSON, camelCase).
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum KeelError {
    /// `invalid_input`: an argument or option Keel cannot use.
    #[error("{detail}")]
    InvalidInput {
        code: String,
        detail: String,
        field: Option<String>,
        retry_after_ms: Option<u64>,
        diagnostics_json: Option<String>,
        attempts_json: Option<String>,
    },
    /// `invalid_url`: a database URL Keel does not accept.
    #[error("{detail}")]
    InvalidUrl {
        code: String,
        detail: String,
        field: Option<String>,
        retry_after_ms: Option<u64>,
        diagnostics_json: Option<String>,
        attempts_json: Option<String>,
    },
    /// `connection`: the database could not be reached or opened.
    #[error("{detail}")]
    Connection {
        code: String,
        detail: String,
        field: Option<String>,
        retry_after_ms: Option<u64>,
        diagnostics_json: Option<String>,
        attempts_json: Option<String>,
    },
    /// `migration`: migrations failed.
    #[error("{detail}")]
    Migration {
        code: String,
        detail: String,
        field: Option<String>,
        retry_after_ms: Option<u64>,
        diagnostics_json: Option<String>,
        attempts_json: Option<String>,
    },
    /// `storage`: a statement failed.
    #[error("{detail}")]
    Storage {
        code: String,
        detail: String,
        field: Option<String>,
        retry_after_ms: Option<u64>,
        diagnostics_json: Option<String>,
        attempts_json: Option<String>,
    },
    /// `timeout`: a deadline passed.
    #[error("{detail}")]
    Timeout {
        code: String,
        detail: String,
        field: Option<String>,
        retry_after_ms: Option<u64>,
        diagnostics_json: Option<String>,
        attempts_json: Option<String>,
    },
    /// `aborted`: the caller cancelled.
    #[error("{detail}")]
    Aborted {
        code: String,
        detail: String,
        field: Option<String>,
        retry_after_ms: Option<u64>,
        diagnostics_json: Option<String>,
        attempts_json: Option<String>,
    },
    /// `closed`: the handle was closed.
    #[error("{detail}")]
    Closed {
        code: String,
        detail: String,
        field: Option<String>,
        retry_after_ms: Option<u64>,
        diagnostics_json: Option<String>,
        attempts_json: Option<String>,
    },
    /// `forked`: the handle was opened in a parent process.
    #[error("{detail}")]
    Forked {
        code: String,
        detail: String,
        field: Option<String>,
        retry_after_ms: Option<u64>,
        diagnostics_json: Option<String>,
        attempts_json: Option<String>,
    },
    /// `no_model_available`: every candidate model's circuit is open.
    #[error("{detail}")]
    NoModelAvailable {
        code: String,
        detail: String,
        field: Option<String>,
        retry_after_ms: Option<u64>,
        diagnostics_json: Option<String>,
        attempts_json: Option<String>,
    },
    /// `budget_exceeded`: not enough credits.
    #[error("{detail}")]
    BudgetExceeded {
        code: String,
        detail: String,
        field: Option<String>,
        retry_after_ms: Option<u64>,
        diagnostics_json: Option<String>,
        attempts_json: Option<String>,
    },
    /// `invalid_skill`: a SKILL.md that does not validate.
    #[error("{detail}")]
    InvalidSkill {
        code: String,
        detail: String,
        field: Option<String>,
        retry_after_ms: Option<u64>,
        diagnostics_json: Option<String>,
        attempts_json: Option<String>,
    },
    /// `internal`: a bug in Keel.
    #[error("{detail}")]
    Internal {
        code: String,
        detail: String,
        field: Option<String>,
        retry_after_ms: Option<u64>,
        diagnostics_json: Option<String>,
        attempts_json: Option<String>,
    },
    /// `provider`: a model provider failed.
    #[error("{detail}")]
    Provider {
        code: String,
        detail: String,
        field: Option<String>,
        retry_after_ms: Option<u64>,
        diagnostics_json: Option<String>,
        attempts_json: Option<String>,
    },
    /// `rate_limited`: a provider or a service said to slow down.
    #[error("{detail}")]
    RateLimited {
        code: String,
        detail: String,
        field: Option<String>,
        retry_after_ms: Option<u64>,
        diagnostics_json: Option<String>,
        attempts_json: Option<String>,
    },
    /// `content_refused`: the provider refused the content.
    #[error("{detail}")]
    ContentRefused {
        code: String,
        detail: String,
        field: Option<String>,
        retry_after_ms: Option<u64>,
        diagnostics_json: Option<String>,
        attempts_json: Option<String>,
    },
    /// `context_too_long`: the request exceeds the model's context.
    #[error("{detail}")]
    ContextTooLong {
        code: String,
        detail: String,
        field: Option<String>,
        retry_after_ms: Option<u64>,
        diagnostics_json: Option<String>,
        attempts_json: Option<String>,
    },
    /// `overloaded`: the queue refused more work for now.
    #[error("{detail}")]
    Overloaded {
        code: String,
        detail: String,
        field: Option<String>,
        retry_after_ms: Option<u64>,
        diagnostics_json: Option<String>,
        attempts_json: Option<String>,
    },
}

/// What every variant carries.
struct Fields {
    detail: String,
    field: Option<String>,
    retry_after_ms: Option<u64>,
    diagnostics_json: Option<String>,
    attempts_json: Option<String>,
}

/// The variant of the stable code `code`; `None` for a code this enum lacks.
fn of_code(code: &str, f: Fields) -> Option<KeelError> {
    macro_rules! variants {
        ($($name:literal => $variant:ident),* $(,)?) => {
            match code {
                $($name => Some(KeelError::$variant {
                    code: $name.to_owned(),
                    detail: f.detail,
                    field: f.field,
                    retry_after_ms: f.retry_after_ms,
                    diagnostics_json: f.diagnostics_json,
                    attempts_json: f.attempts_json,
                }),)*
                _ => None,
            }
        };
    }
    variants! {
        "invalid_input" => InvalidInput,
        "invalid_url" => InvalidUrl,
        "connection" => Connection,
        "migration" => Migration,
        "storage" => Storage,
        "timeout" => Timeout,
        "aborted" => Aborted,
        "closed" => Closed,
        "forked" => Forked,
        "no_model_available" => NoModelAvailable,
        "budget_exceeded" => BudgetExceeded,
        "invalid_skill" => InvalidSkill,
        "internal" => Internal,
        "provider" => Provider,
        "rate_limited" => RateLimited,
        "content_refused" => ContentRefused,
        "context_too_long" => ContextTooLong,
        "overloaded" => Overloaded,
    }
}

impl From<keel::Error> for KeelError {
    fn from(err: keel::Error) -> Self {
        let diagnostics = err.diagnostics();
        let fields = || Fields {
            detail: err.to_string(),
            field: err.field().map(str::to_owned),
            retry_after_ms: err.retry_after_ms(),
            diagnostics_json: (!diagnostics.is_empty()).then(|| crate::json::record(diagnostics)),
            attempts_json: err.call_failure().map(|f| crate::json::record(&f.attempts)),
        };
        of_code(err.code(), fields()).unwrap_or_else(|| {
            // A code added to core and not here (the test below keeps them in step).
            let mut fields = fields();
            fields.detail = format!("[{}] {}", err.code(), fields.detail);
            of_code("internal", fields).expect("internal has a variant")
        })
    }
}

/// A host callback (a `Summarizer`, an `EntityResolver`) that threw something other than a
/// `KeelException`: `internal`, with its message.
impl From<uniffi::UnexpectedUniFFICallbackError> for KeelError {
    fn from(err: uniffi::UnexpectedUniFFICallbackError) -> Self {
        let fields = Fields {
            detail: format!("a callback failed: {}", err.reason),
            field: None,
            retry_after_ms: None,
            diagnostics_json: None,
            attempts_json: None,
        };
        of_code("internal", fields).expect("internal has a variant")
    }
}

/// Every stable error code, in `keel::Error::CODES` order.
#[uniffi::export]
pub fn error_codes() -> Vec<String> {
    keel::Error::CODES.iter().map(|c| (*c).to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::KeelError;

    /// The code a variant carries.
    fn code(err: &KeelError) -> &str {
        match err {
            KeelError::InvalidInput { code, .. }
            | KeelError::InvalidUrl { code, .. }
            | KeelError::Connection { code, .. }
            | KeelError::Migration { code, .. }
            | KeelError::Storage { code, .. }
            | KeelError::Timeout { code, .. }
            | KeelError::Aborted { code, .. }
            | KeelError::Closed { code, .. }
            | KeelError::Forked { code, .. }
            | KeelError::NoModelAvailable { code, .. }
            | KeelError::BudgetExceeded { code, .. }
            | KeelError::InvalidSkill { code, .. }
            | KeelError::Internal { code, .. }
            | KeelError::Provider { code, .. }
            | KeelError::RateLimited { code, .. }
            | KeelError::ContentRefused { code, .. }
            | KeelError::ContextTooLong { code, .. }
            | KeelError::Overloaded { code, .. } => code,
        }
    }

    /// The variant's name in snake_case: each stable code has the variant of its own name.
    fn variant(err: &KeelError) -> String {
        let debug = format!("{err:?}");
        let name = debug.split([' ', '{']).next().unwrap_or_default();
        let mut snake = String::new();
        for (i, c) in name.chars().enumerate() {
            if c.is_uppercase() && i > 0 {
                snake.push('_');
            }
            snake.push(c.to_ascii_lowercase());
        }
        snake
    }

    #[test]
    fn every_stable_code_has_its_own_variant() {
        assert_eq!(super::error_codes(), keel::Error::CODES);
        for name in keel::Error::CODES {
            let fields = super::Fields {
                detail: "d".into(),
                field: None,
                retry_after_ms: None,
                diagnostics_json: None,
                attempts_json: None,
            };
            let mapped =
                super::of_code(name, fields).unwrap_or_else(|| panic!("no variant for {name}"));
            assert_eq!(code(&mapped), *name);
            assert_eq!(variant(&mapped), *name);
        }
    }

    #[test]
    fn a_core_error_crosses_with_its_field_and_message() {
        let err = KeelError::from(keel::Error::invalid_input(
            "options.numPerm",
            "must be at least 16",
        ));
        let KeelError::InvalidInput { detail, field, .. } = err else {
            panic!("not invalid_input: {err:?}");
        };
        assert_eq!(field.as_deref(), Some("options.numPerm"));
        assert!(detail.contains("must be at least 16"), "{detail}");
        let closed = KeelError::from(keel::Error::Closed);
        assert_eq!(code(&closed), "closed");
    }
}
