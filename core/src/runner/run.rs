//! `run_agent`: one run of an agent's executor, with classified retries, a time limit per
//! attempt and for the run, the budget checked before each attempt and at each step,
//! cancellation, an `invoke_agent` span, one `agent_executions` row, and a dead letter when it
//! fails for good.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::agent::{AgentConfig, AgentResult, RunStatus};
use super::backoff::{Backoff, Draws};
use super::classify::{ErrorKind, Failure, classify};
use super::context::{AgentContext, Cancel, RunShared, Tally};
use super::execution::Execution;
use super::letter::{Failed, NewDeadLetter, clip};
use super::letters::DeadLetters;
use super::runs::{RunRow, RunWriter, Runs};
use crate::Keel;
use crate::error::{Error, Result};
use crate::llm::Llm;
use crate::models::agent_budget_limit;
use crate::telemetry::{LoggerOptions, Span};

/// What a run may use besides its config.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The model client bound to the run ([`AgentContext::complete`]).
    pub llm: Option<Llm>,
    /// Cancels the run.
    pub cancel: Option<Cancel>,
}

fn epoch_ms(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// How the attempt loop stopped.
enum Ending<T> {
    Done(T),
    Failed,
    Budget(String),
    Cancelled,
}

/// Writes the run's row as failed if the run is dropped before it ends (its caller stopped
/// waiting, a Python task was cancelled), so no row stays `running`.
struct RowGuard {
    writer: RunWriter,
    row: Option<RunRow>,
}

impl Drop for RowGuard {
    fn drop(&mut self) {
        if let Some(mut row) = self.row.take() {
            row.status = RunStatus::Failed;
            row.completed_ms = Some(epoch_ms(SystemTime::now()));
            row.error_message = Some("cancelled: the run's caller stopped waiting".into());
            self.writer.enqueue(row);
        }
    }
}

impl Keel {
    /// [`run_agent`] on this handle's database, without a model client or cancellation.
    ///
    /// # Errors
    /// As [`run_agent`].
    pub async fn run_agent<T, F, Fut, E>(
        &self,
        config: AgentConfig,
        executor: F,
    ) -> Result<AgentResult<T>>
    where
        T: Serialize + DeserializeOwned,
        F: FnMut(AgentContext) -> Fut,
        Fut: Future<Output = std::result::Result<T, E>>,
        E: Into<Failure>,
    {
        run_agent(self, config, RunOptions::default(), executor).await
    }
}

/// Runs `executor` as agent `config.agent_name` until it returns, a failure's kind has no
/// attempts left, the budget is spent, the deadline passes or the run is cancelled. Never
/// returns the executor's failure as an error: the result says how the run ended.
///
/// Each attempt gets a fresh [`AgentContext`] and at most `attempt_timeout_ms` (less when the
/// deadline is nearer); a failure is classified on its structure ([`classify`]) and retried
/// after its kind's backoff, each kind counting its own attempts under the policy's cap. The
/// run is a span `invoke_agent {agent}` (`gen_ai.operation.name` `invoke_agent`,
/// `gen_ai.agent.name`) with a child span per attempt and per step. Its `agent_executions`
/// row is enqueued when it starts and when it ends, never written on the caller's path
/// (except the claim of an idempotency key). A run that fails for good (not a validation
/// failure, a budget stop or a cancellation) becomes a dead letter with its payload, its
/// error history and its completed steps.
///
/// # Errors
/// [`Error::InvalidInput`] for a bad config (from [`AgentConfig::check`]) or an idempotency
/// key whose run is still running; storage errors while claiming a key. Everything after the
/// run starts is in the result.
pub async fn run_agent<T, F, Fut, E>(
    keel: &Keel,
    config: AgentConfig,
    options: RunOptions,
    mut executor: F,
) -> Result<AgentResult<T>>
where
    T: Serialize + DeserializeOwned,
    F: FnMut(AgentContext) -> Fut,
    Fut: Future<Output = std::result::Result<T, E>>,
    E: Into<Failure>,
{
    config.check()?;
    let writer = keel.run_writer()?.clone();
    let started = Instant::now();
    let started_at = SystemTime::now();
    let logger = keel.logger(
        "agent-runner",
        LoggerOptions {
            trace_id: config.trace_id.clone(),
            traceparent: config.traceparent.clone(),
            user_id: config.user_id.clone(),
            org_id: config.org_id.clone(),
            agent_name: Some(config.agent_name.clone()),
            ..LoggerOptions::default()
        },
    );
    let agent: Arc<str> = config.agent_name.as_str().into();
    let shared = Arc::new(RunShared {
        agent_name: agent.clone(),
        trace_id: logger.trace_id(),
        execution_id: Uuid::now_v7(),
        logger,
        llm: options.llm,
        cancel: options.cancel.unwrap_or_default(),
        budget_limit: config
            .budget
            .unwrap_or_else(|| agent_budget_limit(&config.agent_name)),
        org_id: config
            .org_id
            .as_deref()
            .and_then(|i| Uuid::try_parse(i).ok()),
        user_id: config
            .user_id
            .as_deref()
            .and_then(|i| Uuid::try_parse(i).ok()),
        idempotency_key: config.idempotency_key.as_deref().map(Arc::from),
        tally: Mutex::new(Tally {
            steps: config.steps.clone(),
            ..Tally::default()
        }),
    });
    let row = RunRow {
        id: shared.execution_id,
        trace_id: shared.trace_id,
        agent_name: agent.clone(),
        execution_type: config.execution_type.as_str().into(),
        triggered_by: config.triggered_by.as_deref().map(Arc::from),
        started_ms: epoch_ms(started_at),
        completed_ms: None,
        deadline_ms: epoch_ms(started_at + config.deadline()),
        status: RunStatus::Running,
        attempts: 0,
        items_emitted: 0,
        items_processed: 0,
        model_id: None,
        model_was_fallback: false,
        tokens_consumed: 0,
        credits_consumed: 0.0,
        error_message: None,
        error_kind: None,
        errors: Vec::new(),
        steps: Map::new(),
        output: None,
        metadata: Map::new(),
        user_id: config.user_id.as_deref().map(Arc::from),
        org_id: config.org_id.as_deref().map(Arc::from),
        idempotency_key: shared.idempotency_key.clone(),
    };
    if let Some(key) = &config.idempotency_key {
        let runs = Runs::open(keel);
        if !runs.claim_key(&row).await? {
            let earlier = runs.by_key(&config.agent_name, key).await?;
            return earlier.map_or_else(
                || {
                    Err(Error::Internal(
                        "a claimed idempotency key has no run".into(),
                    ))
                },
                answered,
            );
        }
    } else {
        writer.enqueue(row.clone());
    }
    let mut guard = RowGuard {
        writer: writer.clone(),
        row: Some(row),
    };

    let mut fields = Map::new();
    fields.insert("gen_ai.operation.name".into(), "invoke_agent".into());
    fields.insert("gen_ai.agent.name".into(), Value::String(agent.to_string()));
    fields.insert(
        "keel.execution_id".into(),
        shared.execution_id.to_string().into(),
    );
    let run_span = shared
        .logger
        .span(&format!("invoke_agent {agent}"), fields, None);

    let policy = config.effective_policy();
    let mut draws = config.seed.map_or_else(Draws::fresh, Draws::seeded);
    let deadline = started + config.deadline();
    let mut errors: Vec<Failed> = Vec::new();
    let mut per_kind: BTreeMap<ErrorKind, u32> = BTreeMap::new();
    let mut attempts = 0u32;
    let ending = loop {
        if shared.cancel.is_cancelled() {
            break Ending::Cancelled;
        }
        let budget = shared.budget();
        if budget.exceeded {
            break Ending::Budget(format!(
                "Budget exceeded after {} credits (limit: {})",
                budget.used, budget.limit
            ));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break Ending::Failed;
        }
        attempts += 1;
        let mut attempt_fields = Map::new();
        attempt_fields.insert("keel.attempt".into(), attempts.into());
        let span = run_span.child("agent.attempt", attempt_fields);
        let ctx = AgentContext {
            run: shared.clone(),
            attempt: attempts,
            span: span.clone(),
        };
        let limit = config.attempt_timeout().min(left);
        let outcome = tokio::select! {
            outcome = tokio::time::timeout(limit, executor(ctx)) => outcome,
            () = shared.cancel.cancelled() => {
                span.fail("cancelled", Map::new());
                break Ending::Cancelled;
            }
        };
        let failure = match outcome {
            Ok(Ok(data)) => {
                span.stop(Map::new());
                match shared.tally().budget_stop.clone() {
                    Some(reason) => break Ending::Budget(reason),
                    None => break Ending::Done(data),
                }
            }
            Ok(Err(err)) => err.into(),
            Err(_) => Failure {
                message: format!(
                    "attempt {attempts} timed out after {} ms",
                    limit.as_millis()
                ),
                timeout: true,
                ..Failure::default()
            },
        };
        if let Some(reason) = shared.tally().budget_stop.clone() {
            span.fail(&failure.message, Map::new());
            break Ending::Budget(reason);
        }
        let (kind, retry_after_ms) = kind_of(&failure);
        let mut attempt_fields = Map::new();
        attempt_fields.insert("error.type".into(), kind.as_str().into());
        span.fail(&failure.message, attempt_fields);
        errors.push(Failed {
            at: crate::store::rfc3339(epoch_ms(SystemTime::now())),
            kind,
            message: clip(&failure.message),
            status: failure.status,
            attempt: attempts,
            worker: None,
        });
        let count = per_kind.entry(kind).or_default();
        *count += 1;
        let Some(delay) = policy.next_delay(kind, *count, attempts, retry_after_ms, &mut draws)
        else {
            break Ending::Failed;
        };
        let delay = Duration::from_millis(delay);
        if Instant::now() + delay >= deadline {
            break Ending::Failed;
        }
        shared
            .logger
            .warn("agent.retry_delay", retry_fields(kind, attempts, delay));
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = shared.cancel.cancelled() => break Ending::Cancelled,
        }
    };

    let mut row = guard
        .row
        .take()
        .expect("the guard holds the row until the end");
    let status = match &ending {
        Ending::Done(_) => RunStatus::Completed,
        Ending::Budget(_) => RunStatus::BudgetExceeded,
        Ending::Failed | Ending::Cancelled => RunStatus::Failed,
    };
    let last_kind = errors.last().map(|f| f.kind);
    let error = match &ending {
        Ending::Done(_) => None,
        Ending::Budget(reason) => Some(reason.clone()),
        Ending::Cancelled => Some("cancelled".to_owned()),
        Ending::Failed => Some(errors.last().map_or_else(
            || format!("the run's deadline of {} ms passed", config.deadline_ms),
            |f| f.message.clone(),
        )),
    };
    let tally = std::mem::take(&mut *shared.tally());
    let partial = matches!(ending, Ending::Budget(_)) && config.allow_partial_results;
    let data = match ending {
        Ending::Done(data) => Some(data),
        _ => None,
    };
    let dead_letter_id = if status == RunStatus::Failed
        && config.dead_letter
        && error.as_deref() != Some("cancelled")
        && last_kind != Some(ErrorKind::Validation)
    {
        dead_letter(keel, &config, &shared, &errors, &tally, error.as_deref()).await
    } else {
        None
    };
    let mut metadata = Map::new();
    metadata.insert("retries_used".into(), attempts.saturating_sub(1).into());
    if let Some(id) = dead_letter_id {
        metadata.insert("dead_letter_id".into(), id.to_string().into());
    }
    row.status = status;
    row.completed_ms = Some(epoch_ms(SystemTime::now()));
    row.attempts = attempts;
    row.items_emitted = tally.items_emitted;
    row.items_processed = tally.items_processed;
    row.model_id = tally.model_id;
    row.model_was_fallback = tally.was_fallback;
    row.tokens_consumed = tally.tokens;
    row.credits_consumed = tally.credits;
    row.error_message = error.clone();
    row.error_kind = last_kind.filter(|_| status != RunStatus::Completed);
    row.errors = errors.clone();
    row.steps = tally.steps.clone();
    row.output = match (&data, &config.idempotency_key) {
        (Some(data), Some(_)) => serde_json::to_value(data).ok(),
        _ => None,
    };
    row.metadata = metadata;
    // A keyed run's end is written before the caller hears of it: a second run with the key
    // reads it at once.
    let keyed = config.idempotency_key.is_some();
    if !keyed || Runs::open(keel).write_now(&row).await.is_err() {
        writer.enqueue(row);
    }
    finish_span(&run_span, status, error.as_deref(), attempts);

    Ok(AgentResult {
        success: status == RunStatus::Completed,
        data,
        partial,
        error,
        error_kind: last_kind.filter(|_| status != RunStatus::Completed),
        status,
        trace_id: shared.trace_id,
        execution_id: shared.execution_id,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        credits_consumed: tally.credits,
        tokens_consumed: tally.tokens,
        retries_used: attempts.saturating_sub(1),
        attempts,
        steps: tally.steps,
        errors,
        dead_letter_id,
        deduplicated: false,
    })
}

