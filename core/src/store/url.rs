//! Database URL parsing and password masking.
//!
//! Pure functions, so they run in the shared vectors (`testdata/database_urls.json`) in
//! Rust, Python and Node alike.

use std::path::PathBuf;

use serde::Serialize;

use crate::error::{Error, Result};

/// The database `connect` opens when no URL is given: a private SQLite database in memory.
pub const DEFAULT_URL: &str = "sqlite::memory:";

/// How SQLite spells its in-memory database, after `sqlite:` or `sqlite://`.
const MEMORY: &str = ":memory:";

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
    /// Parses `url`, accepting `sqlite::memory:`, `sqlite://:memory:`, `sqlite://path`,
    /// `sqlite:path`, `postgres://…` and `postgresql://…`.
    ///
    /// # Errors
    /// [`Error::InvalidUrl`] for an empty URL, a missing or unsupported scheme, a PostgreSQL
    /// URL that does not parse, and SQLite URLs that would open a file with a surprising name:
    /// a misspelt in-memory URL (`sqlite:memory`, `sqlite::memory`) or a folder. The message
    /// carries the URL masked.
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
                let in_memory = location == MEMORY;
                let bare = location.trim_matches(|c| c == ':' || c == '/');
                if !in_memory && bare.eq_ignore_ascii_case("memory") {
                    return Err(invalid(
                        "looks like an in-memory database but is spelt as a file name; \
                         write sqlite::memory:"
                            .to_owned(),
                    ));
                }
                if location.ends_with('/') {
                    return Err(invalid(
                        "names a folder; name the database file, e.g. sqlite://data/keel.db"
                            .to_owned(),
                    ));
                }
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

/// The connection parameters whose value is a secret, in every form libpq accepts them.
const SECRET_KEYS: [&str; 2] = ["password", "sslpassword"];

/// Replaces every password in a connection string with `***`, in each form libpq accepts:
/// the user-info part (`postgres://user:secret@host`), the `password=` and `sslpassword=`
/// query parameters, and keyword/value strings (`host=h password=secret`,
/// `password='quoted \' value'`).
///
/// Works on strings that do not parse as URLs too, and masks too much rather than too little
/// when a password holds unescaped `@`, `/` or `?`. Every message and log line that shows a
/// connection string goes through this one function.
pub fn mask_url(url: &str) -> String {
    if !url.contains("://") && url.contains('=') {
        return mask_keyword_values(url);
    }
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
            Some((key, _)) if SECRET_KEYS.iter().any(|k| key.eq_ignore_ascii_case(k)) => {
                format!("{key}=***")
            }
            _ => pair.to_owned(),
        })
        .collect();
    format!("{head}{}", params.join("&"))
}

/// Masks the secret values of a keyword/value connection string (`key = value` pairs
/// separated by spaces; a value may be single-quoted, with `\'` and `\\` escapes).
fn mask_keyword_values(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(eq) = rest.find('=') {
        let (before, after) = rest.split_at(eq);
        let key = before.trim_end();
        let key = key.rsplit(|c: char| c.is_whitespace()).next().unwrap_or("");
        out.push_str(before);
        out.push('=');
        let after = &after[1..];
        let value_start = after.len() - after.trim_start().len();
        out.push_str(&after[..value_start]);
        let value = &after[value_start..];
        let value_len = keyword_value_len(value);
        if SECRET_KEYS.iter().any(|k| key.eq_ignore_ascii_case(k)) {
            out.push_str("***");
        } else {
            out.push_str(&value[..value_len]);
        }
        rest = &value[value_len..];
    }
    out.push_str(rest);
    out
}

/// The length of the value at the start of `text`: a quoted value up to its closing quote,
/// else up to the next whitespace.
fn keyword_value_len(text: &str) -> usize {
    if let Some(quoted) = text.strip_prefix('\'') {
        let mut escaped = false;
        for (i, c) in quoted.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '\'' => return i + 2,
                _ => {}
            }
        }
        text.len()
    } else {
        text.find(char::is_whitespace).unwrap_or(text.len())
    }
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
