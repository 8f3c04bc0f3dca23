//! An agent run as a caller describes it ([`AgentConfig`]) and as it ends ([`AgentResult`]):
//! the original `AgentConfig` and `AgentResult` fields (§3.2), plus what the original lacked:
//! an execution type and trigger of the caller's own, an idempotency key, a time limit per
//! attempt and for the whole run, retry policies per kind of failure, and the steps a previous
//! run completed.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::backoff::RetryPolicy;
use super::classify::ErrorKind;
use super::letter::{Failed, MAX_WAIT_MS, name};
use crate::error::{Error, Result};

/// The default time limit of one attempt (2 minutes).
pub const DEFAULT_ATTEMPT_TIMEOUT_MS: u64 = 120_000;
/// The default time limit of a whole run, retries and their waits included (10 minutes).
pub const DEFAULT_DEADLINE_MS: u64 = 600_000;

/// A run to make.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentConfig {
    /// The agent (required, 1 to 200 characters): the budget's, the spans' and the row's name.
    pub agent_name: String,
    /// The acting user: a UUID, or any other id (`system`), kept as given.
    pub user_id: Option<String>,
    /// The org, as `user_id`.
    pub org_id: Option<String>,
    /// The trace to join (a UUID); a new one when absent.
    pub trace_id: Option<String>,
    /// A W3C `traceparent`: the run's span nests under the caller's.
    pub traceparent: Option<String>,
    /// When the budget stops the run, answer with the steps completed so far (`partial`).
    pub allow_partial_results: bool,
    /// Retries after the first attempt, 0 to 99 (the original's override): every kind but
    /// `validation` then gets `max_retries + 1` attempts. Default: the policy's.
    pub max_retries: Option<u32>,
    /// Attempts per kind of failure and their backoff (default: the original's table, §3.2).
    pub policy: RetryPolicy,
    /// What kind of run this is (default `fleet_agent`).
    pub execution_type: String,
    /// Who or what started it (`cron`, `webhook:slack`, a user id, …).
    pub triggered_by: Option<String>,
    /// Runs once per (agent, key): a second run with the key answers with the first run's
    /// result, and the run's model calls are charged once however often they are retried.
    pub idempotency_key: Option<String>,
    /// Time limit of one attempt in milliseconds (default 2 minutes).
    pub attempt_timeout_ms: u64,
    /// Time limit of the whole run in milliseconds, waits included (default 10 minutes).
    pub deadline_ms: u64,
    /// Credits the run may spend (default: the agent's entry in `FLEET_AGENT_BUDGETS`).
    pub budget: Option<f64>,
    /// What a dead letter replays (default `{}`).
    pub payload: Value,
    /// The dead letter's trigger type (default: `execution_type`).
    pub trigger_type: Option<String>,
    /// A run that fails for good (retries spent, timed out) becomes a dead letter (default
    /// true; validation failures, budget stops and cancellations never do).
    pub dead_letter: bool,
    /// Outputs of steps a previous run completed, by name (a dead letter's `steps`): those
    /// steps answer with them instead of running again.
    pub steps: Map<String, Value>,
    /// Seeds the backoff's jitter (tests); fresh entropy when absent.
    pub seed: Option<u64>,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            agent_name: String::new(),
            user_id: None,
            org_id: None,
            trace_id: None,
            traceparent: None,
            allow_partial_results: false,
            max_retries: None,
            policy: RetryPolicy::default(),
            execution_type: "fleet_agent".into(),
            triggered_by: None,
            idempotency_key: None,
            attempt_timeout_ms: DEFAULT_ATTEMPT_TIMEOUT_MS,
            deadline_ms: DEFAULT_DEADLINE_MS,
            budget: None,
            payload: Value::Object(Map::new()),
            trigger_type: None,
            dead_letter: true,
            steps: Map::new(),
            seed: None,
        }
    }
}

impl AgentConfig {
    /// A run of `agent_name` with every default.
    pub fn new(agent_name: impl Into<String>) -> Self {
        AgentConfig {
            agent_name: agent_name.into(),
            ..AgentConfig::default()
        }
    }

    /// Checks the config.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `agent_name`, `user_id`, `org_id`, `execution_type`,
    /// `triggered_by`, `idempotency_key` or `trigger_type` (empty or over 200 characters),
    /// `trace_id` (not a UUID), `max_retries` (over 99), `attempt_timeout_ms` or `deadline_ms`
    /// (0 or over 30 days), `budget` (not a finite number ≥ 0) or `policy.max_attempts` (0).
    pub fn check(&self) -> Result<()> {
        name("agent_name", &self.agent_name)?;
        name("execution_type", &self.execution_type)?;
        for (field, value) in [
            ("user_id", &self.user_id),
            ("org_id", &self.org_id),
            ("triggered_by", &self.triggered_by),
            ("idempotency_key", &self.idempotency_key),
            ("trigger_type", &self.trigger_type),
        ] {
            if let Some(value) = value {
                name(field, value)?;
            }
        }
        crate::options::parse_uuid("trace_id", self.trace_id.as_deref())?;
        if self.max_retries.is_some_and(|m| m > 99) {
            return Err(Error::invalid_input("max_retries", "must be 0 to 99"));
        }
        for (field, ms) in [
            ("attempt_timeout_ms", self.attempt_timeout_ms),
            ("deadline_ms", self.deadline_ms),
        ] {
            if ms == 0 || ms > MAX_WAIT_MS {
                return Err(Error::invalid_input(
                    field,
                    "must be 1 ms to 30 days (2592000000)",
                ));
            }
        }
        if self.budget.is_some_and(|b| !b.is_finite() || b < 0.0) {
            return Err(Error::invalid_input(
                "budget",
                "must be a finite number of credits ≥ 0",
            ));
        }
        if self.policy.max_attempts == 0 {
            return Err(Error::invalid_input("policy.max_attempts", "must be ≥ 1"));
        }
        Ok(())
    }

