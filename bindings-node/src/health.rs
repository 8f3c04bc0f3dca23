//! `agentStatus`, `nextAlert`, `fleetAlertMessage` and `Keel.fleet`: fleet health's status rules,
//! alert decisions, the Slack alert and the fleet on a database (core:
//! `keel::telemetry::health`, which owns the thresholds, the reasons, the state machine, the
//! registry, the query, the outbox and the report).

use std::sync::Arc;

use futures_util::future::BoxFuture;
use napi_derive::napi;
use serde_json::Value;

use keel::options::Case::Camel;
use keel::telemetry::health::{self, AlertSink, Fleet as CoreFleet, FleetAlert};

use crate::error::{Arg, Outcome, call, guard};
use crate::flow::args;
use crate::json::{Json, Parsed};
use crate::options::record;
use crate::transport::{JsTransport, SendFn};

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

/// The Slack incoming-webhook payload (`{ text, blocks }`) of a notice: the original's Block
/// Kit layout. Pure.
#[napi(
    ts_args_type = "notice: FleetNotice",
    ts_return_type = "SlackWebhookPayload"
)]
pub fn fleet_alert_message(Json(notice): Json) -> Outcome<Value> {
    guard(|| health::slack_message_value(notice, Camel))
}

/// A JavaScript async function receiving fleet alerts; what it throws is a failed attempt,
/// retried.
struct JsSink(JsTransport);

impl AlertSink for JsSink {
    fn deliver(&self, alert: FleetAlert) -> BoxFuture<'static, Result<(), String>> {
        let call = self.0.call(record(&alert));
        Box::pin(async move { call.await.map(|_| ()).map_err(|f| f.message) })
    }
}

/// Fleet health on this database; make it with `db.fleet({ onAlert, ...options })`.
#[napi]
pub struct Fleet {
    inner: CoreFleet,
}

/// `db.fleet(options)`, `onAlert` taken apart by `init.js`.
pub fn open_fleet(
    keel: &keel::Keel,
    options: Option<Json>,
    on_alert: Option<SendFn>,
) -> Outcome<Fleet> {
    let sink = on_alert.map(|f| Arc::new(JsSink(JsTransport::new(f))) as Arc<dyn AlertSink>);
    let opened =
        guard(|| CoreFleet::open_value(keel, options.map(|o| o.0), sink, Camel, "options"));
    Outcome(opened.0.map(|inner| Fleet { inner }))
}

#[napi]
impl Fleet {
    /// Every registered agent, by name.
    #[napi(ts_return_type = "Promise<FleetAgent[]>")]
    pub async fn agents(&self) -> napi::Result<Outcome<Parsed>> {
        call(&self.inner, "agents", None).await
    }

    /// Registers an agent or changes it (`cadenceMs` or `schedule`, `description`, `models`,
    /// `stuckAfterMs`, `enabled`; an absent field keeps what is stored).
    #[napi(
        ts_args_type = "spec: AgentSpec",
        ts_return_type = "Promise<FleetAgent>"
    )]
    pub async fn set_agent(&self, spec: Option<Json>) -> napi::Result<Outcome<Parsed>> {
        call(&self.inner, "set_agent", spec.map(|s| s.0)).await
    }

    /// Removes an agent from the registry: the row it was.
    #[napi(
        ts_args_type = "agentName: string",
        ts_return_type = "Promise<FleetAgent>"
    )]
    pub async fn remove_agent(&self, agent_name: Arg<String>) -> napi::Result<Outcome<Parsed>> {
        call(
            &self.inner,
            "remove_agent",
            args(vec![("agentName", agent_name.0.into())], None),
        )
        .await
    }

    /// The fleet now, read only: no alert, no snapshot.
    #[napi(ts_return_type = "Promise<FleetStatus>")]
    pub async fn status(&self) -> napi::Result<Outcome<Parsed>> {
        call(&self.inner, "status", None).await
    }

    /// A health run: one fleet query, alerts once per transition, snapshots, then delivery.
    #[napi(ts_return_type = "Promise<FleetHealth>")]
    pub async fn check(&self) -> napi::Result<Outcome<Parsed>> {
        call(&self.inner, "check", None).await
    }

    /// A health run answering in the original edge function's snake_case response shape
    /// (`ok`, `checked_at`, `summary`, `agents`, `total_alerts_fired`), for its dashboards.
    #[napi(ts_return_type = "Promise<FleetHealthResponse>")]
    pub async fn check_fleet_health(&self) -> napi::Result<Outcome<Parsed>> {
        call(&self.inner, "check_fleet_health", None).await
    }

    /// Delivers the due notices of the outbox.
    #[napi(ts_return_type = "Promise<DeliveryReport>")]
    pub async fn deliver(&self) -> napi::Result<Outcome<Parsed>> {
        call(&self.inner, "deliver", None).await
    }

    /// The newest notices (`options.agentName`, `options.limit`, default 50).
    #[napi(
        ts_args_type = "options?: { agentName?: string | null; limit?: number | null } | null",
        ts_return_type = "Promise<FleetAlert[]>"
    )]
    pub async fn alerts(&self, options: Option<Json>) -> napi::Result<Outcome<Parsed>> {
        call(&self.inner, "alerts", options.map(|o| o.0)).await
    }

    /// Deletes snapshots older than `options.keepMs` (default 30 days): how many.
    #[napi(
        ts_args_type = "options?: { keepMs?: number | null } | null",
        ts_return_type = "Promise<number>"
    )]
    pub async fn prune(&self, options: Option<Json>) -> napi::Result<Outcome<Parsed>> {
        call(&self.inner, "prune", options.map(|o| o.0)).await
    }

    /// The fleet now and each agent's snapshots over `options.periodMs` (default 7 days).
    #[napi(
        ts_args_type = "options?: { periodMs?: number | null } | null",
        ts_return_type = "Promise<FleetReport>"
    )]
    pub async fn report(&self, options: Option<Json>) -> napi::Result<Outcome<Parsed>> {
        call(&self.inner, "report", options.map(|o| o.0)).await
    }

    /// The report as one self-contained HTML page with charts.
    #[napi(
        ts_args_type = "options?: { periodMs?: number | null } | null",
        ts_return_type = "Promise<string>"
    )]
    pub async fn report_html(&self, options: Option<Json>) -> napi::Result<Outcome<Parsed>> {
        call(&self.inner, "report_html", options.map(|o| o.0)).await
    }
}
