//! `parseDatabaseUrl` and `maskUrl` (core: `keel::store`).

use napi_derive::napi;

use crate::error::{Arg, Outcome, guard};

/// A database URL Keel accepts, with its password masked.
#[napi(object)]
pub struct DatabaseUrl {
    /// `"sqlite"` or `"postgres"`.
    pub backend: String,
    /// The URL with any password replaced by `***`.
    pub masked: String,
    /// True for `sqlite::memory:`.
    pub in_memory: bool,
    /// The SQLite file, when the URL names one.
    pub path: Option<String>,
}

/// A migration recorded as applied.
#[napi(object)]
pub struct AppliedMigration {
    /// The number in the file name.
    pub version: i64,
    /// The rest of the file name.
    pub description: String,
}

impl From<keel::AppliedMigration> for AppliedMigration {
    fn from(m: keel::AppliedMigration) -> Self {
        Self {
            version: m.version,
            description: m.description,
        }
    }
}

/// Parses a database URL; throws `code: "invalid_url"` if Keel does not accept it.
#[napi(ts_args_type = "url: string", ts_return_type = "DatabaseUrl")]
pub fn parse_database_url(url: Arg<String>) -> Outcome<DatabaseUrl> {
    guard(|| {
        let parsed = keel::DatabaseUrl::parse(&url.0)?;
        Ok(DatabaseUrl {
            backend: parsed.backend.as_str().to_owned(),
            masked: parsed.masked,
            in_memory: parsed.in_memory,
            path: parsed.path.map(|p| p.display().to_string()),
        })
    })
}

/// Replaces any password in `url` with `***`.
#[napi(ts_args_type = "url: string", ts_return_type = "string")]
pub fn mask_url(url: Arg<String>) -> String {
    keel::mask_url(&url.0)
}