/// The kind of `failure` and the wait it asks for. An explicit kind that is not one of
/// Keel's is recorded as `unknown`, never a crash of the run.
fn kind_of(failure: &Failure) -> (ErrorKind, Option<u64>) {
    match classify(failure) {
        Ok(c) => (c.kind, c.retry_after_ms),
        Err(_) => {
            let lenient = Failure {
                kind: None,
                ..failure.clone()
            };
            classify(&lenient).map_or((ErrorKind::Unknown, None), |c| (c.kind, c.retry_after_ms))
        }
    }
}

fn retry_fields(kind: ErrorKind, attempt: u32, delay: Duration) -> Map<String, Value> {
    let mut fields = Map::new();
    fields.insert("error.type".into(), kind.as_str().into());
    fields.insert("keel.attempt".into(), attempt.into());
    fields.insert(
        "keel.delay_ms".into(),
        u64::try_from(delay.as_millis()).unwrap_or(u64::MAX).into(),
    );
    fields
}

fn finish_span(span: &Span, status: RunStatus, error: Option<&str>, attempts: u32) {
    let mut fields = Map::new();
    fields.insert("keel.status".into(), status.as_str().into());
    fields.insert("keel.attempts".into(), attempts.into());
    match error {
        Some(error) if status != RunStatus::Completed => span.fail(error, fields),
        _ => span.stop(fields),
    };
}

