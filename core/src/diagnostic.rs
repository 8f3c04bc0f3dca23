//! Findings about a user's file: one shape for every capability that validates documents
//! (SKILL.md today), so the error type can carry them without depending on that capability.

use std::fmt;

use serde::Serialize;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth fixing; the skill still loads.
    Warning,
    /// The skill cannot be used.
    Error,
}

/// One finding in a file, with where it is and a stable code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Stable machine code, e.g. `name_mismatch`.
    pub code: &'static str,
    /// Error or warning.
    pub severity: Severity,
    /// The file, as the caller named it.
    pub file: String,
    /// 1-based line (0 when the whole file is meant).
    pub line: usize,
    /// 1-based column (0 when the whole file is meant).
    pub column: usize,
    /// The field at fault, e.g. `metadata.triggers[2].confidence`.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{}:{}:{}: {level}[{}] {}",
            self.file, self.line, self.column, self.code, self.message
        )
    }
}
