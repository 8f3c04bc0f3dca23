//! Fleet health (issue 21), its pure parts so far: an agent's status from its metrics
//! ([`agent_status`], the original's thresholds with the seed's intent restored) and when a
//! health run alerts ([`next_alert`], a state machine with a cooldown, reminders and recovery
//! notices). The registry, the one-query metrics, the snapshots and the delivery come next.

mod alert;
mod calls;
mod status;

pub use alert::{
    AlertDecision, AlertKind, AlertOptions, AlertState, COOLDOWN_MS, RENOTIFY_MS, next_alert,
};
pub use calls::{agent_status_value, next_alert_value};
pub use status::{
    AgentMetrics, AgentStatus, CRITICAL_FAILURE_RATE, DEAD_LETTERS_CRITICAL, HealthStatus,
    MIN_WINDOW_MS, STALE_CADENCES, WARNING_FAILURE_RATE, agent_status, window_ms,
};
