//! Dedup's calls as a binding makes them: arguments as one JSON object in the caller's
//! [`Case`], records back as JSON in that case, errors naming the field as the caller spells
//! it; and the pure functions the vectors pin ([`dedup_key_value`], [`merge_value`]).

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::key::{KeyParts, dedup_key};
use super::merge::{Group, Report};
use super::store::{Dedup, DedupOptions};
use crate::Keel;
use crate::error::{Error, Result};
use crate::flow::{NewItem, Queue, check_lane};
use crate::options::{Calls, Case, from_value, require_uuid, rooted, spelt};
use crate::record::to_value;

/// The calls [`Dedup::call_value`] answers.
pub const DEDUP_CALLS: [&str; 6] = ["enqueue", "check", "score", "group", "counts", "sweep"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Enqueue {
    items: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Check {
    id: String,
    #[serde(default)]
    lease_token: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Score {
    id: String,
    confidence: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Id {
    id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Org {
    org_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Sweep {
    #[serde(default)]
    org: Option<String>,
    #[serde(default)]
    dry_run: bool,
}

/// The parts of an item's key, as a caller passes them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyItem {
    org_id: String,
    #[serde(default)]
    user_id: Option<String>,
    item_type: String,
    #[serde(default)]
    deal_id: Option<String>,
    #[serde(default)]
    contact_id: Option<String>,
    #[serde(default)]
    context: Map<String, Value>,
}

/// One report of [`merge_value`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportIn {
    id: String,
    agent: String,
    #[serde(default)]
    confidence_score: Option<f64>,
    #[serde(default)]
    context: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Merge {
    reports: Vec<ReportIn>,
    #[serde(default = "normal")]
    queue_priority: i64,
}

fn normal() -> i64 {
    2
}

/// [`dedup_key`] of an item given as JSON (`org_id`, `user_id`, `item_type`, `deal_id`,
/// `contact_id`, `context`).
///
/// # Errors
/// [`Error::InvalidInput`] naming the field.
pub fn dedup_key_value(item: Option<Value>, case: Case) -> Result<String> {
    let k: KeyItem = from_value(item, case, "")?;
    dedup_key(&KeyParts {
        org_id: &k.org_id,
        user_id: k.user_id.as_deref(),
        item_type: &k.item_type,
        deal_id: k.deal_id.as_deref(),
        contact_id: k.contact_id.as_deref(),
        context: Some(&k.context),
    })
    .map_err(|e| spelt(e, case))
}

/// The group the first of `reports` starts and the rest join, in order ([`Group::seed`],
/// [`Group::merge`]): `{group, escalated}` with one escalation flag per joining report.
///
/// # Errors
/// [`Error::InvalidInput`] on no reports, a `confidence_score` outside 0 to 1, or a lane
/// outside 0 to 3.
pub fn merge_value(args: Option<Value>, case: Case) -> Result<Value> {
    let m: Merge = from_value(args, case, "").map_err(|e| spelt(e, case))?;
    let lane = check_lane("queue_priority", m.queue_priority).map_err(|e| spelt(e, case))?;
    let mut reports = Vec::with_capacity(m.reports.len());
    for (i, r) in m.reports.iter().enumerate() {
        if let Some(c) = r.confidence_score {
            super::merge::check_confidence(&format!("reports[{i}].confidence_score"), c)
                .map_err(|e| spelt(e, case))?;
        }
        reports.push(Report::of(&r.id, &r.agent, r.confidence_score, &r.context));
    }
    let (first, rest) = reports
        .split_first()
        .ok_or_else(|| Error::invalid_input("reports", "needs at least one report"))?;
    let mut group = Group::seed(first, lane);
    let mut escalated = Vec::with_capacity(rest.len());
    for report in rest {
        let (next, up) = group.merge(report);
        group = next;
        escalated.push(up);
    }
    Ok(json!({"group": to_value(&group, case), "escalated": escalated}))
}

impl Dedup {
    /// Dedup over `keel` with its options as JSON ([`DedupOptions`]).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the option.
    pub fn open_value(keel: &Keel, options: Option<Value>, case: Case, root: &str) -> Result<Self> {
        let options: DedupOptions = from_value(options, case, root)?;
        Dedup::open(keel, options).map_err(|e| spelt(rooted(e, root), case))
    }
}

impl Calls for Dedup {
    /// Runs the dedup operation `op` (one of [`DEDUP_CALLS`]) on `args` and returns its result
    /// as JSON in `case`: the checks for `enqueue` (through the queue with default options),
    /// a check, a score, a group or null, the counters, a sweep report.
    ///
    /// # Errors
    /// As the operation; [`Error::InvalidInput`] naming the argument, or `op` when unknown.
    async fn call_op(&self, op: &str, args: Option<Value>, case: Case) -> Result<Value> {
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
                let queue = Queue::open(self.keel(), Default::default())?;
                to_value(&self.enqueue(&queue, &items).await?, case)
            }
            "check" => {
                let a: Check = from_value(args, case, "")?;
                to_value(
                    &self
                        .check(require_uuid("id", &a.id)?, a.lease_token)
                        .await?,
                    case,
                )
            }
            "score" => {
                let a: Score = from_value(args, case, "")?;
                to_value(
                    &self.score(require_uuid("id", &a.id)?, a.confidence).await?,
                    case,
                )
            }
            "group" => {
                let a: Id = from_value(args, case, "")?;
                to_value(&self.group(require_uuid("id", &a.id)?).await?, case)
            }
            "counts" => {
                let a: Org = from_value(args, case, "")?;
                to_value(&self.counts(&a.org_id).await?, case)
            }
            "sweep" => {
                let a: Sweep = from_value(args, case, "")?;
                to_value(
                    &self
                        .sweep(a.org.as_deref(), a.dry_run, &mut |_, _| {})
                        .await?,
                    case,
                )
            }
            other => {
                return Err(Error::invalid_input(
                    "op",
                    format!(
                        "unknown dedup call {other}; one of {}",
                        DEDUP_CALLS.join(", ")
                    ),
                ));
            }
        })
    }
}
