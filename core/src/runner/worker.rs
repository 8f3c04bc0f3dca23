//! The retry worker: claims due dead letters in batches, runs each letter's handler under a
//! lease it keeps alive with heartbeats, and records the outcome with the lease's fencing
//! token. Run it from cron ([`Worker::run_once`], `keel dlq work --once`) or as a loop that
//! stops cleanly ([`Worker::run`]).
//!
//! A handler (see [`super::handler`]) that accepted the letter for work of its own (HTTP 202, or
//! a function answering `"accepted"`) leaves it `accepted`, not resolved:
//! [`DeadLetters::resolve`] completes it, or it is leased again when its wait runs out.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::join_all;
use serde::{Deserialize, Serialize};

use super::backoff::{Backoff, Draws, RetryPolicy};
use super::classify::{Failure, classify};
use super::handler::{Handled, HandlerFuture, LetterHandler};
use super::lease::RetryFailure;
use super::letter::{Claimed, MAX_WAIT_MS, name};
use super::letters::DeadLetters;
use crate::error::{Error, Result};
use crate::options::default_worker_id;

/// How a worker runs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerOptions {
    /// Its name in `locked_by` (default: host, process id and a random suffix).
    pub worker_id: Option<String>,
    /// Only these agents' letters (default: the agents with a handler, or all with a
    /// catch-all handler).
    pub agents: Option<Vec<String>>,
    /// Letters claimed at once, 1 to 1,000 (default 20, the original's batch).
    pub batch: u32,
    /// How long a claim holds a letter without a heartbeat (default 15 s).
    pub lease_ms: u64,
    /// How often a running letter's lease is extended (default a third of `lease_ms`; under
    /// `lease_ms`).
    pub heartbeat_ms: Option<u64>,
    /// How long [`Worker::run`] sleeps when nothing is due (default 1 s).
    pub poll_ms: u64,
    /// A handler's time limit per letter (default 60 s).
    pub handler_timeout_ms: u64,
    /// How long an accepted letter waits for its completion call (default 15 min).
    pub accept_wait_ms: u64,
    /// The wait between retries (default `min(1 min × 4^n, 1 h)` with equal jitter).
    pub backoff: Backoff,
    /// Which failure kinds are retried: a kind whose `max_attempts` is 1 (validation, by
    /// default) abandons the letter at once.
    pub policy: RetryPolicy,
    /// Seeds the jitter (tests); fresh entropy when absent.
    pub seed: Option<u64>,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            worker_id: None,
            agents: None,
            batch: 20,
            lease_ms: 15_000,
            heartbeat_ms: None,
            poll_ms: 1_000,
            handler_timeout_ms: 60_000,
            accept_wait_ms: 900_000,
            backoff: Backoff::DEAD_LETTER,
            policy: RetryPolicy::default(),
            seed: None,
        }
    }
}

impl WorkerOptions {
    /// How often a running letter's lease is extended, in milliseconds.
    pub fn heartbeat(&self) -> u64 {
        self.heartbeat_ms.unwrap_or(self.lease_ms / 3)
    }

    fn check(&self) -> Result<()> {
        if let Some(id) = &self.worker_id {
            name("worker_id", id)?;
        }
        if !(1..=1_000).contains(&self.batch) {
            return Err(Error::invalid_input("batch", "must be 1 to 1000"));
        }
        for (field, ms) in [
            ("lease_ms", self.lease_ms),
            ("heartbeat_ms", self.heartbeat()),
            ("poll_ms", self.poll_ms),
            ("handler_timeout_ms", self.handler_timeout_ms),
            ("accept_wait_ms", self.accept_wait_ms),
        ] {
            if ms == 0 {
                return Err(Error::invalid_input(field, "must be more than 0"));
            }
        }
        for (field, ms) in [
            ("lease_ms", self.lease_ms),
            ("accept_wait_ms", self.accept_wait_ms),
        ] {
            if ms > MAX_WAIT_MS {
                return Err(Error::invalid_input(field, "must be at most 30 days"));
            }
        }
        if self.heartbeat() >= self.lease_ms {
            return Err(Error::invalid_input(
                "heartbeat_ms",
                "must be shorter than lease_ms",
            ));
        }
        Ok(())
    }
}

/// What a worker did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct WorkReport {
    /// Letters claimed.
    pub claimed: u64,
    /// Replayed successfully.
    pub resolved: u64,
    /// Accepted by an asynchronous handler.
    pub accepted: u64,
    /// Failed and waiting for another retry.
    pub retrying: u64,
    /// Failed and abandoned.
    pub abandoned: u64,
    /// Whose lease another worker took before the outcome was recorded.
    pub lost: u64,
}

