//! One agent run as a state machine ([`RunDriver`]): core decides everything (whether to
//! attempt, how long an attempt may take, how long to wait, how the run ended, what the row
//! and the dead letter say) and the caller only does what [`RunDriver::advance`] asks: run the
//! executor, sleep, or await a database call. [`super::run_agent`] drives it on tokio; the
//! Python and Node bindings drive it on their own event loops, so an executor runs on the
//! caller's loop without a thread hop.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::agent::{AgentConfig, AgentResult, RunStatus};
use super::backoff::{Backoff, Draws, RetryPolicy};
use super::classify::{ErrorKind, Failure, kind_of};
use super::context::{AgentContext, Cancel, RunShared, Tally};
use super::letter::{Failed, NewDeadLetter, clip};
use super::letters::DeadLetters;
use super::run::RunOptions;
use super::run_writer::{RowGuard, RunRow, epoch_ms, now_text};
use super::runs::Runs;
use crate::Keel;
use crate::error::{Error, Result};
use crate::models::agent_budget_limit;
use crate::telemetry::{LoggerOptions, Span, gen_ai};

/// What the caller does next.
#[derive(Debug)]
pub enum Next {
    /// Await [`RunDriver::claim`] (a run with an idempotency key), then ask again.
    Claim,
    /// Run the executor with `ctx` for at most `timeout`, then report with
    /// [`RunDriver::succeeded`], [`RunDriver::failed`] or [`RunDriver::timed_out`].
    Attempt {
        /// The attempt's context.
        ctx: AgentContext,
        /// Its time limit.
        timeout: Duration,
    },
    /// Sleep this long (a retry's backoff), then ask again.
    Wait(Duration),
    /// Await [`RunDriver::finish`] (the run's end has a dead letter or a keyed row to write),
    /// then ask again.
    Finish,
    /// The run ended: [`RunDriver::result`] has the result.
    Done,
}

/// How the attempts ended.
enum Ending<T> {
    Done(T),
    Failed,
    Budget(String),
    Cancelled,
}

enum Phase<T> {
    Claim,
    Ready,
    Waiting(Duration),
    Running(Span),
    Ended(Ending<T>),
    /// The result, its final row (in the guard) still to write, perhaps a dead letter too.
    Finishing(Box<AgentResult<T>>),
    Done(Box<AgentResult<T>>),
    Taken,
}

/// One run; see the module docs.
pub struct RunDriver<T> {
    keel: Keel,
    config: AgentConfig,
    shared: Arc<RunShared>,
    guard: RowGuard,
    run_span: Span,
    policy: RetryPolicy,
    draws: Draws,
    started: Instant,
    deadline: Instant,
    errors: Vec<Failed>,
    per_kind: BTreeMap<ErrorKind, u32>,
    attempts: u32,
    last_timeout: Duration,
    phase: Phase<T>,
}

impl<T> std::fmt::Debug for RunDriver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunDriver")
            .field("agent", &self.config.agent_name)
            .field("execution_id", &self.shared.execution_id)
            .field("attempts", &self.attempts)
            .finish()
    }
}

impl<T: Serialize + DeserializeOwned> RunDriver<T> {
    /// Starts a run: checks the config, opens its span and enqueues its `running` row (a run
    /// with an idempotency key claims it first: [`Next::Claim`]).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] from [`AgentConfig::check`]; [`Error::Closed`] or
    /// [`Error::Forked`] for an unusable handle.
    pub fn start(keel: &Keel, config: AgentConfig, options: RunOptions) -> Result<Self> {
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
        let row = RunRow::running(&config, &shared, started_at);
        let keyed = config.idempotency_key.is_some();
        if !keyed {
            writer.enqueue(row.clone());
        }
        let mut fields = Map::new();
        fields.insert(gen_ai::OPERATION_NAME.into(), "invoke_agent".into());
        fields.insert(gen_ai::AGENT_NAME.into(), Value::String(agent.to_string()));
        fields.insert(
            "keel.execution_id".into(),
            shared.execution_id.to_string().into(),
        );
        let run_span = shared
            .logger
            .span(&format!("invoke_agent {agent}"), fields, None);
        Ok(RunDriver {
            keel: keel.clone(),
            policy: config.effective_policy(),
            draws: config.seed.map_or_else(Draws::fresh, Draws::seeded),
            deadline: started + config.deadline(),
            config,
            shared,
            guard: RowGuard {
                writer,
                row: Some(row),
                ended: false,
                claimed: !keyed,
            },
            run_span,
            started,
            errors: Vec::new(),
            per_kind: BTreeMap::new(),
            attempts: 0,
            last_timeout: Duration::ZERO,
            phase: if keyed { Phase::Claim } else { Phase::Ready },
        })
    }

