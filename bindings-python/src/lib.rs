//! `keel._native`: the PyO3 glue over the Keel core. No logic lives here; the public API and
//! its docs are in `python/keel/` and `_native.pyi`.

mod error;
mod ffi_probe;
mod json;
mod models;
mod record;
mod runtime;
mod skills;
mod store;
mod telemetry;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::error::Arg;
use crate::record::options;
use crate::runtime::{awaitable, guard};
use crate::store::PyAppliedMigration;

/// A connected Keel instance. Create it with `await keel.connect(url)`.
#[pyclass(frozen, name = "Keel", module = "keel._native")]
pub struct PyKeel {
    inner: keel::Keel,
}

#[pymethods]
impl PyKeel {
    #[getter]
    fn backend(&self) -> &'static str {
        self.inner.backend().as_str()
    }

    #[getter]
    fn url(&self) -> &str {
        self.inner.url()
    }

    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_closed()
    }

    fn migrate<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        awaitable!(py, self.inner, |keel| keel.migrate().await)
    }

    fn applied_migrations<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        awaitable!(py, self.inner, |keel| {
            let applied = keel.applied_migrations().await?;
            Ok(applied
                .into_iter()
                .map(PyAppliedMigration)
                .collect::<Vec<_>>())
        })
    }

    fn ping<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        awaitable!(py, self.inner, |keel| keel.ping().await)
    }

    fn close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        awaitable!(py, self.inner, |keel| {
            keel.close().await;
            Ok(())
        })
    }

    #[pyo3(signature = (service, **options))]
    fn create_logger(
        &self,
        service: &Bound<'_, PyAny>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<telemetry::PyLogger> {
        telemetry::build_logger(Some(&self.inner), service, options)
    }

    /// Opens the model router on this database (awaitable); see `keel.Keel.model_router`.
    #[pyo3(signature = (**options))]
    fn model_router<'py>(
        &self,
        py: Python<'py>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        models::open_router(py, &self.inner, options)
    }

    /// Opens the skills registry on this database (awaitable); see `keel.Keel.skill_registry`.
    #[pyo3(signature = (**options))]
    fn skill_registry<'py>(
        &self,
        py: Python<'py>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        skills::open_registry(py, &self.inner, options)
    }

    fn install_log_sink(&self) {
        let _guard = runtime::runtime().enter();
        self.inner.install_log_sink();
    }

    #[pyo3(signature = (**options))]
    fn cleanup_logs<'py>(
        &self,
        py: Python<'py>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options: ::keel::telemetry::CleanupOptions = guard(|| self::options(options))?;
        awaitable!(py, self.inner, |keel| {
            let report = keel.cleanup_logs_with(&options, |_, _| {}).await?;
            let deleted = report
                .deleted
                .into_iter()
                .map(|(level, n)| (level.as_str(), n));
            Ok(deleted.collect::<Vec<_>>())
        })
    }

    fn __repr__(&self) -> String {
        format!("Keel(backend={:?}, url={:?})", self.backend(), self.url())
    }
}

/// Connects to `url` (core's default: `sqlite::memory:`); see `keel.connect` for the arguments.
#[pyfunction]
#[pyo3(signature = (url = None, **options))]
fn connect<'py>(
    py: Python<'py>,
    url: Option<Arg<String>>,
    options: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let options: keel::ConnectOptions = guard(|| self::options(options))?;
    let url = url.map_or_else(|| keel::DEFAULT_URL.to_owned(), |u| u.0);
    awaitable!(py, url, |url| Ok(PyKeel {
        inner: keel::Keel::connect_with(&url, options).await?,
    }))
}

/// The stable error codes, in order.
#[pyfunction]
fn error_codes() -> Vec<&'static str> {
    keel::Error::CODES.to_vec()
}

#[pymodule(gil_used = false)]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", keel::VERSION)?;
    m.add_class::<PyKeel>()?;
    m.add_function(wrap_pyfunction!(connect, m)?)?;
    m.add_function(wrap_pyfunction!(error_codes, m)?)?;
    store::register(m)?;
    telemetry::register(m)?;
    models::register(m)?;
    skills::register(m)?;
    m.add_function(wrap_pyfunction!(runtime::drain_tasks, m)?)?;
    m.add_submodule(&ffi_probe::module(m.py())?)?;
    Ok(())
}
