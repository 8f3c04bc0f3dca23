//! `agentStatus`, `nextAlert`, `fleetAlertMessage`, `Keel.fleet` and `Fleet`, with alerts to a
//! Kotlin or Swift `AlertSink` (core: `keel::telemetry::health`, which owns the thresholds, the
//! reasons, the state machine, the registry, the query, the outbox and the report). Shapes are
//! JSON text in Node's camelCase (`AgentMetrics`, `AgentStatus`, `AlertState`,
//! `AlertDecision`, `FleetNotice`, `AgentSpec`, `FleetAgent`, `FleetStatus`, `FleetHealth`,
//! `FleetAlert`, `DeliveryReport`, `FleetReport`).

use std::sync::Arc;

use futures_util::future::BoxFuture;
use keel::options::Case::Camel;
use keel::telemetry::health::{self, FleetAlert};
use serde_json::Value;

use crate::error::KeelError;
use crate::json::{args, call, call_text, record, required, value};
use crate::runtime::{on_own_thread, within};
use crate::store::Keel;

/// An agent's status from `metricsJson` (an `AgentMetrics`; `optionsJson`: `now`, RFC 3339,
/// the current time when absent): an `AgentStatus` as JSON. Pure.
///
/// # Errors
/// `invalid_input` naming the field.
#[uniffi::export(default(options_json = None))]
pub fn agent_status(
    metrics_json: String,
    options_json: Option<String>,
) -> Result<String, KeelError> {
    let metrics = required(&metrics_json, "metrics")?;
    let options = value(options_json.as_deref(), "options")?;
    Ok(record(&health::agent_status_value(
        metrics, options, Camel, "options",
    )?))
}

/// Whether a health run alerts for an agent now `status`, after `stateJson` (an `AlertState`,
/// or null; `optionsJson`: `now`, `cooldownMs`, `renotifyMs`): an `AlertDecision` as JSON.
/// Pure.
///
/// # Errors
/// `invalid_input` naming the field.
#[uniffi::export(default(options_json = None))]
pub fn next_alert(
    state_json: Option<String>,
    status: String,
    options_json: Option<String>,
) -> Result<String, KeelError> {
    let state = value(state_json.as_deref(), "state")?;
    let options = value(options_json.as_deref(), "options")?;
    Ok(record(&health::next_alert_value(
        state, &status, options, Camel, "options",
    )?))
}

/// The Slack incoming-webhook payload (`{ text, blocks }`) of `noticeJson` (a `FleetNotice`):
/// the original's Block Kit layout, as JSON. Pure.
///
/// # Errors
/// `invalid_input` naming the field.
#[uniffi::export]
pub fn fleet_alert_message(notice_json: String) -> Result<String, KeelError> {
    let notice = required(&notice_json, "notice")?;
    Ok(health::slack_message_value(notice, Camel)?.to_string())
}

/// Receives fleet alerts in the host (a Kotlin or Swift function posting to the platform's own
/// channel). Called on a thread of its own: it may block. What it throws is a failed attempt,
/// retried by the outbox.
#[uniffi::export(with_foreign)]
pub trait AlertSink: Send + Sync {
    /// Delivers `alertJson` (a `FleetAlert`).
    ///
    /// # Errors
    /// Any exception: the attempt failed.
    fn deliver(&self, alert_json: String) -> Result<(), KeelError>;
}

/// A host sink as core calls one.
struct Host(Arc<dyn AlertSink>);

impl health::AlertSink for Host {
    fn deliver(&self, alert: FleetAlert) -> BoxFuture<'static, Result<(), String>> {
        let (host, alert) = (self.0.clone(), record(&alert));
        Box::pin(on_own_thread(move || host.deliver(alert)))
    }
}

/// Fleet health on a database; make it with `keel.fleet(optionsJson, onAlert)`.
#[derive(uniffi::Object)]
pub struct Fleet {
    inner: health::Fleet,
}

#[uniffi::export]
impl Keel {
    /// Fleet health with `optionsJson` (Node's `FleetOptions`: cooldown, renotify, the Slack
    /// webhook, delivery attempts; every default is core's), alerts going to `onAlert` when
    /// given.
    ///
    /// # Errors
    /// `invalid_input` naming the option.
    #[uniffi::method(default(options_json = None, on_alert = None))]
    pub fn fleet(
        &self,
        options_json: Option<String>,
        on_alert: Option<Arc<dyn AlertSink>>,
    ) -> Result<Arc<Fleet>, KeelError> {
        let options = value(options_json.as_deref(), "options")?;
        let sink = on_alert.map(|s| Arc::new(Host(s)) as Arc<dyn health::AlertSink>);
        let inner =
            within(|| health::Fleet::open_value(&self.inner, options, sink, Camel, "options"))?;
        Ok(Arc::new(Fleet { inner }))
    }
}

