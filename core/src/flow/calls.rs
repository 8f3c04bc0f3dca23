//! The queue's and the limiters' calls as a binding makes them: arguments as one JSON object
//! whose keys are spelt in the caller's [`Case`], records back as JSON in that case, errors
//! naming the field as the caller spells it. Every default and check is here, once.

use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::NewItem;
use super::limit::{Decision, Limit, check_keys};
use super::local::LocalLimiter;
use super::providers::ProviderLimits;
use super::queue::{Queue, QueueOptions};
use super::shared::SharedLimiter;
use super::worker::{Outcome, WorkerOptions, WorkerSession};
use crate::Keel;
use crate::error::{Error, Result};
use crate::options::{Calls, Case, from_value, require_uuid, rooted, spelt};
use crate::record::to_value;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Enqueue {
    items: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Claim {
    worker: String,
    #[serde(default = "ten")]
    n: u32,
    #[serde(default)]
    lanes: Option<Vec<i64>>,
}

fn ten() -> u32 {
    10
}

fn yes() -> bool {
    true
}

/// A lease and what an outcome adds to it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Leased {
    id: String,
    lease_token: u64,
    #[serde(default)]
    context: Option<Value>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default = "yes")]
    retryable: bool,
    #[serde(default)]
    retry_after_ms: Option<i64>,
    #[serde(default)]
    delay_ms: Option<i64>,
    #[serde(default)]
    lease_ms: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Lease {
    id: String,
    lease_token: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CompleteAll {
    leases: Vec<Lease>,
}

/// The leases of `leases` as ids and tokens; `field` names the list in errors.
fn leases_of(leases: &[Lease], field: &str) -> Result<Vec<(Uuid, u64)>> {
    leases
        .iter()
        .enumerate()
        .map(|(i, l)| {
            Ok((
                require_uuid(&format!("{field}[{i}].id"), &l.id)?,
                l.lease_token,
            ))
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClaimAfter {
    done: Vec<Lease>,
    worker: String,
    #[serde(default = "ten")]
    n: u32,
    #[serde(default)]
    lanes: Option<Vec<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Get {
    id: String,
}

/// The queue operations [`Queue::call_value`] knows.
pub const QUEUE_CALLS: [&str; 12] = [
    "enqueue",
    "claim",
    "claim_after",
    "claim_batch",
    "complete",
    "complete_all",
    "fail",
    "defer",
    "extend",
    "sweep",
    "health",
    "get",
];

impl Queue {
    /// The queue of `keel` with its options as JSON ([`QueueOptions`]).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the option.
    pub fn open_value(keel: &Keel, options: Option<Value>, case: Case, root: &str) -> Result<Self> {
        let options: QueueOptions = from_value(options, case, root)?;
        Queue::open(keel, options).map_err(|e| spelt(rooted(e, root), case))
    }
}

impl Calls for Queue {
    /// Runs the queue operation `op` (one of [`QUEUE_CALLS`]) on `args` (its arguments as one
    /// JSON object) and returns its result as JSON in `case`: ids for `enqueue`, items for
    /// `claim`, the completed ids and the items for `claim_after`, a batch, `true`/`false` for a fenced change (`false`: the token no longer holds
    /// the lease), the item after `fail` (or null), a sweep report, the health, an item or null.
    ///
    /// # Errors
    /// As the operation; [`Error::InvalidInput`] naming the argument that does not
    /// deserialize or is out of range, or `op` when it is unknown.
    async fn call_op(&self, op: &str, args: Option<Value>, case: Case) -> Result<Value> {
        macro_rules! out {
            ($result:expr) => {
                to_value(&$result, case)
            };
        }
        Ok(match op {
            "enqueue" => {
                let a: Enqueue = from_value(args, case, "")?;
                let mut items = Vec::with_capacity(a.items.len());
                for (i, raw) in a.items.into_iter().enumerate() {
                    items.push(from_value::<NewItem>(
                        Some(raw),
                        case,
                        &format!("items[{i}]"),
                    )?);
                }
                out!(self.enqueue(&items).await?)
            }
            "claim" | "claim_batch" => {
                let a: Claim = from_value(args, case, "")?;
                if op == "claim" {
                    out!(self.claim(&a.worker, a.n, a.lanes.as_deref()).await?)
                } else {
                    out!(self.claim_batch(&a.worker, a.n, a.lanes.as_deref()).await?)
                }
            }
            "complete_all" => {
                let a: CompleteAll = from_value(args, case, "")?;
                out!(self.complete_all(&leases_of(&a.leases, "leases")?).await?)
            }
            "claim_after" => {
                let a: ClaimAfter = from_value(args, case, "")?;
                let done = leases_of(&a.done, "done")?;
                out!(
                    self.claim_after(&done, &a.worker, a.n, a.lanes.as_deref())
                        .await?
                )
            }
            "complete" | "fail" | "defer" | "extend" => {
                let a: Leased = from_value(args, case, "")?;
                let id = require_uuid("id", &a.id)?;
                let token = a.lease_token;
                match op {
                    "complete" => out!(self.complete(id, token, a.context.as_ref()).await?),
                    "fail" => {
                        let reason = a.reason.unwrap_or_default();
                        out!(
                            self.fail(id, token, &reason, a.retryable, a.retry_after_ms)
                                .await?
                        )
                    }
                    "defer" => {
                        let delay = a
                            .delay_ms
                            .ok_or_else(|| Error::invalid_input("delay_ms", "is required"))?;
                        out!(self.defer(id, token, delay).await?)
                    }
                    _ => out!(self.extend(id, token, a.lease_ms).await?),
                }
            }
            "sweep" => out!(self.sweep().await?),
            "health" => out!(self.health().await?),
            "get" => {
                let a: Get = from_value(args, case, "")?;
                out!(self.get(require_uuid("id", &a.id)?).await?)
            }
            other => {
                return Err(Error::invalid_input(
                    "op",
                    format!(
                        "unknown queue call {other}; one of {}",
                        QUEUE_CALLS.join(", ")
                    ),
                ));
            }
        })
    }
}

fn minute() -> u64 {
    60_000
}

fn one() -> u32 {
    1
}

/// One key of an acquisition with its limit.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyLimit {
    key: String,
    limit: u32,
    #[serde(default = "minute")]
    period_ms: u64,
    #[serde(default = "one")]
    burst: u32,
}

/// What an acquisition names: keys with their limits, or an org and the providers its item
/// calls (their limits from `limits`, default the original's).
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct Acquire {
    keys: Vec<KeyLimit>,
    org_id: Option<String>,
    providers: Vec<String>,
    limits: ProviderLimits,
}

impl Acquire {
    fn resolve(self) -> Result<Vec<(String, Limit)>> {
        let mut keys: Vec<(String, Limit)> = self
            .keys
            .into_iter()
            .map(|k| {
                let limit = Limit {
                    limit: k.limit,
                    period_ms: k.period_ms,
                    burst: k.burst,
                };
                (k.key, limit)
            })
            .collect();
        if !self.providers.is_empty() {
            let org = self
                .org_id
                .filter(|o| !o.trim().is_empty())
                .ok_or_else(|| Error::invalid_input("org_id", "is required with providers"))?;
            keys.extend(self.limits.keys(&org, &self.providers)?);
        }
        let names: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
        check_keys(&names)?;
        Ok(keys)
    }
}

/// A decision for no key at all (every provider unlimited): allowed.
fn unlimited() -> Decision {
    Decision {
        allowed: true,
        limit: u32::MAX,
        remaining: u32::MAX,
        retry_after_ms: 0,
        reset_after_ms: 0,
        key: None,
    }
}

fn acquisition(args: Option<Value>, case: Case) -> Result<Option<Vec<(String, Limit)>>> {
    let a: Acquire = from_value(args, case, "")?;
    let providers_only = a.keys.is_empty() && !a.providers.is_empty();
    let keys = match a.resolve() {
        Err(Error::InvalidInput { field, .. }) if field == "keys" && providers_only => {
            return Ok(None);
        }
        other => other?,
    };
    Ok(Some(keys))
}

fn borrowed(keys: &[(String, Limit)]) -> Vec<(&str, Limit)> {
    keys.iter().map(|(k, l)| (k.as_str(), *l)).collect()
}

impl LocalLimiter {
    /// [`LocalLimiter::acquire`] with the keys as JSON: `{keys: [{key, limit, period_ms,
    /// burst}]}` and/or `{org_id, providers, limits}`; the decision in `case`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the argument.
    pub fn acquire_value(&self, args: Option<Value>, case: Case) -> Result<Value> {
        let call = || -> Result<Decision> {
            match acquisition(args, case)? {
                None => Ok(unlimited()),
                Some(keys) => self.acquire(&borrowed(&keys)),
            }
        };
        call()
            .map(|d| to_value(&d, case))
            .map_err(|e| spelt(e, case))
    }
}

/// The options of [`LocalLimiter::new_value`].
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct LocalOptions {
    capacity: usize,
}

impl Default for LocalOptions {
    fn default() -> Self {
        LocalOptions {
            capacity: super::local::DEFAULT_CAPACITY,
        }
    }
}

impl LocalLimiter {
    /// A limiter from its options as JSON (`capacity`, default
    /// [`super::local::DEFAULT_CAPACITY`] busy keys), as a binding passes them.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the option under `root` (`options.capacity`).
    pub fn new_value(options: Option<Value>, case: Case, root: &str) -> Result<Self> {
        let options: LocalOptions = from_value(options, case, root)?;
        LocalLimiter::new(options.capacity).map_err(|e| spelt(rooted(e, root), case))
    }
}

impl SharedLimiter {
    /// [`SharedLimiter::acquire`] with the keys as JSON (see [`LocalLimiter::acquire_value`]).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the argument; storage errors.
    pub async fn acquire_value(&self, args: Option<Value>, case: Case) -> Result<Value> {
        let call = async {
            match acquisition(args, case)? {
                None => Ok(unlimited()),
                Some(keys) => self.acquire(&borrowed(&keys)).await,
            }
        };
        call.await
            .map(|d| to_value(&d, case))
            .map_err(|e| spelt(e, case))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DecideInput {
    limit: Limit,
    tat_ms: f64,
    now_ms: f64,
}

/// One GCRA decision as a limiter makes it, and the TAT it leaves.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Decided {
    /// The decision.
    pub decision: Decision,
    /// The key's TAT after it (unchanged when denied), in milliseconds.
    pub tat_ms: f64,
}

/// [`Limit::decide`] on JSON: `{limit: {limit, period_ms, burst}, tat_ms, now_ms}` (a key
/// never seen has a TAT of 0). Pure: what both limiters compute, for the vectors and for
/// planning a quota.
///
/// # Errors
/// [`Error::InvalidInput`] naming the field (`limit.burst`).
pub fn decide_value(input: Option<Value>, case: Case) -> Result<Decided> {
    let call = || {
        let input: DecideInput = from_value(input, case, "")?;
        input.limit.check("limit")?;
        let (decision, tat_ms) = input.limit.decide(input.tat_ms, input.now_ms);
        Ok(Decided { decision, tat_ms })
    };
    call().map_err(|e| spelt(e, case))
}

impl WorkerSession {
    /// A session over `queue` with its options as JSON ([`WorkerOptions`]).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the option.
    pub fn new_value(queue: Queue, options: Option<Value>, case: Case, root: &str) -> Result<Self> {
        let options: WorkerOptions = from_value(options, case, root)?;
        WorkerSession::new(queue, options).map_err(|e| spelt(rooted(e, root), case))
    }

    /// [`WorkerSession::next`] with the items as JSON in `case` (null when the session is
    /// done).
    ///
    /// # Errors
    /// Storage errors.
    pub async fn next_value(&self, case: Case) -> Result<Value> {
        Ok(match self.next().await? {
            Some(items) => to_value(&items, case),
            None => Value::Null,
        })
    }

    /// [`WorkerSession::settle`] for a handler that returned `answer` (read in `case` by
    /// [`Outcome::of_value`]) or failed with a message.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `id` (not a UUID).
    pub fn settle_value(
        &self,
        id: &str,
        lease_token: u64,
        answer: std::result::Result<Value, String>,
        case: Case,
    ) -> Result<()> {
        let id: Uuid = require_uuid("id", id)?;
        let outcome = match answer {
            Ok(value) => Outcome::of_value(value, case),
            Err(message) => Outcome::of_error(&message),
        };
        self.settle(id, lease_token, outcome);
        Ok(())
    }
}
