//! `keel._native`: the PyO3 glue over the Keel core. No logic lives here; the public API and
//! its docs are in `python/keel/` and `_native.pyi`.

mod console;
mod coroutine;
mod dedup;
mod driven;
mod error;
mod ffi_probe;
mod flow;
mod health;
mod json;
mod llm;
mod memory;
mod models;
mod record;
mod routing;
mod run;
mod runner;
mod runtime;
mod skills;
mod slack;
mod store;
mod telemetry;
mod threads;
mod tokens;
mod transport;

use pyo3::prelude::*;
use pyo3::types::PyDict;

/// mimalloc: a log event is made on the caller's thread and freed on the writer's, which
/// glibc's malloc serves slowly (measured in `make bench`'s logging and span rows).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use crate::error::Arg;
use crate::json::Json;
use crate::record::options;
use crate::runtime::{awaitable, guard, ready};
use crate::store::PyAppliedMigration;

/// A connected Keel instance. Create it with `await keel.connect(url)`.
#[pyclass(frozen, name = "Keel", module = "keel._native")]
pub struct PyKeel {
    inner: keel::Keel,
}

#[pymethods]
impl PyKeel {
    /// `sqlite` or `postgres`.
    #[getter]
    fn backend(&self) -> &'static str {
        self.inner.backend().as_str()
    }

    /// The database URL with its password masked.
    #[getter]
    fn url(&self) -> &str {
        self.inner.url()
    }

    /// True after `close`.
    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Applies any embedded migration not yet applied (awaitable; resolves to how many).
    fn migrate<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        awaitable!(py, self.inner, |keel| keel.migrate().await)
    }

    /// The migrations recorded as applied, in order (awaitable).
    fn applied_migrations<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        awaitable!(py, self.inner, |keel| {
            let applied = keel.applied_migrations().await?;
            Ok(applied
                .into_iter()
                .map(PyAppliedMigration)
                .collect::<Vec<_>>())
        })
    }

    /// Checks the database answers (awaitable); raises `DatabaseConnectionError` if not.
    fn ping<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        awaitable!(py, self.inner, |keel| keel.ping().await)
    }

    /// Closes the pool for every holder of this handle (awaitable). Idempotent.
    fn close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        awaitable!(py, self.inner, |keel| {
            keel.close().await;
            Ok(())
        })
    }

    /// `async with await keel.connect(...) as db:` closes `db` at the end of the block.
    fn __aenter__<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        ready(slf.py(), slf)
    }

    /// Closes the handle; an exception of the block propagates.
    #[pyo3(signature = (*_exc))]
    fn __aexit__<'py>(
        &self,
        py: Python<'py>,
        _exc: &Bound<'py, pyo3::types::PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.close(py)
    }

    /// A structured logger for `service` that writes to this database's `system_logs`.
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

    /// The conversation store on this database (no I/O until a call).
    fn conversations(&self) -> memory::PyConversationStore {
        memory::open_store(&self.inner)
    }

    /// The dead-letter queue on this database (no I/O until a call).
    fn dead_letters(&self) -> runner::PyDeadLetters {
        runner::open_letters(&self.inner)
    }

    /// The Command Centre queue on this database with `options` (fields of
    /// `keel.types.QueueOptions`; no I/O until a call).
    #[pyo3(signature = (**options))]
    fn queue(&self, options: Option<&Bound<'_, PyDict>>) -> PyResult<flow::PyQueue> {
        flow::open_queue(&self.inner, options)
    }

    /// Deduplication of this database's Command Centre items with `options` (fields of
    /// `keel.types.DedupOptions`; no I/O until a call).
    #[pyo3(signature = (**options))]
    fn dedup(&self, options: Option<&Bound<'_, PyDict>>) -> PyResult<dedup::PyDedup> {
        dedup::open_dedup(&self.inner, options)
    }

    /// A Slack Web API client over this handle's HTTP client with `options` (fields of
    /// `keel.types.SlackOptions`; `token` required; no I/O until a call).
    #[pyo3(signature = (**options))]
    fn slack(&self, options: Option<&Bound<'_, PyDict>>) -> PyResult<slack::PySlack> {
        slack::open_slack(&self.inner, options)
    }

    /// Slack copilot threads on this database with `options` (fields of
    /// `keel.types.SlackThreadOptions`; no I/O until a call).
    #[pyo3(signature = (**options))]
    fn slack_threads(
        &self,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<threads::PySlackThreads> {
        threads::open_threads(&self.inner, options)
    }

    /// Fleet health on this database with `options` (fields of `keel.types.FleetOptions`);
    /// alerts go to `on_alert` (an async callable taking a `keel.types.FleetAlert`) when
    /// given, else to the Slack webhook (no I/O until a call).
    #[pyo3(signature = (on_alert=None, **options))]
    fn fleet(
        &self,
        py: Python<'_>,
        on_alert: Option<Bound<'_, PyAny>>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<health::PyFleet> {
        health::open_fleet(py, &self.inner, on_alert, options)
    }

    /// The operator console on this database (awaitable): `keel serve`'s reads and actions by
    /// name; actions only with `allow_actions=True`.
    #[pyo3(signature = (**options))]
    fn console<'py>(
        &self,
        py: Python<'py>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        console::open_console(py, &self.inner, options)
    }

    /// Rate limits shared by every instance on this database (no I/O until a call).
    fn shared_limiter(&self) -> flow::PySharedLimiter {
        flow::open_shared(&self.inner)
    }

    /// The agent runs (`agent_executions`) on this database (no I/O until a call).
    fn runs(&self) -> run::PyRuns {
        run::open_runs(&self.inner)
    }

    /// Runs `executor` (an async callable taking a `keel.AgentContext`) as an agent
    /// (awaitable): retries by failure kind, time limits, the budget, steps, one
    /// `agent_executions` row and a dead letter when it fails for good. `config` holds the
    /// fields of `keel.types.AgentConfig`; `llm` binds a model client to the run. Resolves to
    /// a `keel.types.AgentResult`; raises only for a bad config. Cancelling the awaiting task
    /// cancels the run.
    #[pyo3(signature = (config, executor, llm = None))]
    fn run_agent<'py>(
        slf: &Bound<'py, Self>,
        config: &Bound<'py, PyAny>,
        executor: &Bound<'py, PyAny>,
        llm: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        py.import("keel._runner")?
            .call_method1("run", (slf, config, executor, llm))
    }

    /// Starts a run for `keel._runner` (not part of the API).
    #[pyo3(signature = (config, executor, llm = None))]
    fn _start_run<'py>(
        &self,
        py: Python<'py>,
        config: &Bound<'py, PyAny>,
        executor: &Bound<'py, PyAny>,
        llm: Option<Arg<PyRef<'py, llm::PyLlm>>>,
    ) -> PyResult<run::PyAgentRun> {
        run::start_run(&self.inner, py, config, executor, Arg::opt(llm).as_deref())
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

    /// Routes the process's log events to this database (done by `create_logger`).
    fn install_log_sink(&self) {
        let _guard = runtime::runtime().enter();
        self.inner.install_log_sink();
    }

    /// Deletes log events past retention (awaitable; resolves to `[(level, rows)]`).
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

    /// Keeps the time partitions of `system_logs` and `agent_executions` on PostgreSQL
    /// (awaitable; resolves to the changes: `{table, partition, action, rows}`; empty on SQLite).
    fn maintain_partitions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        awaitable!(py, self.inner, |keel| Ok(Json::of(
            &keel.maintain_partitions().await?
        )))
    }

    /// The time partitions and their sizes (awaitable; empty on SQLite).
    fn partitions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        awaitable!(py, self.inner, |keel| Ok(Json::of(
            &keel.partitions().await?
        )))
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
    m.add_class::<coroutine::Call>()?;
    m.add_function(wrap_pyfunction!(connect, m)?)?;
    m.add_function(wrap_pyfunction!(error_codes, m)?)?;
    store::register(m)?;
    telemetry::register(m)?;
    models::register(m)?;
    llm::register(m)?;
    skills::register(m)?;
    routing::register(m)?;
    memory::register(m)?;
    runner::register(m)?;
    run::register(m)?;
    flow::register(m)?;
    tokens::register(m)?;
    dedup::register(m)?;
    slack::register(m)?;
    threads::register(m)?;
    health::register(m)?;
    console::register(m)?;
    m.add_function(wrap_pyfunction!(runtime::drain_tasks, m)?)?;
    m.add_submodule(&ffi_probe::module(m.py())?)?;
    Ok(())
}
