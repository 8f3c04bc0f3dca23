//! `keel._native`: the PyO3 glue over the Keel core. No logic lives here; the public API and
//! its docs are in `python/keel/` and `_native.pyi`.

mod error;
mod ffi_probe;
mod json;
mod models;
mod runtime;
mod skills;
mod store;
mod telemetry;

use std::time::Duration;

use pyo3::prelude::*;

use crate::runtime::future_into_py;
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
        let keel = self.inner.clone();
        future_into_py(py, async move { keel.migrate().await })
    }

    fn applied_migrations<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let keel = self.inner.clone();
        future_into_py(py, async move {
            let applied = keel.applied_migrations().await?;
            Ok(applied
                .into_iter()
                .map(PyAppliedMigration::from)
                .collect::<Vec<_>>())
        })
    }

    fn ping<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let keel = self.inner.clone();
        future_into_py(py, async move { keel.ping().await })
    }

    fn close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let keel = self.inner.clone();
        future_into_py(py, async move {
            keel.close().await;
            Ok(())
        })
    }

    #[pyo3(signature = (service, *, trace_id = None, user_id = None, org_id = None, agent_name = None,
                        traceparent = None, min_level = None, debug_sample_rate = None))]
    #[allow(clippy::too_many_arguments)]
    fn create_logger(
        &self,
        service: &Bound<'_, PyAny>,
        trace_id: Option<&Bound<'_, PyAny>>,
        user_id: Option<&Bound<'_, PyAny>>,
        org_id: Option<&Bound<'_, PyAny>>,
        agent_name: Option<&Bound<'_, PyAny>>,
        traceparent: Option<&Bound<'_, PyAny>>,
        min_level: Option<&str>,
        debug_sample_rate: Option<f64>,
    ) -> PyResult<telemetry::PyLogger> {
        let args = telemetry::LoggerArgs::new(
            service,
            trace_id,
            user_id,
            org_id,
            agent_name,
            traceparent,
            min_level,
            debug_sample_rate,
        )?;
        Ok(args.build(service.py(), Some(&self.inner)))
    }

    /// Opens the model router on this database (awaitable); see `keel.Keel.model_router`.
    #[pyo3(signature = (*, staleness = 1.0, matrix_ttl = 60.0, default_tier = "medium",
                        seed_defaults = true, failure_threshold = 3, provider_failure_threshold = 10,
                        window = 300.0, cooldown = 30.0, max_cooldown = 600.0, probe_timeout = 60.0))]
    #[allow(clippy::too_many_arguments)]
    fn model_router<'py>(
        &self,
        py: Python<'py>,
        staleness: f64,
        matrix_ttl: f64,
        default_tier: &str,
        seed_defaults: bool,
        failure_threshold: u32,
        provider_failure_threshold: u32,
        window: f64,
        cooldown: f64,
        max_cooldown: f64,
        probe_timeout: f64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = models::router_options(
            staleness,
            matrix_ttl,
            default_tier,
            seed_defaults,
            failure_threshold,
            provider_failure_threshold,
            window,
            cooldown,
            max_cooldown,
            probe_timeout,
        )?;
        models::open_router(py, self.inner.clone(), options)
    }

    /// Opens the skills registry on this database (awaitable); see `keel.Keel.skill_registry`.
    #[pyo3(signature = (*, staleness = 1.0, max_cached_orgs = 1024))]
    fn skill_registry<'py>(
        &self,
        py: Python<'py>,
        staleness: f64,
        max_cached_orgs: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        skills::open_registry(py, self.inner.clone(), staleness, max_cached_orgs)
    }

    fn install_log_sink(&self) {
        let _guard = runtime::runtime().enter();
        self.inner.install_log_sink();
    }

    #[pyo3(signature = (*, dry_run = false, batch_size = 10_000))]
    fn cleanup_logs<'py>(
        &self,
        py: Python<'py>,
        dry_run: bool,
        batch_size: u32,
    ) -> PyResult<Bound<'py, PyAny>> {
        let keel = self.inner.clone();
        future_into_py(py, async move {
            let policy = ::keel::telemetry::RetentionPolicy::default();
            let report = keel
                .cleanup_logs(&policy, batch_size, dry_run, |_, _| {})
                .await?;
            Ok(report
                .deleted
                .into_iter()
                .map(|(level, n)| (level.as_str(), n))
                .collect::<Vec<_>>())
        })
    }

    fn __repr__(&self) -> String {
        format!("Keel(backend={:?}, url={:?})", self.backend(), self.url())
    }
}

