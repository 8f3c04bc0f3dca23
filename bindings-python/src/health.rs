//! `keel.agent_status`, `keel.next_alert`, `keel.fleet_alert_message` and `Keel.fleet`: fleet
//! health's status rules, alert decisions, the Slack alert and the fleet on a database (core:
//! `keel::telemetry::health`, which owns the thresholds, the reasons, the state machine, the
//! registry, the query, the outbox and the report).

use std::sync::Arc;

use futures_util::future::BoxFuture;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde_json::Value;

use keel::options::Case;
use keel::telemetry::health::{self, AlertSink, Fleet, FleetAlert};

use crate::error::Arg;
use crate::flow::args;
use crate::json::{Json, kwargs, to_json_strict};
use crate::runtime::guard;
use crate::transport::{EventLoop, PyTransport};

/// An agent's status from its metrics (a dict like `keel.types.AgentMetrics`; `now`: RFC 3339,
/// the current time when absent): a `keel.types.AgentStatus`. Pure.
#[pyfunction]
#[pyo3(signature = (metrics, **options))]
fn agent_status(metrics: &Bound<'_, PyAny>, options: Option<&Bound<'_, PyDict>>) -> PyResult<Json> {
    let metrics = guard(|| to_json_strict(metrics, 0, "metrics"))?;
    let options = kwargs(options);
    guard(|| health::agent_status_value(metrics, options, Case::Snake, "").map(|s| Json::of(&s)))
}

/// Whether a health run alerts for an agent now `status`, after `state` (a dict like
/// `keel.types.AlertState`; `now`, `cooldown_ms`, `renotify_ms`): a `keel.types.AlertDecision`.
/// Pure.
#[pyfunction]
#[pyo3(signature = (state, status, **options))]
fn next_alert(
    state: &Bound<'_, PyAny>,
    status: Arg<String>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<Json> {
    let state = guard(|| to_json_strict(state, 0, "state"))?;
    let options = kwargs(options);
    guard(|| {
        health::next_alert_value(Some(state), &status.0, options, Case::Snake, "")
            .map(|d| Json::of(&d))
    })
}

/// The Slack incoming-webhook payload (`{text, blocks}`) of a notice (a dict like
/// `keel.types.FleetNotice`): the original's Block Kit layout. Pure.
#[pyfunction]
fn fleet_alert_message(notice: &Bound<'_, PyAny>) -> PyResult<Json> {
    let notice = guard(|| to_json_strict(notice, 0, "notice"))?;
    guard(|| health::slack_message_value(notice, Case::Snake).map(Json))
}

/// A Python async callable receiving fleet alerts (`keel.types.FleetAlert`); what it raises
/// is a failed attempt, retried.
struct PySink(PyTransport);

impl AlertSink for PySink {
    fn deliver(&self, alert: FleetAlert) -> BoxFuture<'static, Result<(), String>> {
        let call = self.0.call(Json::of(&alert));
        Box::pin(async move { call.await.map(|_| ()).map_err(|f| f.message) })
    }
}

/// Fleet health on this database; make it with `db.fleet(on_alert=None, **options)`.
#[pyclass(frozen, name = "Fleet", module = "keel._native")]
pub struct PyFleet {
    inner: Fleet,
    event_loop: EventLoop,
}

/// `db.fleet(on_alert=None, **options)`.
pub fn open_fleet(
    py: Python<'_>,
    keel: &keel::Keel,
    on_alert: Option<Bound<'_, PyAny>>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<PyFleet> {
    let event_loop = EventLoop::default();
    event_loop.note(py);
    let sink = match on_alert {
        Some(f) if !f.is_callable() => {
            return Err(crate::error::to_py_err(keel::Error::invalid_input(
                "on_alert",
                "must be an async callable",
            )));
        }
        Some(f) => Some(
            Arc::new(PySink(PyTransport::new(f.unbind(), event_loop.clone())))
                as Arc<dyn AlertSink>,
        ),
        None => None,
    };
    let options = kwargs(options);
    guard(|| Fleet::open_value(keel, options, sink, Case::Snake, ""))
        .map(|inner| PyFleet { inner, event_loop })
}

