//! `keel.agent_status` and `keel.next_alert`: fleet health's status rules and alert decisions
//! (core: `keel::telemetry::health`, which owns the thresholds, the reasons and the state
//! machine).

use pyo3::prelude::*;
use pyo3::types::PyDict;

use keel::options::Case;
use keel::telemetry::health;

use crate::error::Arg;
use crate::json::{Json, kwargs, to_json_strict};
use crate::runtime::guard;

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

/// Adds this module's functions to `keel._native`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(agent_status, m)?)?;
    m.add_function(wrap_pyfunction!(next_alert, m)?)
}