    /// The retry policy in force: `policy`, with `max_retries` applied (every kind but
    /// validation gets `max_retries + 1` attempts, under a cap raised to match).
    pub fn effective_policy(&self) -> RetryPolicy {
        let mut policy = self.policy.clone();
        if let Some(retries) = self.max_retries {
            let attempts = retries + 1;
            for (kind, kind_policy) in &mut policy.kinds {
                if *kind != ErrorKind::Validation {
                    kind_policy.max_attempts = attempts;
                }
            }
            policy.max_attempts = attempts;
        }
        policy
    }

    /// The attempt time limit.
    pub fn attempt_timeout(&self) -> Duration {
        Duration::from_millis(self.attempt_timeout_ms)
    }

    /// The run's time limit.
    pub fn deadline(&self) -> Duration {
        Duration::from_millis(self.deadline_ms)
    }
}

/// How a run ended (the `agent_executions.status` values; `running` only while it runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Still running (or its process stopped; the sweeper ends it).
    Running,
    /// The executor returned.
    Completed,
    /// Every allowed attempt failed, the run timed out, or it was cancelled.
    Failed,
    /// The budget stopped it with partial results.
    Partial,
    /// The budget stopped it.
    BudgetExceeded,
}

impl RunStatus {
    /// The column value.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Partial => "partial",
            RunStatus::BudgetExceeded => "budget_exceeded",
        }
    }

    /// The status a column holds (`running` for anything unknown).
    pub fn parse(text: &str) -> Self {
        match text {
            "completed" => RunStatus::Completed,
            "failed" => RunStatus::Failed,
            "partial" => RunStatus::Partial,
            "budget_exceeded" => RunStatus::BudgetExceeded,
            _ => RunStatus::Running,
        }
    }
}

/// How a run ended, for the caller.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentResult<T> {
    /// True when the executor returned (`status` completed).
    pub success: bool,
    /// What the executor returned; with `partial`, the outputs of the completed steps.
    pub data: Option<T>,
    /// True when the budget stopped the run and `allow_partial_results` kept what the
    /// completed steps made (in `steps`).
    pub partial: bool,
    /// The last failure's message (or why the run stopped).
    pub error: Option<String>,
    /// The last failure's kind.
    pub error_kind: Option<ErrorKind>,
    /// How the run ended.
    pub status: RunStatus,
    /// The run's trace.
    pub trace_id: Uuid,
    /// The run's `agent_executions` row.
    pub execution_id: Uuid,
    /// Wall time of the run, waits included.
    pub duration_ms: u64,
    /// Credits the run spent (its model calls and `add_credits`).
    pub credits_consumed: f64,
    /// Tokens its model calls used.
    pub tokens_consumed: u64,
    /// Attempts after the first.
    pub retries_used: u32,
    /// Attempts made.
    pub attempts: u32,
    /// Outputs of the completed steps, by name (including those a previous run completed).
    pub steps: Map<String, Value>,
    /// Every failed attempt, oldest first.
    pub errors: Vec<Failed>,
    /// The dead letter the run became, if it did.
    pub dead_letter_id: Option<Uuid>,
    /// True when an earlier run with the same idempotency key answered.
    pub deduplicated: bool,
}

impl<T> AgentResult<T> {
    /// The result with its data converted.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> AgentResult<U> {
        AgentResult {
            success: self.success,
            data: self.data.map(f),
            partial: self.partial,
            error: self.error,
            error_kind: self.error_kind,
            status: self.status,
            trace_id: self.trace_id,
            execution_id: self.execution_id,
            duration_ms: self.duration_ms,
            credits_consumed: self.credits_consumed,
            tokens_consumed: self.tokens_consumed,
            retries_used: self.retries_used,
            attempts: self.attempts,
            steps: self.steps,
            errors: self.errors,
            dead_letter_id: self.dead_letter_id,
            deduplicated: self.deduplicated,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_retries_overrides_every_kind_but_validation() {
        let config = AgentConfig {
            max_retries: Some(5),
            ..AgentConfig::new("a")
        };
        let policy = config.effective_policy();
        assert_eq!(policy.max_attempts, 6);
        assert_eq!(policy.of(ErrorKind::Transient).max_attempts, 6);
        assert_eq!(policy.of(ErrorKind::Validation).max_attempts, 1);
        assert_eq!(AgentConfig::new("a").effective_policy().max_attempts, 4);
    }

    #[test]
    fn bad_configs_name_their_field() {
        let field = |c: AgentConfig| c.check().unwrap_err().field().map(str::to_owned);
        assert_eq!(field(AgentConfig::new("")), Some("agent_name".into()));
        let c = AgentConfig {
            attempt_timeout_ms: 0,
            ..AgentConfig::new("a")
        };
        assert_eq!(field(c), Some("attempt_timeout_ms".into()));
        let c = AgentConfig {
            budget: Some(f64::NAN),
            ..AgentConfig::new("a")
        };
        assert_eq!(field(c), Some("budget".into()));
        let c = AgentConfig {
            trace_id: Some("nope".into()),
            ..AgentConfig::new("a")
        };
        assert_eq!(field(c), Some("trace_id".into()));
        assert!(AgentConfig::new("a").check().is_ok());
    }
}
