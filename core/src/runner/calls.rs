//! The runner's calls as a binding makes them: letters, queries and options as JSON whose keys
//! are spelt in the caller's [`Case`], ids as text, errors naming the field as the caller
//! spells it. The pure functions behind the vectors ([`classify_value`],
//! [`retry_delays_value`]) are here too, so every language classifies and backs off the same
//! way.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::backoff::{Backoff, Draws, RetryPolicy};
use super::classify::{Classified, ErrorKind, Failure, classify};
use super::handler::{HttpHandler, LetterHandler};
use super::letter::{DeadLetter, LetterQuery, NewDeadLetter};
use super::letters::DeadLetters;
use super::worker::{WorkReport, Worker, WorkerOptions};
use crate::error::{Error, Result};
use crate::options::{Case, from_value, require_uuid, rooted, spelt};

/// [`classify`] of a failure given as JSON ([`Failure`]).
///
/// # Errors
/// [`Error::InvalidInput`] naming the field that does not deserialize, or `kind` when the
/// explicit kind is unknown.
pub fn classify_value(failure: Option<Value>, case: Case, root: &str) -> Result<Classified> {
    let failure: Failure = from_value(failure, case, root)?;
    classify(&failure).map_err(|e| spelt(e, case))
}

/// What [`retry_delays_value`] returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delays {
    /// The ceiling of each retry, in milliseconds.
    pub ceilings: Vec<u64>,
    /// The delay drawn under each ceiling (at least the `Retry-After`), in milliseconds.
    pub delays: Vec<u64>,
    /// The kind's attempts in all, under the policy's cap (for a kind only).
    pub max_attempts: Option<u32>,
}

/// What [`retry_delays_value`] reads.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DelaysInput {
    /// The runner's policy for this kind; else `backoff`.
    #[serde(default)]
    kind: Option<ErrorKind>,
    #[serde(default)]
    policy: RetryPolicy,
    /// Default: the dead-letter backoff.
    #[serde(default)]
    backoff: Option<Backoff>,
    /// How many delays, 1 to 50.
    retries: u32,
    seed: u64,
    #[serde(default)]
    retry_after_ms: Option<u64>,
}

/// The first `retries` delays of a backoff drawn from `seed`, with their ceilings: the
/// runner's backoff for `kind` under `policy`, else `backoff` (default: the dead-letter one).
/// [`Delays`].
///
/// # Errors
/// [`Error::InvalidInput`] naming the field that does not deserialize, or `retries` outside
/// 1 to 50.
pub fn retry_delays_value(input: Option<Value>, case: Case, root: &str) -> Result<Delays> {
    let input: DelaysInput = from_value(input, case, root)?;
    if !(1..=50).contains(&input.retries) {
        return Err(spelt(
            Error::invalid_input("retries", "must be 1 to 50"),
            case,
        ));
    }
    let (backoff, max_attempts) = match input.kind {
        Some(kind) => {
            let policy = input.policy.of(kind);
            (
                policy.backoff,
                Some(policy.max_attempts.min(input.policy.max_attempts)),
            )
        }
        None => (input.backoff.unwrap_or(Backoff::DEAD_LETTER), None),
    };
    let mut draws = Draws::seeded(input.seed);
    let ceilings: Vec<u64> = (0..input.retries).map(|n| backoff.ceiling(n)).collect();
    let delays: Vec<u64> = (0..input.retries)
        .map(|n| backoff.delay(n, input.retry_after_ms, &mut draws))
        .collect();
    Ok(Delays {
        ceilings,
        delays,
        max_attempts,
    })
}

/// Where [`HttpHandler`] posts: the `url` and `headers` of a worker's options.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Target {
    url: Option<String>,
    headers: BTreeMap<String, String>,
}

/// The options of [`DeadLetters::purge_value`].
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct PurgeValue {
    /// Letters resolved more than this many days ago (default 30).
    days: u32,
}

impl Default for PurgeValue {
    fn default() -> Self {
        PurgeValue { days: 30 }
    }
}

/// The options of [`DeadLetters::abandon_value`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AbandonValue {
    reason: String,
}

impl DeadLetters {
    /// [`DeadLetters::enqueue`] with the letter as JSON ([`NewDeadLetter`]).
    ///
    /// # Errors
    /// As `enqueue`, and [`Error::InvalidInput`] for a letter that does not deserialize.
    pub async fn enqueue_value(
        &self,
        letter: Option<Value>,
        case: Case,
        root: &str,
    ) -> Result<DeadLetter> {
        let call = async {
            let letter: NewDeadLetter = from_value(letter, case, root)?;
            self.enqueue(&letter, Backoff::DEAD_LETTER.ceiling(0))
                .await
                .map_err(|e| rooted(e, root))
        };
        call.await.map_err(|e| spelt(e, case))
    }