impl WorkReport {
    fn add(&mut self, other: WorkReport) {
        self.claimed += other.claimed;
        self.resolved += other.resolved;
        self.accepted += other.accepted;
        self.retrying += other.retrying;
        self.abandoned += other.abandoned;
        self.lost += other.lost;
    }
}

/// One replayed letter: a success to resolve with the batch, or an outcome already recorded.
enum Replayed {
    Done(uuid::Uuid, u64),
    Recorded(WorkReport),
}

/// A retry worker over a database's dead letters.
pub struct Worker {
    letters: DeadLetters,
    handlers: BTreeMap<String, Arc<dyn LetterHandler>>,
    fallback: Option<Arc<dyn LetterHandler>>,
    options: WorkerOptions,
    id: String,
    draws: Mutex<Draws>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("id", &self.id)
            .field("agents", &self.handlers.keys().collect::<Vec<_>>())
            .field("options", &self.options)
            .finish()
    }
}

impl Worker {
    /// A worker over `letters` with `options`; add handlers with [`Worker::handle`] and
    /// [`Worker::handle_all`].
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the option that is out of range.
    pub fn new(letters: DeadLetters, options: WorkerOptions) -> Result<Self> {
        options.check()?;
        let draws = options.seed.map_or_else(Draws::fresh, Draws::seeded);
        Ok(Worker {
            id: options.worker_id.clone().unwrap_or_else(default_worker_id),
            letters,
            handlers: BTreeMap::new(),
            fallback: None,
            options,
            draws: Mutex::new(draws),
        })
    }

    /// Replays `agent`'s letters through `handler`.
    pub fn handle(mut self, agent: &str, handler: Arc<dyn LetterHandler>) -> Self {
        self.handlers.insert(agent.to_owned(), handler);
        self
    }

    /// Replays the letters of agents without a handler of their own through `handler`.
    pub fn handle_all(mut self, handler: Arc<dyn LetterHandler>) -> Self {
        self.fallback = Some(handler);
        self
    }

    /// The name this worker leases under.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The agents this worker claims for: the option, else its handlers' (all with a
    /// catch-all).
    fn agents(&self) -> Option<Vec<String>> {
        if self.options.agents.is_some() {
            return self.options.agents.clone();
        }
        match self.fallback {
            Some(_) => None,
            None => Some(self.handlers.keys().cloned().collect()),
        }
    }

    /// Claims one batch and replays it, the letters side by side.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `handler` when the worker has no handler; storage errors of
    /// the claim (an outcome that cannot be recorded leaves the letter to its lease).
    pub async fn run_once(&self) -> Result<WorkReport> {
        if self.handlers.is_empty() && self.fallback.is_none() {
            return Err(Error::invalid_input("handler", "the worker has no handler"));
        }
        let lease = Duration::from_millis(self.options.lease_ms);
        let agents = self.agents();
        let claim = self
            .letters
            .claim(&self.id, agents.as_deref(), self.options.batch, lease)
            .await?;
        let mut report = WorkReport {
            claimed: (claim.leased.len() + claim.abandoned.len()) as u64,
            abandoned: claim.abandoned.len() as u64,
            ..WorkReport::default()
        };
        let mut done = Vec::new();
        for outcome in join_all(claim.leased.into_iter().map(|c| self.replay(c))).await {
            match outcome {
                Replayed::Done(id, token) => done.push((id, token)),
                Replayed::Recorded(r) => report.add(r),
            }
        }
        // The successes of the batch are resolved together, each under its own token.
        let resolved = match self.letters.complete_all(&done).await {
            Ok(ids) => ids.len() as u64,
            Err(_) => 0,
        };
        report.resolved += resolved;
        report.lost += done.len() as u64 - resolved;
        Ok(report)
    }