#[uniffi::export]
impl Fleet {
    /// Every registered agent, by name: a `FleetAgent[]`.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn agents(&self) -> Result<String, KeelError> {
        call_text(&self.inner, "agents", || Ok(Value::Null)).await
    }

    /// Registers an agent or changes it (`specJson`, an `AgentSpec`: `agentName`, `cadenceMs`
    /// or `schedule`, `description`, `models`, `stuckAfterMs`, `enabled`; an absent field
    /// keeps what is stored): the `FleetAgent`.
    ///
    /// # Errors
    /// `invalid_input` naming the field.
    pub async fn set_agent(&self, spec_json: String) -> Result<String, KeelError> {
        call_text(&self.inner, "set_agent", move || {
            required(&spec_json, "spec")
        })
        .await
    }

    /// Removes an agent from the registry: the `FleetAgent` it was.
    ///
    /// # Errors
    /// `not_found` for an agent not registered.
    pub async fn remove_agent(&self, agent_name: String) -> Result<String, KeelError> {
        let args = move || args(vec![("agentName", agent_name.into())], None);
        call_text(&self.inner, "remove_agent", args).await
    }

    /// The fleet now, read only (no alert, no snapshot): a `FleetStatus`.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn status(&self) -> Result<String, KeelError> {
        call_text(&self.inner, "status", || Ok(Value::Null)).await
    }

    /// A health run (one fleet query, alerts once per transition, snapshots, then delivery):
    /// a `FleetHealth`.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn check(&self) -> Result<String, KeelError> {
        call_text(&self.inner, "check", || Ok(Value::Null)).await
    }

    /// A health run answering in the original edge function's snake_case response shape
    /// (`ok`, `checked_at`, `summary`, `agents`, `total_alerts_fired`), for its dashboards.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn check_fleet_health(&self) -> Result<String, KeelError> {
        call_text(&self.inner, "check_fleet_health", || Ok(Value::Null)).await
    }

    /// Delivers the due notices of the outbox: a `DeliveryReport`.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn deliver(&self) -> Result<String, KeelError> {
        call_text(&self.inner, "deliver", || Ok(Value::Null)).await
    }

    /// The newest notices (`optionsJson`: `agentName`, `limit`, default 50): a `FleetAlert[]`.
    ///
    /// # Errors
    /// `invalid_input` naming the option.
    #[uniffi::method(default(options_json = None))]
    pub async fn alerts(&self, options_json: Option<String>) -> Result<String, KeelError> {
        call_text(&self.inner, "alerts", move || options(options_json)).await
    }

    /// Deletes snapshots older than `keepMs` of `optionsJson` (default 30 days): how many.
    ///
    /// # Errors
    /// `invalid_input` naming the option.
    #[uniffi::method(default(options_json = None))]
    pub async fn prune(&self, options_json: Option<String>) -> Result<u64, KeelError> {
        let pruned = call(&self.inner, "prune", move || options(options_json));
        Ok(pruned.await?.as_u64().unwrap_or_default())
    }

    /// The fleet now and each agent's snapshots over `periodMs` of `optionsJson` (default 7
    /// days): a `FleetReport`.
    ///
    /// # Errors
    /// `invalid_input` naming the option.
    #[uniffi::method(default(options_json = None))]
    pub async fn report(&self, options_json: Option<String>) -> Result<String, KeelError> {
        call_text(&self.inner, "report", move || options(options_json)).await
    }

    /// The report as one self-contained HTML page with charts.
    ///
    /// # Errors
    /// `invalid_input` naming the option.
    #[uniffi::method(default(options_json = None))]
    pub async fn report_html(&self, options_json: Option<String>) -> Result<String, KeelError> {
        let page = call(&self.inner, "report_html", move || options(options_json));
        Ok(page.await?.as_str().unwrap_or_default().to_owned())
    }
}

/// A fleet call's options object (null: every default).
fn options(json: Option<String>) -> keel::Result<Value> {
    Ok(value(json.as_deref(), "options")?.unwrap_or_default())
}
