//! `parseDatabaseUrl` and `maskUrl` (core: `keel::store`).

use napi_derive::napi;
use serde_json::Value;

use crate::error::{Arg, Outcome, guard};
use crate::options::record;

/// Parses a database URL; throws `code: "invalid_url"` if Keel does not accept it.
#[napi(ts_args_type = "url: string", ts_return_type = "DatabaseUrl")]
pub fn parse_database_url(url: Arg<String>) -> Outcome<Value> {
    guard(|| Ok(record(&keel::DatabaseUrl::parse(&url.0)?)))
}

/// Replaces any password in `url` with `***`.
#[napi(ts_args_type = "url: string", ts_return_type = "string")]
pub fn mask_url(url: Arg<String>) -> String {
    keel::mask_url(&url.0)
}