    /// The run's cancellation handle.
    pub fn cancel_handle(&self) -> &Cancel {
        &self.shared.cancel
    }

    /// Claims the run's idempotency key (writing its `running` row now). When an earlier run
    /// holds the key, the run ends at once with that run's result (`deduplicated`).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `idempotency_key` while the earlier run is still running;
    /// storage errors.
    pub async fn claim(&mut self) -> Result<()> {
        if !matches!(self.phase, Phase::Claim) {
            return Ok(());
        }
        let (Some(key), Some(row)) = (&self.config.idempotency_key, &self.guard.row) else {
            self.phase = Phase::Ready;
            return Ok(());
        };
        let runs = Runs::open(&self.keel);
        if runs.claim_key(row).await? {
            self.guard.claimed = true;
            self.phase = Phase::Ready;
            return Ok(());
        }
        let earlier = runs
            .by_key(&self.config.agent_name, key)
            .await?
            .ok_or_else(|| Error::Internal("a claimed idempotency key has no run".into()))?;
        let result = super::run::answered(earlier)?;
        // This call made no run: nothing to write, no span to keep.
        self.guard.row = None;
        self.run_span.stop(Map::new());
        self.phase = Phase::Done(Box::new(result));
        Ok(())
    }

    /// What to do next.
    pub fn advance(&mut self) -> Next {
        loop {
            match std::mem::replace(&mut self.phase, Phase::Taken) {
                Phase::Claim => {
                    self.phase = Phase::Claim;
                    return Next::Claim;
                }
                Phase::Ready => match self.start_attempt() {
                    Ok(next) => return next,
                    Err(ending) => self.phase = Phase::Ended(ending),
                },
                Phase::Waiting(delay) => {
                    self.phase = Phase::Ready;
                    return Next::Wait(delay);
                }
                Phase::Running(span) => {
                    // Asked again without an outcome: the attempt is counted as failed.
                    self.phase = Phase::Running(span);
                    self.failed(Failure {
                        message: "the attempt's outcome was never reported".into(),
                        ..Failure::default()
                    });
                }
                Phase::Ended(ending) => {
                    let (result, row, owes_io) = self.end(ending);
                    if owes_io {
                        self.guard.row = Some(row);
                        self.guard.ended = true;
                        self.phase = Phase::Finishing(Box::new(result));
                        return Next::Finish;
                    }
                    // A keyed run cancelled before it held its key made no row.
                    if self.guard.claimed {
                        self.guard.writer.enqueue(row);
                    }
                    self.phase = Phase::Done(Box::new(result));
                    return Next::Done;
                }
                phase @ Phase::Finishing(..) => {
                    self.phase = phase;
                    return Next::Finish;
                }
                phase @ (Phase::Done(_) | Phase::Taken) => {
                    self.phase = phase;
                    return Next::Done;
                }
            }
        }
    }

