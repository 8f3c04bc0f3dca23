//! Dead letters as records: what a caller enqueues, what a row holds, and which letters a
//! listing wants.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::classify::ErrorKind;
use crate::error::{Error, Result};

/// The life of a letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LetterStatus {
    /// Waiting for `next_retry_at`.
    Pending,
    /// Leased by a worker (`locked_by`) until `locked_until`.
    Retrying,
    /// Handed to a handler that works asynchronously; resolved by a completion call, or leased
    /// again when `locked_until` passes.
    Accepted,
    /// Done.
    Resolved,
    /// No more retries (`abandoned_reason` says why); `redrive` brings it back.
    Abandoned,
}

impl LetterStatus {
    /// `pending`, `retrying`, `accepted`, `resolved` or `abandoned`.
    pub fn as_str(self) -> &'static str {
        match self {
            LetterStatus::Pending => "pending",
            LetterStatus::Retrying => "retrying",
            LetterStatus::Accepted => "accepted",
            LetterStatus::Resolved => "resolved",
            LetterStatus::Abandoned => "abandoned",
        }
    }

    pub(super) fn parse(text: &str) -> Self {
        match text {
            "retrying" => LetterStatus::Retrying,
            "accepted" => LetterStatus::Accepted,
            "resolved" => LetterStatus::Resolved,
            "abandoned" => LetterStatus::Abandoned,
            _ => LetterStatus::Pending,
        }
    }
}

/// One failure in a letter's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Failed {
    /// When, RFC 3339 (default: now).
    #[serde(default = "now")]
    pub at: String,
    /// Its kind (default `unknown`).
    #[serde(default = "unknown")]
    pub kind: ErrorKind,
    /// What went wrong, at most 2,000 characters.
    pub message: String,
    /// The HTTP status, when a reply failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// For a failure of the run, its attempt (default 1); for a retry's (`worker` set), the
    /// retry, counted from 1.
    #[serde(default = "first")]
    pub attempt: u32,
    /// The worker that made the attempt (none for the run's own attempts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn unknown() -> ErrorKind {
    ErrorKind::Unknown
}

fn first() -> u32 {
    1
}

/// A letter to enqueue: a run that exhausted its retries or timed out.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NewDeadLetter {
    /// The agent whose run failed (required, 1 to 200 characters).
    pub agent_name: String,
    /// What triggered the run: `cron`, `webhook`, `user`, `proactive`, … (default `agent`).
    pub trigger_type: Option<String>,
    /// What a retry replays (a JSON value; default `{}`).
    pub payload: Value,
    /// The org: a UUID, or any other id (`system`), kept as given.
    pub org_id: Option<String>,
    /// The user, as `org_id`.
    pub user_id: Option<String>,
    /// The run's trace, a UUID.
    pub trace_id: Option<String>,
    /// The run's failures, oldest first; the last is the letter's reason. At least one.
    pub errors: Vec<Failed>,
    /// Retries before the letter is abandoned, 1 to 100 (default 3).
    pub max_retries: Option<u32>,
    /// Enqueues once per key: a second call returns the first letter.
    pub idempotency_key: Option<String>,
    /// The first retry after this many milliseconds (default: the dead-letter backoff's first
    /// delay).
    pub delay_ms: Option<u64>,
    /// Outputs of the steps the failed run completed, by name (the replay skips them).
    pub steps: serde_json::Map<String, Value>,
}

impl NewDeadLetter {
    /// The letter of a run that failed for good: its payload, org and user as given, its
    /// trace, its failures (`none_failed` when the deadline passed before any), its completed
    /// steps, keyed by the run's execution id.
    pub(super) fn of_run<T>(
        config: &super::AgentConfig,
        result: &super::AgentResult<T>,
        none_failed: Failed,
    ) -> Self {
        let errors = if result.errors.is_empty() {
            vec![none_failed]
        } else {
            result.errors.clone()
        };
        NewDeadLetter {
            agent_name: config.agent_name.clone(),
            trigger_type: Some(
                config
                    .trigger_type
                    .clone()
                    .unwrap_or_else(|| config.execution_type.clone()),
            ),
            payload: config.payload.clone(),
            org_id: config.org_id.clone(),
            user_id: config.user_id.clone(),
            trace_id: Some(result.trace_id.to_string()),
            errors,
            idempotency_key: Some(format!("run:{}", result.execution_id)),
            steps: result.steps.clone(),
            ..NewDeadLetter::default()
        }
    }
}

/// The longest message a history keeps.
pub const MAX_MESSAGE_CHARS: usize = 2_000;

/// The longest wait a letter takes: a first delay, a lease or a `Retry-After` beyond it is cut
/// to it (30 days).
pub const MAX_WAIT_MS: u64 = 30 * 24 * 3_600_000;

