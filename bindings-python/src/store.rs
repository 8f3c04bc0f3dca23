//! `keel.parse_database_url` and `keel.mask_url` (core: `keel::store`).

use pyo3::prelude::*;

use crate::runtime::guard;

/// A database URL Keel accepts, with its password masked.
#[pyclass(frozen, name = "DatabaseUrl", module = "keel._native")]
pub struct PyDatabaseUrl {
    #[pyo3(get)]
    backend: &'static str,
    #[pyo3(get)]
    masked: String,
    #[pyo3(get)]
    in_memory: bool,
    #[pyo3(get)]
    path: Option<String>,
}

#[pymethods]
impl PyDatabaseUrl {
    fn __repr__(&self) -> String {
        format!(
            "DatabaseUrl(backend={:?}, masked={:?}, in_memory={})",
            self.backend, self.masked, self.in_memory
        )
    }
}

/// A migration recorded as applied.
#[pyclass(frozen, name = "AppliedMigration", module = "keel._native")]
pub struct PyAppliedMigration {
    #[pyo3(get)]
    version: i64,
    #[pyo3(get)]
    description: String,
}

#[pymethods]
impl PyAppliedMigration {
    fn __repr__(&self) -> String {
        format!(
            "AppliedMigration(version={}, description={:?})",
            self.version, self.description
        )
    }
}

impl From<keel::AppliedMigration> for PyAppliedMigration {
    fn from(m: keel::AppliedMigration) -> Self {
        Self {
            version: m.version,
            description: m.description,
        }
    }
}

/// Parses a database URL; raises `keel.InvalidUrlError` if Keel does not accept it.
#[pyfunction]
pub fn parse_database_url(url: &str) -> PyResult<PyDatabaseUrl> {
    let parsed = guard(|| keel::DatabaseUrl::parse(url))?;
    Ok(PyDatabaseUrl {
        backend: parsed.backend.as_str(),
        masked: parsed.masked,
        in_memory: parsed.in_memory,
        path: parsed.path.map(|p| p.display().to_string()),
    })
}

/// Replaces any password in `url` with `***`.
#[pyfunction]
pub fn mask_url(url: &str) -> String {
    keel::mask_url(url)
}
