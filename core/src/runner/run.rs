//! `run_agent`: one run of an agent's executor driven on tokio (the decisions are
//! [`RunDriver`]'s), and the answer of an earlier run with the same idempotency key.

use std::future::Future;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use uuid::Uuid;

use super::agent::{AgentConfig, AgentResult, RunStatus};
use super::classify::Failure;
use super::context::{AgentContext, Cancel};
use super::driver::{Next, RunDriver};
use super::execution::Execution;
use crate::Keel;
use crate::error::{Error, Result};
use crate::llm::Llm;

/// What a run may use besides its config.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The model client bound to the run ([`AgentContext::complete`]).
    pub llm: Option<Llm>,
    /// Cancels the run.
    pub cancel: Option<Cancel>,
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
/// deadline is nearer); a failure is classified on its structure ([`super::classify`]) and
/// retried after its kind's backoff, each kind counting its own attempts under the policy's
/// cap. The run is a span `invoke_agent {agent}` (`gen_ai.operation.name` `invoke_agent`,
/// `gen_ai.agent.name`) with a child span per attempt and per step. Its `agent_executions`
/// row is enqueued when it starts and when it ends, never written on the caller's path
/// (except the claim of an idempotency key). A run that fails for good (not a validation
/// failure, a budget stop or a cancellation) becomes a dead letter with its payload, its
/// error history and its completed steps. The decisions are [`RunDriver`]'s; this drives it
/// on tokio, as the bindings drive it on their event loops.
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
    let mut run = RunDriver::start(keel, config, options)?;
    let cancel = run.cancel_handle().clone();
    loop {
        match run.advance() {
            Next::Claim => run.claim().await?,
            Next::Attempt { ctx, timeout } => {
                tokio::select! {
                    outcome = tokio::time::timeout(timeout, executor(ctx)) => match outcome {
                        Ok(Ok(data)) => run.succeeded(data),
                        Ok(Err(err)) => run.failed(err.into()),
                        Err(_) => run.timed_out(),
                    },
                    () = cancel.cancelled() => run.cancel(),
                }
            }
            Next::Wait(delay) => {
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = cancel.cancelled() => run.cancel(),
                }
            }
            Next::Finish => run.finish().await,
            Next::Done => {
                return run
                    .result()
                    .ok_or_else(|| Error::Internal("a finished run has no result".into()));
            }
        }
    }
}

/// The result of an earlier run with the same idempotency key.
///
/// # Errors
/// [`Error::InvalidInput`] on `idempotency_key` while that run is still running.
pub(super) fn answered<T: DeserializeOwned>(run: Execution) -> Result<AgentResult<T>> {
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
