//! `Keel.run_agent`, `Keel.runs` and `AgentContext` (core: `keel::runner::driver`,
//! `keel::runner::context` and `keel::runner::runs`, whose `*_value` calls read the config
//! and own every decision). The run is core's `RunDriver`, which `keel._runner` drives on the
//! running event loop: the executor runs there, awaited directly, with no thread hop. Records
//! come back as dicts.

use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use keel::options::Case;
use keel::runner::{AgentContext, Failure, HostFuture, Next, RunDriver, RunOptions, Runs};
use serde_json::Value;

use crate::error::{Arg, to_py_err};
use crate::json::kwargs;
use crate::json::{Json, to_json, to_json_strict};
use crate::llm::PyLlm;
use crate::models::PyAgentBudget;
use crate::runtime::{awaitable, future_into_py, guard};
use crate::telemetry::PyLogger;
use crate::transport::{EventLoop, PyTransport, Raised, failure_of};

/// What an executor gets on each attempt: the run's logger, trace and credit tracker, the
/// bound model client (`complete`) and `step`.
#[pyclass(frozen, name = "AgentContext", module = "keel._native")]
pub struct PyAgentContext {
    inner: AgentContext,
    event_loop: EventLoop,
    /// The bound client's transports' loop.
    llm_loop: Option<EventLoop>,
}

#[pymethods]
impl PyAgentContext {
    /// The run's logger (service `agent-runner`).
    #[getter]
    fn logger(&self) -> PyLogger {
        PyLogger::of(self.inner.logger().clone())
    }

    /// The run's trace id.
    #[getter]
    fn trace_id(&self) -> String {
        self.inner.trace_id().to_string()
    }

    /// The run's `agent_executions` row id.
    #[getter]
    fn execution_id(&self) -> String {
        self.inner.execution_id().to_string()
    }

    /// This attempt, counted from 1.
    #[getter]
    fn attempt(&self) -> u32 {
        self.inner.attempt()
    }

    /// Credits the run has spent.
    #[getter]
    fn credits_used(&self) -> f64 {
        self.inner.credits_used()
    }

    /// True once the run is cancelled.
    #[getter]
    fn cancelled(&self) -> bool {
        self.inner.is_cancelled()
    }

    /// The W3C `traceparent` of this attempt's span.
    #[getter]
    fn traceparent(&self) -> String {
        self.inner.traceparent()
    }

    /// Counts credits spent outside the bound client (an amount ≤ 0 is ignored).
    fn add_credits(&self, amount: Arg<f64>) {
        self.inner.add_credits(amount.0);
    }

    /// Counts items produced and consumed (the row's `items_emitted`, `items_processed`).
    #[pyo3(signature = (emitted = None, processed = None))]
    fn add_items(&self, emitted: Option<Arg<f64>>, processed: Option<Arg<f64>>) -> PyResult<()> {
        let (emitted, processed) = (Arg::opt(emitted), Arg::opt(processed));
        guard(|| self.inner.add_items_value(emitted, processed))
    }

    /// The run's budget: its limit, what it used, whether it is spent.
    fn check_budget(&self) -> PyAgentBudget {
        PyAgentBudget(self.inner.check_budget())
    }

    /// Runs step `name` once per run (awaitable): `work` is an async callable taking no
    /// arguments; a step an earlier attempt (or the replayed run) completed answers with its
    /// recorded output (as JSON) instead. Raises what `work` raised, or
    /// `keel.BudgetExceededError` once the run's budget is spent.
    fn step<'py>(
        &self,
        py: Python<'py>,
        name: Arg<String>,
        work: Py<PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.event_loop.note(py);
        let ctx = self.inner.clone();
        let transport = PyTransport::new(work, self.event_loop.clone());
        let raised: Raised = Arc::new(Mutex::new(None));
        let kept = raised.clone();
        let pending = async move {
            let outcome = ctx
                .step_value(&name.0, move || {
                    let call = transport.call_with(|_| Ok(Vec::new()), Some(kept));
                    Box::pin(async move { call.await.map_err(Failure::from) }) as HostFuture
                })
                .await;
            outcome
                .map(Json)
                .map_err(|failure| StepError(failure, raised))
        };
        crate::runtime::future_into_py_raw(py, pending)
    }

    /// Makes a model call with the client bound to the run (awaitable; fields of
    /// `keel.types.CallRequest`): its model, tokens and credits count towards the run.
    #[pyo3(signature = (**request))]
    fn complete<'py>(
        &self,
        py: Python<'py>,
        request: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if let Some(event_loop) = &self.llm_loop {
            event_loop.note(py);
        }
        let request = kwargs(request);
        awaitable!(py, self.inner, |ctx| Ok(Json(
            ctx.complete_value(request, Case::Snake).await?
        )))
    }
}