/// Enqueues the failed run as a dead letter; its id, or `None` (logged) when that failed.
async fn dead_letter(
    keel: &Keel,
    config: &AgentConfig,
    shared: &RunShared,
    errors: &[Failed],
    tally: &Tally,
    error: Option<&str>,
) -> Option<Uuid> {
    let errors = if errors.is_empty() {
        vec![Failed {
            at: crate::store::rfc3339(epoch_ms(SystemTime::now())),
            kind: ErrorKind::Timeout,
            message: error.unwrap_or("the run's deadline passed").to_owned(),
            status: None,
            attempt: 1,
            worker: None,
        }]
    } else {
        errors.to_vec()
    };
    let letter = NewDeadLetter {
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
        trace_id: Some(shared.trace_id.to_string()),
        errors,
        idempotency_key: Some(format!("run:{}", shared.execution_id)),
        steps: tally.steps.clone(),
        ..NewDeadLetter::default()
    };
    match DeadLetters::open(keel)
        .enqueue(&letter, Backoff::DEAD_LETTER.ceiling(0))
        .await
    {
        Ok(stored) => Some(stored.id),
        Err(err) => {
            let mut fields = Map::new();
            fields.insert(
                "keel.execution_id".into(),
                shared.execution_id.to_string().into(),
            );
            shared
                .logger
                .error("agent.dead_letter_failed", Some(&err.to_string()), fields);
            None
        }
    }
}