/// The arguments given (not `None`), as one JSON object.
fn given<const N: usize>(named: [(&str, Option<Value>); N]) -> Option<Value> {
    let named = named.into_iter().filter_map(|(k, v)| v.map(|v| (k, v)));
    args(named.collect(), None)
}

impl PyFleet {
    fn call<'py>(
        &self,
        py: Python<'py>,
        op: &'static str,
        args: Option<Value>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.event_loop.note(py);
        crate::runtime::call(py, &self.inner, op, args)
    }
}

#[pymethods]
impl PyFleet {
    /// Every registered agent, by name (awaitable): a list of `keel.types.FleetAgent`.
    fn agents<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.call(py, "agents", None)
    }

    /// Registers `agent_name` or changes it: `cadence_ms` or `schedule` (cron, UTC),
    /// `description`, `models`, `stuck_after_ms`, `enabled`; an absent field keeps what is
    /// stored (awaitable): a `keel.types.FleetAgent`.
    #[pyo3(signature = (agent_name, **fields))]
    fn set_agent<'py>(
        &self,
        py: Python<'py>,
        agent_name: Arg<String>,
        fields: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = args(vec![("agent_name", agent_name.0.into())], fields);
        self.call(py, "set_agent", args)
    }

    /// Removes `agent_name` from the registry (awaitable): the `keel.types.FleetAgent` it was.
    fn remove_agent<'py>(
        &self,
        py: Python<'py>,
        agent_name: Arg<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = args(vec![("agent_name", agent_name.0.into())], None);
        self.call(py, "remove_agent", args)
    }

    /// The fleet now, read only: no alert, no snapshot (awaitable): a
    /// `keel.types.FleetStatus`.
    fn status<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.call(py, "status", None)
    }

    /// A health run: one fleet query, alerts once per transition, snapshots, then delivery
    /// (awaitable): a `keel.types.FleetHealth`, the original's response shape.
    fn check_fleet_health<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.call(py, "check_fleet_health", None)
    }

    /// Delivers the due notices of the outbox (awaitable): a `keel.types.DeliveryReport`.
    fn deliver<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.call(py, "deliver", None)
    }

    /// The newest notices (at most `limit`, default 50), of `agent_name` or every agent
    /// (awaitable): a list of
    /// `keel.types.FleetAlert`.
    #[pyo3(signature = (agent_name=None, limit=None))]
    fn alerts<'py>(
        &self,
        py: Python<'py>,
        agent_name: Option<Arg<String>>,
        limit: Option<Arg<u32>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let named = [
            ("limit", limit.map(|l| l.0.into())),
            ("agent_name", agent_name.map(|n| n.0.into())),
        ];
        self.call(py, "alerts", given(named))
    }

    /// Deletes snapshots older than `keep_ms` (default 30 days; awaitable): how many.
    #[pyo3(signature = (keep_ms=None))]
    fn prune<'py>(
        &self,
        py: Python<'py>,
        keep_ms: Option<Arg<u64>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.call(
            py,
            "prune",
            given([("keep_ms", keep_ms.map(|v| v.0.into()))]),
        )
    }

    /// The fleet now and each agent's snapshots over `period_ms` (default 7 days; awaitable):
    /// a `keel.types.FleetReport`.
    #[pyo3(signature = (period_ms=None))]
    fn report<'py>(
        &self,
        py: Python<'py>,
        period_ms: Option<Arg<u64>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.call(
            py,
            "report",
            given([("period_ms", period_ms.map(|v| v.0.into()))]),
        )
    }

    /// The report as one self-contained HTML page with charts (awaitable): a `str`.
    #[pyo3(signature = (period_ms=None))]
    fn report_html<'py>(
        &self,
        py: Python<'py>,
        period_ms: Option<Arg<u64>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.call(
            py,
            "report_html",
            given([("period_ms", period_ms.map(|v| v.0.into()))]),
        )
    }
}

/// Adds this module's functions and class to `keel._native`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(agent_status, m)?)?;
    m.add_function(wrap_pyfunction!(next_alert, m)?)?;
    m.add_function(wrap_pyfunction!(fleet_alert_message, m)?)?;
    m.add_class::<PyFleet>()
}