/// A failed step: the exception `work` raised (kept as it is), else the failure's error.
pub struct StepError(Failure, Raised);

impl From<StepError> for PyErr {
    fn from(StepError(failure, raised): StepError) -> Self {
        let kept = raised.lock().unwrap_or_else(|e| e.into_inner()).take();
        kept.unwrap_or_else(|| to_py_err(failure.into_error()))
    }
}

/// One run as core drives it, for `keel._runner` to drive on the running event loop (not part
/// of the API): `next()` says what to do, the other methods report or await what it asked.
#[pyclass(frozen, name = "_AgentRun", module = "keel._native")]
pub struct PyAgentRun {
    /// Out while `claim` or `finish` awaits.
    driver: Arc<Mutex<Option<RunDriver<Value>>>>,
    event_loop: EventLoop,
    llm_loop: Option<EventLoop>,
}

impl PyAgentRun {
    fn with<R>(&self, f: impl FnOnce(&mut RunDriver<Value>) -> R) -> PyResult<R> {
        let mut slot = self.driver.lock().unwrap_or_else(|e| e.into_inner());
        let driver = slot.as_mut().ok_or_else(|| {
            to_py_err(keel::Error::invalid_input(
                "run",
                "the run is busy: await claim() or finish() first",
            ))
        })?;
        Ok(f(driver))
    }

    /// Runs `io` on the driver taken out of its slot, then puts it back.
    fn awaiting<'py, F, Fut>(&self, py: Python<'py>, io: F) -> PyResult<Bound<'py, PyAny>>
    where
        F: FnOnce(RunDriver<Value>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = (RunDriver<Value>, keel::Result<()>)> + Send,
    {
        let taken = self.driver.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(driver) = taken else {
            return Err(to_py_err(keel::Error::invalid_input(
                "run",
                "the run is busy",
            )));
        };
        let slot = self.driver.clone();
        future_into_py(py, async move {
            let (driver, outcome) = io(driver).await;
            *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(driver);
            outcome
        })
    }
}

#[pymethods]
impl PyAgentRun {
    /// `("attempt", ctx, timeout_seconds)`, `("wait", seconds)`, `("claim",)`, `("finish",)`
    /// or `("done",)`.
    fn next<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let next = self.with(RunDriver::advance)?;
        let kind = next.kind();
        match next {
            Next::Attempt { ctx, timeout } => {
                self.event_loop.note(py);
                let ctx = PyAgentContext {
                    inner: ctx,
                    event_loop: self.event_loop.clone(),
                    llm_loop: self.llm_loop.clone(),
                };
                let ctx = Bound::new(py, ctx)?.into_any();
                let timeout = timeout.as_secs_f64().into_pyobject(py)?.into_any();
                PyTuple::new(py, [kind.into_pyobject(py)?.into_any(), ctx, timeout])
            }
            Next::Wait(delay) => PyTuple::new(
                py,
                [
                    kind.into_pyobject(py)?.into_any(),
                    delay.as_secs_f64().into_pyobject(py)?.into_any(),
                ],
            ),
            _ => PyTuple::new(py, [kind]),
        }
    }

    /// The attempt returned `value`.
    fn succeeded(&self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let value = to_json(value, 0);
        self.with(|d| d.succeeded(value))
    }

    /// The attempt raised `error`.
    fn failed(&self, py: Python<'_>, error: &Bound<'_, PyAny>) -> PyResult<()> {
        let failure = Failure::from(failure_of(py, &PyErr::from_value(error.clone())));
        self.with(|d| d.failed(failure))
    }

    /// The attempt ran out of its time.
    fn timed_out(&self) -> PyResult<()> {
        self.with(RunDriver::timed_out)
    }

    /// The run's task was cancelled. While `claim` or `finish` holds the run, nothing: the
    /// cancelled awaitable drops it, and its drop guard writes the row.
    fn cancel(&self) {
        if let Some(driver) = self
            .driver
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            driver.cancel();
        }
    }

    /// Claims the run's idempotency key (awaitable).
    fn claim<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.awaiting(py, |mut d| async move {
            let outcome = d.claim_value(Case::Snake).await;
            (d, outcome)
        })
    }

    /// Writes what the run's end owes (awaitable).
    fn finish<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.awaiting(py, |mut d| async move {
            d.finish().await;
            (d, Ok(()))
        })
    }

    /// The result (a `keel.types.AgentResult`), once `next()` said `done`.
    fn result(&self) -> PyResult<Json> {
        let result = self.with(|d| d.result_value(Case::Snake))?;
        result
            .map(Json)
            .ok_or_else(|| to_py_err(keel::Error::Internal("the run has not finished".into())))
    }
}

