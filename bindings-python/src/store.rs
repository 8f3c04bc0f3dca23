//! `keel.parse_database_url` and `keel.mask_url` (core: `keel::store`).

use pyo3::prelude::*;

use crate::error::Arg;
use crate::record::record;
use crate::runtime::guard;

record! {
    /// A database URL Keel accepts, with its password masked.
    PyDatabaseUrl(keel::DatabaseUrl) as "DatabaseUrl" {
        masked: String => "The URL with any password replaced by `***`; safe to log.",
        in_memory: bool => "True for `sqlite::memory:`: a private database that lives as long as the handle.",
    } {
        /// `"sqlite"` or `"postgres"`.
        #[getter]
        fn backend(&self) -> &'static str {
            self.0.backend.as_str()
        }

        /// The SQLite file, when the URL names one.
        #[getter]
        fn path(&self) -> Option<String> {
            self.0.path.as_ref().map(|p| p.display().to_string())
        }
    }
}

record! {
    /// A migration recorded as applied.
    PyAppliedMigration(keel::AppliedMigration) as "AppliedMigration" {
        version: i64 => "The migration's number.",
        description: String => "What it does, from its file name.",
    }
}

/// Parses a database URL; raises `keel.InvalidUrlError` if Keel does not accept it.
#[pyfunction]
pub fn parse_database_url(url: Arg<&str>) -> PyResult<PyDatabaseUrl> {
    guard(|| keel::DatabaseUrl::parse(url.0)).map(PyDatabaseUrl)
}

/// Replaces any password in `url` with `***`.
#[pyfunction]
pub fn mask_url(url: Arg<&str>) -> String {
    keel::mask_url(url.0)
}

/// Adds this module's classes and functions to `keel._native`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyDatabaseUrl>()?;
    m.add_class::<PyAppliedMigration>()?;
    m.add_function(wrap_pyfunction!(parse_database_url, m)?)?;
    m.add_function(wrap_pyfunction!(mask_url, m)?)
}