/// Connects to `url`; see `keel.connect` for the arguments.
#[pyfunction]
#[pyo3(signature = (url, *, migrate = true, max_connections = 10, connect_timeout = 10.0))]
fn connect(
    py: Python<'_>,
    url: String,
    migrate: bool,
    max_connections: u32,
    connect_timeout: f64,
) -> PyResult<Bound<'_, PyAny>> {
    let timeout = runtime::guard(|| {
        Duration::try_from_secs_f64(connect_timeout).map_err(|_| {
            keel::Error::invalid_input("connect_timeout", "must be a finite number of seconds ≥ 0")
        })
    })?;
    let options = keel::ConnectOptions {
        migrate,
        max_connections,
        connect_timeout: timeout,
    };
    future_into_py(py, async move {
        let inner = keel::Keel::connect_with(&url, options).await?;
        Ok(PyKeel { inner })
    })
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
    m.add_class::<store::PyDatabaseUrl>()?;
    m.add_class::<store::PyAppliedMigration>()?;
    m.add_function(wrap_pyfunction!(connect, m)?)?;
    m.add_function(wrap_pyfunction!(error_codes, m)?)?;
    m.add_function(wrap_pyfunction!(store::parse_database_url, m)?)?;
    m.add_function(wrap_pyfunction!(store::mask_url, m)?)?;
    m.add_class::<telemetry::PyLogger>()?;
    m.add_class::<telemetry::PySpan>()?;
    m.add_function(wrap_pyfunction!(telemetry::create_logger, m)?)?;
    m.add_function(wrap_pyfunction!(telemetry::parse_traceparent, m)?)?;
    m.add_function(wrap_pyfunction!(telemetry::flush_logs, m)?)?;
    m.add_function(wrap_pyfunction!(telemetry::redact_secrets, m)?)?;
    m.add_class::<models::PyModelRouter>()?;
    m.add_class::<models::PyModelResolution>()?;
    m.add_class::<models::PyBudgetStatus>()?;
    m.add_class::<models::PyMovement>()?;
    m.add_class::<models::PyReservation>()?;
    m.add_class::<models::PyAgentBudget>()?;
    m.add_function(wrap_pyfunction!(models::check_agent_budget, m)?)?;
    m.add("FLEET_AGENT_BUDGETS", models::fleet_agent_budgets(m.py())?)?;
    m.add_class::<skills::PySkillRegistry>()?;
    m.add_class::<skills::PyResolvedSkills>()?;
    m.add_class::<skills::PyResolvedSkill>()?;
    m.add_function(wrap_pyfunction!(skills::parse_skill, m)?)?;
    m.add_function(wrap_pyfunction!(skills::validate_skills, m)?)?;
    m.add_function(wrap_pyfunction!(skills::compile_skill, m)?)?;
    m.add_function(wrap_pyfunction!(skills::channel_namespaces, m)?)?;
    m.add_function(wrap_pyfunction!(runtime::drain_tasks, m)?)?;
    m.add_function(wrap_pyfunction!(ffi_probe::noop, m)?)?;
    m.add_function(wrap_pyfunction!(ffi_probe::roundtrip, m)?)?;
    m.add_function(wrap_pyfunction!(ffi_probe::panic_sync, m)?)?;
    m.add_function(wrap_pyfunction!(ffi_probe::panic_async, m)?)?;
    Ok(())
}
