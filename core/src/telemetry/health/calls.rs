//! Fleet health's pure calls as a binding makes them: records as JSON in the caller's
//! [`Case`], `now` as RFC 3339 text (the current time when absent), errors naming the field as
//! the caller spells it.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::alert::{AlertDecision, AlertOptions, AlertState, next_alert};
use super::status::{AgentMetrics, AgentStatus, HealthStatus, agent_status};
use crate::error::Result;
use crate::options::{Case, from_value, rooted, spelt};
use crate::store::parse_time;

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct Now {
    now: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct AlertCall {
    now: Option<String>,
    cooldown_ms: Option<u64>,
    renotify_ms: Option<u64>,
}

/// `now` read from an option (`root.now` in errors), else the current time.
fn now(text: Option<&str>, root: &str) -> Result<DateTime<Utc>> {
    let field = if root.is_empty() {
        "now".to_owned()
    } else {
        format!("{root}.now")
    };
    text.map_or_else(|| Ok(Utc::now()), |t| parse_time(&field, t))
}

/// [`agent_status`] of `metrics` (an [`AgentMetrics`] object) with options `{now}`. Pure.
///
/// # Errors
/// As `agent_status`, and [`crate::Error::InvalidInput`] for metrics or options that do not
/// deserialize.
pub fn agent_status_value(
    metrics: Value,
    options: Option<Value>,
    case: Case,
    root: &str,
) -> Result<AgentStatus> {
    let call = || {
        let options: Now = from_value(options, case, root)?;
        let now = now(options.now.as_deref(), root)?;
        let metrics: AgentMetrics = from_value(Some(metrics), case, "metrics")?;
        agent_status(&metrics, now).map_err(|e| rooted(e, "metrics"))
    };
    call().map_err(|e| spelt(e, case))
}

/// [`next_alert`] after `state` (an [`AlertState`] object, or nothing) for `status`, with
/// options `{now, cooldown_ms, renotify_ms}`. Pure.
///
/// # Errors
/// As `next_alert`, and [`crate::Error::InvalidInput`] for a state, status or options that do
/// not deserialize.
pub fn next_alert_value(
    state: Option<Value>,
    status: &str,
    options: Option<Value>,
    case: Case,
    root: &str,
) -> Result<AlertDecision> {
    let call = || {
        let options: AlertCall = from_value(options, case, root)?;
        let now = now(options.now.as_deref(), root)?;
        let defaults = AlertOptions::default();
        let alert = AlertOptions {
            cooldown_ms: options.cooldown_ms.unwrap_or(defaults.cooldown_ms),
            renotify_ms: options.renotify_ms.unwrap_or(defaults.renotify_ms),
        };
        let state: AlertState = from_value(state, case, "state")?;
        let status: HealthStatus = serde_json::from_value(Value::String(status.to_owned()))
            .map_err(|_| {
                crate::Error::invalid_input("status", "must be healthy, warning, stale or critical")
            })?;
        next_alert(&state, status, now, &alert).map_err(|e| match e.field() {
            Some("renotify_ms") => rooted(e, root),
            _ => e,
        })
    };
    call().map_err(|e| spelt(e, case))
}