/// The result of an earlier run with the same idempotency key.
///
/// # Errors
/// [`Error::InvalidInput`] on `idempotency_key` while that run is still running.
fn answered<T: DeserializeOwned>(run: Execution) -> Result<AgentResult<T>> {
    if run.status == RunStatus::Running {
        return Err(Error::invalid_input(
            "idempotency_key",
            format!("run {} with this key is still running", run.id),
        ));
    }
    let duration_ms = match (
        crate::store::parse_time("", &run.started_at),
        run.completed_at
            .as_deref()
            .map(|t| crate::store::parse_time("", t)),
    ) {
        (Ok(start), Some(Ok(end))) => u64::try_from((end - start).num_milliseconds()).unwrap_or(0),
        _ => 0,
    };
    let dead_letter_id = run
        .metadata
        .get("dead_letter_id")
        .and_then(Value::as_str)
        .and_then(|id| Uuid::try_parse(id).ok());
    Ok(AgentResult {
        success: run.status == RunStatus::Completed,
        data: run.output.and_then(|o| serde_json::from_value(o).ok()),
        partial: false,
        error: run.error_message,
        error_kind: run.error_kind,
        status: run.status,
        trace_id: run.trace_id,
        execution_id: run.id,
        duration_ms,
        credits_consumed: run.credits_consumed,
        tokens_consumed: run.tokens_consumed,
        retries_used: run.attempts.saturating_sub(1),
        attempts: run.attempts,
        steps: run.steps,
        errors: run.error_history,
        dead_letter_id,
        deduplicated: true,
    })
}