impl NewDeadLetter {
    /// Checks the letter.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `agent_name` (empty or over 200 characters), `errors` (none),
    /// `errors[i].at` (not RFC 3339), `max_retries` (0 or over 100), `trace_id` (not a UUID),
    /// `delay_ms` (over 30 days), `trigger_type` or `idempotency_key` (empty or over 200
    /// characters), any of these ids, `org_id` or `user_id` with a NUL.
    pub fn check(&self) -> Result<()> {
        name("agent_name", &self.agent_name)?;
        if let Some(t) = &self.trigger_type {
            name("trigger_type", t)?;
        }
        if let Some(k) = &self.idempotency_key {
            name("idempotency_key", k)?;
        }
        crate::idents::no_nul("org_id", self.org_id.as_deref().unwrap_or_default())?;
        crate::idents::no_nul("user_id", self.user_id.as_deref().unwrap_or_default())?;
        if self.errors.is_empty() {
            return Err(Error::invalid_input(
                "errors",
                "must hold at least one failure",
            ));
        }
        if self.max_retries.is_some_and(|m| !(1..=100).contains(&m)) {
            return Err(Error::invalid_input("max_retries", "must be 1 to 100"));
        }
        crate::options::parse_uuid("trace_id", self.trace_id.as_deref())?;
        if self.delay_ms.is_some_and(|ms| ms > MAX_WAIT_MS) {
            return Err(Error::invalid_input("delay_ms", "must be at most 30 days"));
        }
        for (i, failed) in self.errors.iter().enumerate() {
            crate::store::parse_time(&format!("errors[{i}].at"), &failed.at)?;
        }
        Ok(())
    }
}

pub(super) use crate::idents::short_name as name;

/// `message` cut to [`MAX_MESSAGE_CHARS`].
pub(super) fn clip(message: &str) -> String {
    crate::store::storable_text(message)
        .chars()
        .take(MAX_MESSAGE_CHARS)
        .collect()
}

/// A stored letter.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadLetter {
    /// Its id.
    pub id: Uuid,
    /// The agent whose run failed.
    pub agent_name: String,
    /// What triggered the run.
    pub trigger_type: String,
    /// What a retry replays.
    pub payload: Value,
    /// The org as given.
    pub org_id: Option<String>,
    /// The user as given.
    pub user_id: Option<String>,
    /// The run's trace.
    pub trace_id: Option<Uuid>,
    /// Where it is.
    pub status: LetterStatus,
    /// The latest failure's message.
    pub failure_reason: String,
    /// The latest failure's kind.
    pub error_kind: Option<ErrorKind>,
    /// Every failure, oldest first.
    pub errors: Vec<Failed>,
    /// Retries made by workers.
    pub retry_count: u32,
    /// Retries allowed.
    pub max_retries: u32,
    /// When the next retry is due (RFC 3339).
    pub next_retry_at: String,
    /// The worker holding the lease.
    pub locked_by: Option<String>,
    /// When the lease ends.
    pub locked_until: Option<String>,
    /// Raised by each claim; a worker's completing statements name the token it was given.
    pub fencing_token: u64,
    /// Why it was abandoned.
    pub abandoned_reason: Option<String>,
    /// Its idempotency key.
    pub idempotency_key: Option<String>,
    /// When enqueued.
    pub created_at: String,
    /// When last changed.
    pub updated_at: String,
    /// When resolved.
    pub resolved_at: Option<String>,
    /// Outputs of the steps the failed run completed, by name.
    pub steps: serde_json::Map<String, Value>,
}

/// A letter leased to a worker, with the token its completing statements name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Claimed {
    /// The letter as claimed (status `retrying`, `retry_count` counting this attempt).
    pub letter: DeadLetter,
    /// The fencing token of this lease.
    pub token: u64,
}

/// What a claim took: the letters leased to the worker, and those whose lease ran out on
/// their last retry, abandoned by the same statement.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Claim {
    /// Leased to the worker.
    pub leased: Vec<Claimed>,
    /// Abandoned.
    pub abandoned: Vec<DeadLetter>,
}

/// Which letters [`super::DeadLetters::list`] returns, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LetterQuery {
    /// Only these statuses (default: all).
    pub status: Vec<LetterStatus>,
    /// Only this agent.
    pub agent_name: Option<String>,
    /// Only this org (as given at enqueue).
    pub org_id: Option<String>,
    /// Only letters created at or after this RFC 3339 time.
    pub since: Option<String>,
    /// At most this many, 1 to 1,000 (default 100).
    pub limit: u32,
}

impl Default for LetterQuery {
    fn default() -> Self {
        LetterQuery {
            status: Vec::new(),
            agent_name: None,
            org_id: None,
            since: None,
            limit: 100,
        }
    }
}