    /// Opens the next attempt, or says why the run ends before it.
    fn start_attempt(&mut self) -> std::result::Result<Next, Ending<T>> {
        if self.shared.cancel.is_cancelled() {
            return Err(Ending::Cancelled);
        }
        let budget = self.shared.budget();
        if budget.exceeded {
            return Err(Ending::Budget(budget.stop_reason()));
        }
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Ending::Failed);
        }
        self.attempts += 1;
        let mut fields = Map::new();
        fields.insert("keel.attempt".into(), self.attempts.into());
        let span = self.run_span.child("agent.attempt", fields);
        let ctx = AgentContext {
            run: self.shared.clone(),
            attempt: self.attempts,
            span: span.clone(),
        };
        self.phase = Phase::Running(span);
        self.last_timeout = self.config.attempt_timeout().min(left);
        Ok(Next::Attempt {
            ctx,
            timeout: self.last_timeout,
        })
    }

    /// The attempt returned `data` (ignored unless an attempt is running: a cancelled run's
    /// late answer).
    pub fn succeeded(&mut self, data: T) {
        let span = match std::mem::replace(&mut self.phase, Phase::Taken) {
            Phase::Running(span) => span,
            other => {
                self.phase = other;
                return;
            }
        };
        span.stop(Map::new());
        let stop = self.shared.tally().budget_stop.clone();
        self.phase = Phase::Ended(match stop {
            Some(reason) => Ending::Budget(reason),
            None => Ending::Done(data),
        });
    }

    /// The attempt ran out of its time.
    pub fn timed_out(&mut self) {
        let message = format!(
            "attempt {} timed out after {} ms",
            self.attempts,
            self.last_timeout.as_millis()
        );
        self.failed(Failure {
            message,
            timeout: true,
            ..Failure::default()
        });
    }

    /// The attempt failed with `failure`: classified, recorded, and either retried after its
    /// kind's backoff ([`Next::Wait`]) or the end of the run (ignored unless an attempt is
    /// running).
    pub fn failed(&mut self, failure: Failure) {
        let span = match std::mem::replace(&mut self.phase, Phase::Taken) {
            Phase::Running(span) => span,
            other => {
                self.phase = other;
                return;
            }
        };
        if let Some(reason) = self.shared.tally().budget_stop.clone() {
            span.fail(&failure.message, Map::new());
            self.phase = Phase::Ended(Ending::Budget(reason));
            return;
        }
        let (kind, retry_after_ms) = kind_of(&failure);
        let mut fields = Map::new();
        fields.insert("error.type".into(), kind.as_str().into());
        span.fail(&failure.message, fields);
        self.errors.push(Failed {
            at: now_text(),
            kind,
            message: clip(&failure.message),
            status: failure.status,
            attempt: self.attempts,
            worker: None,
        });
        let count = self.per_kind.entry(kind).or_default();
        *count += 1;
        let delay = self
            .policy
            .next_delay(kind, *count, self.attempts, retry_after_ms, &mut self.draws)
            .map(Duration::from_millis)
            .filter(|d| Instant::now() + *d < self.deadline);
        self.phase = match delay {
            Some(delay) => {
                let mut fields = Map::new();
                fields.insert("error.type".into(), kind.as_str().into());
                fields.insert("keel.attempt".into(), self.attempts.into());
                fields.insert(
                    "keel.delay_ms".into(),
                    u64::try_from(delay.as_millis()).unwrap_or(u64::MAX).into(),
                );
                self.shared.logger.warn("agent.retry_delay", fields);
                Phase::Waiting(delay)
            }
            None => Phase::Ended(Ending::Failed),
        };
    }

    /// Cancels the run: the attempt in flight (if any) is failed as `cancelled`, and the run
    /// ends now, without a retry or a dead letter; its row is enqueued at once (a keyed run's
    /// is written by [`RunDriver::finish`], or when the driver is dropped). A late answer of
    /// the cancelled attempt is ignored.
    pub fn cancel(&mut self) {
        match std::mem::replace(&mut self.phase, Phase::Taken) {
            Phase::Running(span) => {
                span.fail("cancelled", Map::new());
                self.phase = Phase::Ended(Ending::Cancelled);
            }
            Phase::Claim | Phase::Ready | Phase::Waiting(_) => {
                self.phase = Phase::Ended(Ending::Cancelled);
            }
            other => {
                self.phase = other;
                return;
            }
        }
        // Ended: `advance` ends the run without starting anything.
        let _ = self.advance();
    }

    /// Writes what the run's end owes: its dead letter, and the row of a keyed run (written at
    /// once, so a second run with the key reads it).
    pub async fn finish(&mut self) {
        let Phase::Finishing(mut result) = std::mem::replace(&mut self.phase, Phase::Taken) else {
            return;
        };
        if result.status == RunStatus::Failed && self.owes_dead_letter(&result) {
            result.dead_letter_id = self.dead_letter(&result).await;
            if let (Some(id), Some(row)) = (result.dead_letter_id, self.guard.row.as_mut()) {
                row.metadata
                    .insert("dead_letter_id".into(), id.to_string().into());
            }
        }
        if self.config.idempotency_key.is_some()
            && let Some(row) = &self.guard.row
            && Runs::open(&self.keel).write_now(row).await.is_ok()
        {
            self.guard.row = None;
        }
        // Whatever is left in the guard (an unkeyed run's row, a keyed one that failed to
        // write) goes to the writer now.
        if let Some(row) = self.guard.row.take() {
            self.guard.writer.enqueue(row);
        }
        self.phase = Phase::Done(result);
    }

    /// The result, once [`Next::Done`] was returned (`None` before, or when taken).
    pub fn result(&mut self) -> Option<AgentResult<T>> {
        match std::mem::replace(&mut self.phase, Phase::Taken) {
            Phase::Done(result) => Some(*result),
            other => {
                self.phase = other;
                None
            }
        }
    }

    fn owes_dead_letter(&self, result: &AgentResult<T>) -> bool {
        self.config.dead_letter
            && result.error.as_deref() != Some("cancelled")
            && result.error_kind != Some(ErrorKind::Validation)
    }

    /// The result and final row of `ending`, and whether finishing owes I/O.
    fn end(&mut self, ending: Ending<T>) -> (AgentResult<T>, RunRow, bool) {
        let status = match &ending {
            Ending::Done(_) => RunStatus::Completed,
            Ending::Budget(_) => RunStatus::BudgetExceeded,
            Ending::Failed | Ending::Cancelled => RunStatus::Failed,
        };
        let last_kind = self
            .errors
            .last()
            .map(|f| f.kind)
            .filter(|_| status != RunStatus::Completed);
        let error = match &ending {
            Ending::Done(_) => None,
            Ending::Budget(reason) => Some(reason.clone()),
            Ending::Cancelled => Some("cancelled".to_owned()),
            Ending::Failed => Some(self.errors.last().map_or_else(
                || {
                    format!(
                        "the run's deadline of {} ms passed",
                        self.config.deadline_ms
                    )
                },
                |f| f.message.clone(),
            )),
        };
        let tally = std::mem::take(&mut *self.shared.tally());
        let partial = matches!(ending, Ending::Budget(_)) && self.config.allow_partial_results;
        let data = match ending {
            Ending::Done(data) => Some(data),
            _ => None,
        };
        let mut row = self
            .guard
            .row
            .take()
            .expect("the guard holds the row until the end");
        row.status = status;
        row.completed_ms = Some(epoch_ms(SystemTime::now()));
        row.attempts = self.attempts;
        row.items_emitted = tally.items_emitted;
        row.items_processed = tally.items_processed;
        row.model_id = tally.model_id;
        row.model_was_fallback = tally.was_fallback;
        row.tokens_consumed = tally.tokens;
        row.credits_consumed = tally.credits;
        row.error_message = error.clone();
        row.error_kind = last_kind;
        row.errors = self.errors.clone();
        row.steps = tally.steps.clone();
        row.output = match (&data, &self.config.idempotency_key) {
            (Some(data), Some(_)) => serde_json::to_value(data).ok(),
            _ => None,
        };
        row.metadata.insert(
            "retries_used".into(),
            self.attempts.saturating_sub(1).into(),
        );
        let mut fields = Map::new();
        fields.insert("keel.status".into(), status.as_str().into());
        fields.insert("keel.attempts".into(), self.attempts.into());
        match &error {
            Some(error) if status != RunStatus::Completed => self.run_span.fail(error, fields),
            _ => self.run_span.stop(fields),
        };
        let result = AgentResult {
            success: status == RunStatus::Completed,
            data,
            partial,
            error,
            error_kind: last_kind,
            status,
            trace_id: self.shared.trace_id,
            execution_id: self.shared.execution_id,
            duration_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            credits_consumed: tally.credits,
            tokens_consumed: tally.tokens,
            retries_used: self.attempts.saturating_sub(1),
            attempts: self.attempts,
            steps: tally.steps,
            errors: self.errors.clone(),
            dead_letter_id: None,
            deduplicated: false,
        };
        let owes_io = (self.config.idempotency_key.is_some() && self.guard.claimed)
            || (status == RunStatus::Failed && self.owes_dead_letter(&result));
        (result, row, owes_io)
    }

    /// Enqueues the failed run as a dead letter; its id, or `None` (logged) when that failed.
    async fn dead_letter(&self, result: &AgentResult<T>) -> Option<Uuid> {
        let letter = NewDeadLetter::of_run(
            &self.config,
            result,
            Failed {
                at: now_text(),
                kind: ErrorKind::Timeout,
                message: result
                    .error
                    .clone()
                    .unwrap_or_else(|| "the run's deadline passed".into()),
                status: None,
                attempt: 1,
                worker: None,
            },
        );
        match DeadLetters::open(&self.keel)
            .enqueue(&letter, Backoff::DEAD_LETTER.ceiling(0))
            .await
        {
            Ok(stored) => Some(stored.id),
            Err(err) => {
                let mut fields = Map::new();
                fields.insert(
                    "keel.execution_id".into(),
                    self.shared.execution_id.to_string().into(),
                );
                self.shared.logger.error(
                    "agent.dead_letter_failed",
                    Some(&err.to_string()),
                    fields,
                );
                None
            }
        }
    }
}
