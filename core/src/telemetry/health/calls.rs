//! Fleet health's pure calls as a binding makes them: records as JSON in the caller's
//! [`Case`], `now` as RFC 3339 text (the current time when absent), errors naming the field as
//! the caller spells it.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use std::sync::Arc;

use super::alert::{AlertDecision, AlertOptions, AlertState, next_alert};
use super::fleet::{AlertSink, Fleet, FleetOptions};
use super::notice::{Notice, slack_message};
use super::registry::AgentSpec;
use super::report::report_html;
use super::status::{AgentMetrics, AgentStatus, HealthStatus, agent_status};
use crate::Keel;
use crate::error::Result;
use crate::options::{Calls, Case, from_value, rooted, spelt};
use crate::record::to_value;
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

/// The calls [`Fleet::call_value`] answers.
pub const FLEET_CALLS: [&str; 11] = [
    "agents",
    "set_agent",
    "remove_agent",
    "status",
    "check",
    "check_fleet_health",
    "deliver",
    "alerts",
    "prune",
    "report",
    "report_html",
];

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct FleetArgs {
    agent_name: Option<String>,
    limit: Option<u32>,
    keep_ms: Option<u64>,
    period_ms: Option<u64>,
}

/// [`slack_message`] of `notice` (a [`Notice`] object): the webhook payload. Pure.
///
/// # Errors
/// [`crate::Error::InvalidInput`] for a notice that does not deserialize or a time that is
/// not RFC 3339.
pub fn slack_message_value(notice: Value, case: Case) -> Result<Value> {
    let call = || {
        let notice: Notice = from_value(Some(notice), case, "notice")?;
        slack_message(&notice).map_err(|e| rooted(e, "notice"))
    };
    call().map_err(|e| spelt(e, case))
}

impl Fleet {
    /// Fleet health on `keel` with its options as JSON ([`FleetOptions`]), alerts going to
    /// `sink` when given.
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] naming the option.
    pub fn open_value(
        keel: &Keel,
        options: Option<Value>,
        sink: Option<Arc<dyn AlertSink>>,
        case: Case,
        root: &str,
    ) -> Result<Self> {
        let call = || {
            let options: FleetOptions = from_value(options, case, root)?;
            Fleet::open(keel, options, sink).map_err(|e| rooted(e, root))
        };
        call().map_err(|e| spelt(e, case))
    }
}

impl Calls for Fleet {
    /// Runs the fleet call `op` (one of [`FLEET_CALLS`]) on `args` and returns its result as
    /// JSON in `case`; `check_fleet_health` answers in the original's snake_case shape
    /// whatever the case, for the dashboards that read it.
    ///
    /// # Errors
    /// As the call; [`crate::Error::InvalidInput`] naming the argument, or `op` when unknown.
    async fn call_op(&self, op: &str, args: Option<Value>, case: Case) -> Result<Value> {
        if op == "set_agent" {
            let spec: AgentSpec = from_value(args, case, "")?;
            return Ok(to_value(&self.set_agent(&spec).await?, case));
        }
        let a: FleetArgs = from_value(args, case, "")?;
        Ok(match op {
            "agents" => to_value(&self.agents().await?, case),
            "remove_agent" => {
                let name = a
                    .agent_name
                    .ok_or_else(|| crate::Error::invalid_input("agent_name", "is required"))?;
                to_value(&self.remove_agent(&name).await?, case)
            }
            "status" => to_value(&self.status().await?, case),
            "check" => to_value(&self.check().await?, case),
            "check_fleet_health" => to_value(&self.check().await?, Case::Snake),
            "deliver" => to_value(&self.deliver().await?, case),
            "alerts" => {
                let alerts = self
                    .alerts(a.agent_name.as_deref(), a.limit.unwrap_or(50))
                    .await?;
                to_value(&alerts, case)
            }
            "prune" => Value::from(self.prune(a.keep_ms).await?),
            "report" => to_value(&self.report(a.period_ms).await?, case),
            "report_html" => Value::String(report_html(&self.report(a.period_ms).await?)),
            other => {
                return Err(crate::Error::invalid_input(
                    "op",
                    format!(
                        "unknown fleet call {other}; one of {}",
                        FLEET_CALLS.join(", ")
                    ),
                ));
            }
        })
    }
}
