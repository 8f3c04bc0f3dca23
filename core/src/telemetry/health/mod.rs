//! Fleet health (issue 21): whether each agent of the fleet is doing its job, from SQL
//! aggregates, with alerts that say each thing once.
//!
//! - [`agent_status`]: an agent's status from its metrics (the original's thresholds with the
//!   seed's intent restored); [`next_alert`]: when a health run alerts (a state machine with a
//!   cooldown, reminders and recovery notices); [`slack_message`]: the Block Kit alert. Pure.
//! - [`Fleet`]: the registry (`fleet_agents`), the read-only status, health runs
//!   ([`Fleet::check`]: one fleet query, alerts by compare-and-set, snapshots in one batch,
//!   then delivery), the alert outbox and its delivery by webhook or [`AlertSink`], the
//!   report, and snapshot retention.

mod agents;
mod alert;
mod calls;
mod check;
mod fleet;
mod metrics;
mod notice;
mod outbox;
mod registry;
mod report;
mod snapshots;
mod status;

pub use alert::{
    AlertDecision, AlertKind, AlertOptions, AlertState, COOLDOWN_MS, RENOTIFY_MS, next_alert,
};
pub use calls::{FLEET_CALLS, agent_status_value, next_alert_value, slack_message_value};
pub use check::{AgentHealth, DeliveryReport, FleetHealth, FleetStatus, Summary};
pub use fleet::{AlertSink, Fleet, FleetOptions, WEBHOOK_ENV};
pub use metrics::fleet_query;
pub use notice::{Notice, mrkdwn_escape, slack_message};
pub use outbox::FleetAlert;
pub use registry::{
    AgentSpec, DEFAULT_STUCK_AFTER_MS, FleetAgent, MAX_CADENCE_MS, cadence_of_schedule,
};
pub use report::{FleetReport, REPORT_PERIOD_MS, html_escape, report_html};
pub use snapshots::{SNAPSHOT_RETENTION_MS, SnapshotPoint};
pub use status::{
    AgentMetrics, AgentStatus, CRITICAL_FAILURE_RATE, DEAD_LETTERS_CRITICAL, HealthStatus,
    MIN_WINDOW_MS, STALE_CADENCES, WARNING_FAILURE_RATE, agent_status, window_ms,
};