    /// [`DeadLetters::list`] with the query as JSON ([`LetterQuery`]).
    ///
    /// # Errors
    /// As `list`, and [`Error::InvalidInput`] for a query that does not deserialize.
    pub async fn list_value(
        &self,
        query: Option<Value>,
        case: Case,
        root: &str,
    ) -> Result<Vec<DeadLetter>> {
        let call = async {
            let query: LetterQuery = from_value(query, case, root)?;
            self.list(&query).await.map_err(|e| rooted(e, root))
        };
        call.await.map_err(|e| spelt(e, case))
    }

    /// [`DeadLetters::purge`] with the options as JSON: `days` (default 30). How many letters
    /// were deleted.
    ///
    /// # Errors
    /// As `purge`, and [`Error::InvalidInput`] for options that do not deserialize.
    pub async fn purge_value(&self, options: Option<Value>, case: Case, root: &str) -> Result<u64> {
        let call = async {
            let options: PurgeValue = from_value(options, case, root)?;
            self.purge(options.days).await.map_err(|e| rooted(e, root))
        };
        call.await.map_err(|e| spelt(e, case))
    }

    /// An operator's change to the letter `id`: `get`, `retry`, `redrive`, `resolve`, or
    /// `abandon` (with `{reason}` in `options`).
    ///
    /// # Errors
    /// As the change, and [`Error::InvalidInput`] on `id` (not a UUID), `operation` (unknown)
    /// or the options.
    pub async fn operate_value(
        &self,
        operation: &str,
        id: &str,
        options: Option<Value>,
        case: Case,
    ) -> Result<DeadLetter> {
        let call = async {
            let id = require_uuid("id", id)?;
            match operation {
                "get" => self.get(id).await,
                "retry" => self.retry(id).await,
                "redrive" => self.redrive(id).await,
                "resolve" => self.resolve(id).await,
                "abandon" => {
                    let options: AbandonValue = from_value(options, case, "")?;
                    self.abandon(id, &options.reason).await
                }
                other => Err(Error::invalid_input(
                    "operation",
                    format!("unknown operation {other:?}"),
                )),
            }
        };
        call.await.map_err(|e| spelt(e, case))
    }

    /// A worker from options as JSON ([`WorkerOptions`], plus `url` and `headers` for an
    /// [`HttpHandler`]) and the binding's `handler`, for every agent.
    fn worker_of(
        &self,
        options: Option<Value>,
        handler: Option<Arc<dyn LetterHandler>>,
        case: Case,
        root: &str,
    ) -> Result<Worker> {
        // `url` and `headers` apart, so that the worker's options are read with their paths.
        let mut target = serde_json::Map::new();
        let mut options = options;
        if let Some(Value::Object(map)) = &mut options {
            for key in ["url", "headers"] {
                if let Some(v) = map.remove(key) {
                    target.insert(key.to_owned(), v);
                }
            }
        }
        let target: Target = from_value(Some(Value::Object(target)), case, root)?;
        let worker: WorkerOptions = from_value(options, case, root)?;
        self.choose(handler, target, worker)
            .map_err(|e| rooted(e, root))
    }

    /// The worker of `options` with `handler`, or with an [`HttpHandler`] for `target`.
    fn choose(
        &self,
        handler: Option<Arc<dyn LetterHandler>>,
        target: Target,
        worker: WorkerOptions,
    ) -> Result<Worker> {
        let handler = match (handler, target.url) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid_input(
                    "url",
                    "give a handler or a url, not both",
                ));
            }
            (Some(h), None) => h,
            (None, Some(url)) => Arc::new(HttpHandler::new(
                self.keel.http().clone(),
                &url,
                target.headers,
            )?),
            (None, None) => {
                return Err(Error::invalid_input("handler", "give a handler or a url"));
            }
        };
        Ok(Worker::new(self.clone(), worker)?.handle_all(handler))
    }

    /// One batch of [`Worker::run_once`] by a worker made as [`DeadLetters::work_value`]'s.
    ///
    /// # Errors
    /// As `run_once`, and [`Error::InvalidInput`] on `handler` when there is neither a handler
    /// nor a `url`, on `url` when there are both, or naming the option out of range.
    pub async fn work_once_value(
        &self,
        options: Option<Value>,
        handler: Option<Arc<dyn LetterHandler>>,
        case: Case,
        root: &str,
    ) -> Result<WorkReport> {
        let call = async {
            self.worker_of(options, handler, case, root)?
                .run_once()
                .await
        };
        call.await.map_err(|e| spelt(e, case))
    }

    /// [`Worker::run`] until `stop` completes, the worker made from `options` as JSON
    /// ([`WorkerOptions`], plus `url` and `headers` for an [`HttpHandler`]) and the binding's
    /// `handler`, for every agent.
    ///
    /// # Errors
    /// As [`DeadLetters::work_once_value`], and [`Error::Closed`] when the handle closes.
    pub async fn work_value(
        &self,
        options: Option<Value>,
        handler: Option<Arc<dyn LetterHandler>>,
        case: Case,
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<WorkReport> {
        let call = async { self.worker_of(options, handler, case, "")?.run(stop).await };
        call.await.map_err(|e| spelt(e, case))
    }
}