    /// Runs batches until `stop` completes, sleeping `poll_ms` when a batch was not full. A
    /// batch under way finishes before it returns.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] as [`Worker::run_once`]; [`Error::Closed`] when the handle
    /// closes. Other storage errors are retried after `poll_ms`.
    pub async fn run(&self, stop: impl std::future::Future<Output = ()>) -> Result<WorkReport> {
        tokio::pin!(stop);
        let mut total = WorkReport::default();
        loop {
            let full = match self.run_once().await {
                Ok(report) => {
                    total.add(report);
                    report.claimed == u64::from(self.options.batch)
                }
                Err(err @ (Error::InvalidInput { .. } | Error::Closed)) => return Err(err),
                Err(_) => false,
            };
            let pause = if full {
                Duration::ZERO
            } else {
                Duration::from_millis(self.options.poll_ms)
            };
            tokio::select! {
                biased;
                () = &mut stop => return Ok(total),
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    fn handler_of(&self, agent: &str) -> Option<Arc<dyn LetterHandler>> {
        self.handlers.get(agent).or(self.fallback.as_ref()).cloned()
    }

    /// Replays one claimed letter; records its outcome unless it succeeded (the batch's
    /// successes are resolved together).
    async fn replay(&self, claimed: Claimed) -> Replayed {
        let Claimed { letter, token } = claimed;
        let (id, retry) = (letter.id, letter.retry_count);
        let outcome = match self.handler_of(&letter.agent_name) {
            None => Err(Failure {
                kind: Some("validation".into()),
                message: format!("no handler for agent {}", letter.agent_name),
                ..Failure::default()
            }),
            Some(handler) => self.run_leased(handler.handle(letter), id, token).await,
        };
        let recorded = match outcome {
            Ok(Some(Handled::Done)) => return Replayed::Done(id, token),
            Ok(Some(Handled::Accepted)) => {
                let wait = Duration::from_millis(self.options.accept_wait_ms);
                self.letters.accept(id, token, wait).await.map(|ok| {
                    (
                        ok,
                        WorkReport {
                            accepted: 1,
                            ..WorkReport::default()
                        },
                    )
                })
            }
            Ok(None) => Ok((false, WorkReport::default())),
            Err(failure) => self.record_failure(id, token, retry, &failure).await,
        };
        Replayed::Recorded(match recorded {
            Ok((true, report)) => report,
            _ => WorkReport {
                lost: 1,
                ..WorkReport::default()
            },
        })
    }

    /// Runs `work` under the handler's time limit while heartbeats extend the lease; `None`
    /// when the lease was lost (the work is dropped).
    async fn run_leased(
        &self,
        work: HandlerFuture,
        id: uuid::Uuid,
        token: u64,
    ) -> std::result::Result<Option<Handled>, Failure> {
        let limit = Duration::from_millis(self.options.handler_timeout_ms);
        let timed = tokio::time::timeout(limit, work);
        let heartbeats = async {
            let lease = Duration::from_millis(self.options.lease_ms);
            let every = Duration::from_millis(self.options.heartbeat());
            loop {
                tokio::time::sleep(every).await;
                if let Ok(false) = self.letters.extend(id, token, lease).await {
                    return;
                }
            }
        };
        tokio::select! {
            done = timed => match done {
                Ok(outcome) => outcome.map(Some),
                Err(_) => Err(Failure {
                    message: format!(
                        "the handler took longer than {} ms",
                        self.options.handler_timeout_ms
                    ),
                    timeout: true,
                    ..Failure::default()
                }),
            },
            () = heartbeats => Ok(None),
        }
    }

    /// Records a failed replay: the next retry after the backoff (at least the failure's
    /// `Retry-After`), or abandoned when the kind is never retried or retries are spent.
    async fn record_failure(
        &self,
        id: uuid::Uuid,
        token: u64,
        retry: u32,
        failure: &Failure,
    ) -> Result<(bool, WorkReport)> {
        let (kind, retry_after_ms, message) = match classify(failure) {
            Ok(c) => (c.kind, c.retry_after_ms, failure.message.clone()),
            Err(err) => (
                super::classify::ErrorKind::Unknown,
                None,
                format!("{} ({})", failure.message, err.message()),
            ),
        };
        let abandon = (self.options.policy.of(kind).max_attempts <= 1)
            .then(|| format!("a {} failure is not retried", kind.as_str()));
        let delay = {
            let mut draws = self.draws.lock().unwrap_or_else(|e| e.into_inner());
            self.options
                .backoff
                .delay(retry.saturating_sub(1), retry_after_ms, &mut draws)
        };
        let failed = RetryFailure {
            kind,
            message,
            status: failure.status,
            abandon,
        };
        let letter = self
            .letters
            .fail(id, token, &self.id, &failed, delay)
            .await?;
        Ok(match letter {
            None => (false, WorkReport::default()),
            Some(l) if l.status == super::letter::LetterStatus::Abandoned => (
                true,
                WorkReport {
                    abandoned: 1,
                    ..WorkReport::default()
                },
            ),
            Some(_) => (
                true,
                WorkReport {
                    retrying: 1,
                    ..WorkReport::default()
                },
            ),
        })
    }
}
