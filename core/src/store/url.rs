//! Database URL parsing and password masking.
//!
//! Pure functions, so they run in the shared vectors (`testdata/database_urls.json`) in
//! Rust, Python and Node alike.

use std::path::PathBuf;

use serde::Serialize;

use crate::error::{Error, Result};

/// Which storage engine a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Embedded SQLite: the default for a single process, tests and the demo.
    Sqlite,
    /// PostgreSQL (Supabase in production): how many service instances share state.
    Postgres,
}

impl Backend {
    /// `"sqlite"` or `"postgres"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A database URL that Keel accepts, with its password masked for display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DatabaseUrl {
    /// The engine the URL selects.
    pub backend: Backend,
    /// The URL with any password replaced by `***`; safe to log.
    pub masked: String,
    /// True for `sqlite::memory:` (and `sqlite://:memory:`): a private database that lives as
    /// long as the handle.
    pub in_memory: bool,
    /// The SQLite file, when the URL names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
}

impl DatabaseUrl {
    /// Parses `url`, accepting `sqlite::memory:`, `sqlite://path`, `sqlite:path`,
    /// `postgres://…` and `postgresql://…`.
    ///
    /// # Errors
    /// [`Error::InvalidUrl`] for an empty URL, a missing or unsupported scheme, or a
    /// PostgreSQL URL that does not parse. The message carries the URL masked.
    pub fn parse(url: &str) -> Result<Self> {
        let masked = mask_url(url);
        let invalid = |reason: String| Error::InvalidUrl {
            url: masked.clone(),
            reason,
        };
        let url = url.trim();
        if url.is_empty() {
            return Err(invalid("the URL is empty".to_owned()));
        }
        let Some((scheme, rest)) = url.split_once(':') else {
            return Err(invalid(
                "no scheme; expected sqlite:…, postgres://… or postgresql://…".to_owned(),
            ));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => {
                let location = rest.strip_prefix("//").unwrap_or(rest);
                let location = location.split('?').next().unwrap_or_default();
                if location.is_empty() {
                    return Err(invalid(
                        "no SQLite path; use sqlite::memory: or sqlite://path".to_owned(),
                    ));
                }
                let in_memory = matches!(location, ":memory:" | "memory:");
                Ok(DatabaseUrl {
                    backend: Backend::Sqlite,
                    masked,
                    in_memory,
                    path: (!in_memory).then(|| PathBuf::from(location)),
                })
            }
            "postgres" | "postgresql" => {
                let parsed =
                    url::Url::parse(url).map_err(|e| invalid(format!("not a valid URL: {e}")))?;
                if parsed.host_str().is_none_or(str::is_empty) && !has_query_host(&parsed) {
                    return Err(invalid("no host".to_owned()));
                }
                Ok(DatabaseUrl {
                    backend: Backend::Postgres,
                    masked,
                    in_memory: false,
                    path: None,
                })
            }
            other => Err(invalid(format!(
                "unsupported scheme `{other}`; expected sqlite or postgres"
            ))),
        }
    }
}

/// A PostgreSQL URL may leave the host out and name a socket directory in `?host=`.
fn has_query_host(url: &url::Url) -> bool {
    url.query_pairs().any(|(k, v)| k == "host" && !v.is_empty())
}

/// Replaces the password in a URL with `***`, both in the user-info part
/// (`postgres://user:secret@host`) and in a `password=` query parameter.
///
/// Works on strings that do not parse as URLs too, and masks too much rather than too little
/// when a password holds unescaped `@`, `/` or `?`.
pub fn mask_url(url: &str) -> String {
    let masked = match url.find("://") {
        Some(scheme_end) => {
            let start = scheme_end + 3;
            let rest = &url[start..];
            match rest.rfind('@') {
                Some(at) => match rest[..at].find(':') {
                    Some(colon) => {
                        format!("{}{}:***{}", &url[..start], &rest[..colon], &rest[at..])
                    }
                    None => url.to_owned(),
                },
                None => url.to_owned(),
            }
        }
        None => url.to_owned(),
    };
    mask_query_password(&masked)
}

fn mask_query_password(url: &str) -> String {
    let Some(query_start) = url.find('?') else {
        return url.to_owned();
    };
    let (head, query) = url.split_at(query_start + 1);
    let params: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{head}{}", params.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_password_with_at_sign() {
        assert_eq!(mask_url("postgres://u:p@ss@h/db"), "postgres://u:***@h/db");
    }

    #[test]
    fn keeps_url_without_password() {
        assert_eq!(mask_url("postgres://u@h:5432/db"), "postgres://u@h:5432/db");
    }
}
