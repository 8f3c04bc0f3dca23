//! One `agent_executions` row: what a run records about itself, as the writer stores it and a
//! listing reads it back.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::agent::RunStatus;
use super::classify::ErrorKind;
use super::letter::Failed;

/// A run's row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Execution {
    /// The row's id (the result's `execution_id`).
    pub id: Uuid,
    /// The run's trace.
    pub trace_id: Uuid,
    /// The agent.
    pub agent_name: String,
    /// What kind of run (`fleet_agent`, `pipeline_stage`, …).
    pub execution_type: String,
    /// Who or what started it.
    pub triggered_by: Option<String>,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// When it ended.
    pub completed_at: Option<String>,
    /// When it must have ended; the sweeper fails it if it is still `running` after that.
    pub deadline_at: Option<String>,
    /// How it ended (`running` while it runs).
    pub status: RunStatus,
    /// Attempts made.
    pub attempts: u32,
    /// Items the run produced (`add_items`).
    pub items_emitted: u64,
    /// Items the run consumed (`add_items`).
    pub items_processed: u64,
    /// The model of its last model call.
    pub model_id: Option<String>,
    /// True when any of its model calls fell back from the tier's primary.
    pub model_was_fallback: bool,
    /// Tokens its model calls used.
    pub tokens_consumed: u64,
    /// Credits it spent.
    pub credits_consumed: f64,
    /// The last failure's message.
    pub error_message: Option<String>,
    /// The last failure's kind.
    pub error_kind: Option<ErrorKind>,
    /// Every failed attempt, oldest first.
    pub error_history: Vec<Failed>,
    /// Outputs of its completed steps, by name.
    pub steps: Map<String, Value>,
    /// What it returned (kept for runs with an idempotency key).
    pub output: Option<Value>,
    /// Retries, the dead letter it became, and the caller's own fields.
    pub metadata: Map<String, Value>,
    /// The user as given (a UUID or a raw id such as `system`).
    pub user_id: Option<String>,
    /// The org as given.
    pub org_id: Option<String>,
    /// Its idempotency key.
    pub idempotency_key: Option<String>,
}

/// Which runs a listing wants.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunQuery {
    /// Only these statuses.
    pub status: Vec<RunStatus>,
    /// Only this agent.
    pub agent_name: Option<String>,
    /// Only this org (a UUID or a raw id).
    pub org_id: Option<String>,
    /// Only this trace.
    pub trace_id: Option<String>,
    /// Only runs started at or after this time (RFC 3339).
    pub since: Option<String>,
    /// At most this many, 1 to 1,000 (default 100).
    pub limit: u32,
}

impl Default for RunQuery {
    fn default() -> Self {
        RunQuery {
            status: Vec::new(),
            agent_name: None,
            org_id: None,
            trace_id: None,
            since: None,
            limit: 100,
        }
    }
}

/// What the sweeper takes.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SweepOptions {
    /// How long past its deadline a run may still be `running` (default 1 minute).
    pub grace_ms: u64,
    /// For rows without a deadline (written before 0012): how long after its start (default
    /// 1 hour).
    pub stale_after_ms: u64,
}

impl Default for SweepOptions {
    fn default() -> Self {
        SweepOptions {
            grace_ms: 60_000,
            stale_after_ms: 3_600_000,
        }
    }
}

/// The pg_cron job that sweeps every five minutes (the SQL function of migration 0012).
pub const SWEEP_SCHEDULE: &str = "SELECT cron.schedule('keel-sweep-runs', '*/5 * * * *', \
     'SELECT keel.sweep_agent_executions()');";
