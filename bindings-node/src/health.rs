//! `agentStatus` and `nextAlert`: fleet health's status rules and alert decisions (core:
//! `keel::telemetry::health`, which owns the thresholds, the reasons and the state machine).

use napi_derive::napi;
use serde_json::Value;

use keel::options::Case::Camel;
use keel::telemetry::health;

use crate::error::{Arg, Outcome, guard};
use crate::json::Json;
use crate::options::record;

/// An agent's status from its metrics (`options.now`: RFC 3339, the current time when
/// absent). Pure.
#[napi(
    ts_args_type = "metrics: AgentMetrics, options?: { now?: string | null } | null",
    ts_return_type = "AgentStatus"
)]
pub fn agent_status(Json(metrics): Json, options: Option<Json>) -> Outcome<Value> {
    let options = options.map(|o| o.0);
    guard(|| health::agent_status_value(metrics, options, Camel, "options").map(|s| record(&s)))
}

/// Whether a health run alerts for an agent now `status`, after `state` (`options.now`,
/// `options.cooldownMs`, `options.renotifyMs`). Pure.
#[napi(
    ts_args_type = "state: AlertState | null, status: HealthStatus, options?: { now?: string | null; cooldownMs?: number | null; renotifyMs?: number | null } | null",
    ts_return_type = "AlertDecision"
)]
pub fn next_alert(
    state: Option<Json>,
    Arg(status): Arg<String>,
    options: Option<Json>,
) -> Outcome<Value> {
    let (state, options) = (state.map(|s| s.0), options.map(|o| o.0));
    guard(|| {
        health::next_alert_value(state, &status, options, Camel, "options").map(|d| record(&d))
    })
}