/// `db._start_run(config, executor, llm)`: checks the config and the executor, starts the run.
pub fn start_run(
    keel: &keel::Keel,
    py: Python<'_>,
    config: &Bound<'_, PyAny>,
    executor: &Bound<'_, PyAny>,
    llm: Option<&PyLlm>,
) -> PyResult<PyAgentRun> {
    if !executor.is_callable() {
        return Err(to_py_err(keel::Error::invalid_input(
            "executor",
            "must be an async callable taking the run's AgentContext",
        )));
    }
    // The replay payload and the step outputs are data: converted strictly, never through
    // `repr()`.
    let config = guard(|| to_json_strict(config, 0, "config"))?;
    let options = RunOptions {
        llm: llm.map(|l| l.core().clone()),
        cancel: None,
    };
    let driver = guard(|| RunDriver::start_value(keel, Some(config), options, Case::Snake))?;
    crate::telemetry::flush_at_exit(py);
    let event_loop = EventLoop::default();
    event_loop.note(py);
    Ok(PyAgentRun {
        driver: Arc::new(Mutex::new(Some(driver))),
        event_loop,
        llm_loop: llm.and_then(PyLlm::event_loop),
    })
}

/// The runs of a database (`agent_executions`); make it with `db.runs()`.
#[pyclass(frozen, name = "Runs", module = "keel._native")]
pub struct PyRuns {
    inner: Runs,
}

#[pymethods]
impl PyRuns {
    /// The runs a query selects, newest first (awaitable): `status` (a list), `agent_name`,
    /// `org_id`, `trace_id`, `since` (RFC 3339), `limit` (default 100).
    #[pyo3(signature = (**query))]
    fn list<'py>(
        &self,
        py: Python<'py>,
        query: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let query = kwargs(query);
        awaitable!(py, self.inner, |r| Ok(Json(
            r.list_value(query, Case::Snake).await?
        )))
    }

    /// The run (awaitable).
    fn get<'py>(&self, py: Python<'py>, id: Arg<String>) -> PyResult<Bound<'py, PyAny>> {
        awaitable!(py, self.inner, |r| Ok(Json(
            r.get_value(&id.0, Case::Snake).await?
        )))
    }

    /// Fails runs still running past their deadline (awaitable): how many. Options
    /// `grace_ms` (default 60000) and `stale_after_ms` (default 3600000).
    #[pyo3(signature = (**options))]
    fn sweep<'py>(
        &self,
        py: Python<'py>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = kwargs(options);
        awaitable!(py, self.inner, |r| r
            .sweep_value(options, Case::Snake)
            .await)
    }

    /// Waits until every run row enqueued so far is written (awaitable).
    fn flush<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        awaitable!(py, self.inner, |r| {
            r.flush().await;
            Ok(())
        })
    }
}

/// The runs on `keel` (behind `Keel.runs`).
pub fn open_runs(keel: &keel::Keel) -> PyRuns {
    PyRuns {
        inner: Runs::open(keel),
    }
}

/// A config (fields of `keel.types.AgentConfig`) as a run reads it: every default, the
/// agent's budget and the attempts of each kind of failure (a `keel.types.ResolvedConfig`).
#[pyfunction]
#[pyo3(signature = (**config))]
fn agent_config(config: Option<&Bound<'_, PyDict>>) -> PyResult<Json> {
    let config = kwargs(config);
    guard(|| keel::runner::agent_config_value(config, Case::Snake).map(|c| Json::of(&c)))
}

/// Adds this module's classes to `keel._native`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyAgentContext>()?;
    m.add_class::<PyAgentRun>()?;
    m.add_class::<PyRuns>()?;
    m.add_function(wrap_pyfunction!(agent_config, m)?)
}
