//! Deduplication of Command Centre items in the database ([`Dedup`]): one check shared by
//! insert time ([`Dedup::enqueue`]) and the enrichment stage ([`Dedup::check`]).
//!
//! A check runs in one transaction under a lock per org (PostgreSQL's transaction-scoped
//! advisory lock; SQLite's `BEGIN IMMEDIATE`), so two checks of one org never interleave:
//! 1. expired merge windows of the item's key are closed;
//! 2. the open primary of the key is looked up, else (near-duplicates on) an open primary of
//!    the org whose LSH band matches and whose estimated Jaccard confirms;
//! 3. with a primary, the item is archived into its group (`merge_group_id`, not a primary,
//!    `auto_resolved`) and the group's state is merged ([`Group::merge`]); a primary already
//!    completed or dismissed supersedes it instead;
//! 4. without one, the item becomes the key's open primary, its group seeded with its own
//!    confidence, agent and evidence, and its bands stored.
//!
//! The partial unique index on open primaries per org and key backs the lock: a second open
//! primary cannot be written even by a writer that skipped it.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::key::{KeyParts, dedup_key};
use super::lsh::LshParams;
use super::merge::{Group, MERGE_WINDOW_MS, Report};
use super::minhash::{MinHash, MinHasher};
use super::statements::Statements;
use crate::Keel;
use crate::error::{Error, Result};
use crate::flow::{Insert, NewItem, Queue};
use crate::store::bind::{Binds, bind_all};
use crate::store::{Dialect, in_transaction};

/// How items are deduplicated; every field has a default.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DedupOptions {
    /// How long a primary absorbs newcomers with its key, from its first sight (default 4 h).
    pub window_ms: i64,
    /// Whether near-duplicates (MinHash over title and summary) merge too (default true).
    pub near_duplicates: bool,
    /// The Jaccard similarity of a near-duplicate, between 0 and 1 exclusive (default 0.8).
    pub threshold: f64,
}

impl Default for DedupOptions {
    fn default() -> Self {
        DedupOptions {
            window_ms: MERGE_WINDOW_MS,
            near_duplicates: true,
            threshold: super::DEFAULT_THRESHOLD,
        }
    }
}

/// What a check did with an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// It is its key's open primary.
    Primary,
    /// It merged into the open primary of its key.
    Merged,
    /// It merged into an open primary whose text is a near-duplicate of its own.
    NearMerged,
    /// Its primary was already completed or dismissed: archived without a merge.
    Superseded,
    /// Another worker holds it (the enrichment stage checks it), or it was finished before
    /// any check: left as it is.
    InFlight,
}

/// The verdicts that absorb an item, each with the `resolution_channel` it stores and the
/// counter it adds to.
const ABSORBED: [(Verdict, &str, &str); 3] = [
    (Verdict::Merged, "dedup_merge", "merged"),
    (Verdict::NearMerged, "dedup_near_merge", "near_merged"),
    (Verdict::Superseded, "dedup_superseded", "superseded"),
];

impl Verdict {
    /// The `resolution_channel` and counter of an absorbing verdict.
    fn absorbed(self) -> Option<(&'static str, &'static str)> {
        ABSORBED
            .iter()
            .find(|(v, ..)| *v == self)
            .map(|(_, channel, counter)| (*channel, *counter))
    }

    /// The verdict an item absorbed through `channel` was given (`merged` for a channel no
    /// check wrote).
    fn of_channel(channel: Option<&str>) -> Verdict {
        ABSORBED
            .iter()
            .find(|(_, c, _)| Some(*c) == channel)
            .map_or(Verdict::Merged, |(v, ..)| *v)
    }
}

/// The outcome of a check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Checked {
    /// The item checked.
    pub id: Uuid,
    /// What happened.
    pub verdict: Verdict,
    /// Its group's primary (itself when it is one; `None` in flight).
    pub primary_id: Option<Uuid>,
    /// Its dedup key.
    pub dedup_key: String,
    /// The estimated Jaccard similarity with a near-duplicate primary.
    pub jaccard: Option<f64>,
    /// Whether this merge escalated the primary one lane.
    pub escalated: bool,
    /// The group's merged confidence after the check.
    pub merged_confidence: Option<f64>,
}

/// The item as a check reads it (locked).
#[derive(sqlx::FromRow)]
struct ItemRow {
    org_id: String,
    user_id: Option<String>,
    source_agent: String,
    item_type: String,
    title: String,
    summary: Option<String>,
    context: String,
    deal_id: Option<String>,
    contact_id: Option<String>,
    confidence_score: Option<f64>,
    enrichment_status: String,
    lease_token: i64,
    merge_group_id: Option<String>,
    is_primary: bool,
    resolution_channel: Option<String>,
    queue_priority: i64,
}

/// A primary's group as stored (locked).
#[derive(sqlx::FromRow)]
struct PrimaryRow {
    id: String,
    status: String,
    merged_confidence: Option<f64>,
    contributing_agents: String,
    merged_evidence: String,
    merged_from: String,
    queue_priority: i64,
}

impl PrimaryRow {
    /// Whether its work is done (completed or dismissed): a newcomer supersedes it.
    fn is_done(&self) -> bool {
        matches!(self.status.as_str(), "completed" | "dismissed")
    }

    fn group(&self) -> Group {
        Group {
            merged_confidence: self.merged_confidence,
            contributing_agents: serde_json::from_str(&self.contributing_agents)
                .unwrap_or_default(),
            merged_evidence: serde_json::from_str(&self.merged_evidence).unwrap_or_default(),
            merged_from: serde_json::from_str(&self.merged_from).unwrap_or_default(),
            queue_priority: u8::try_from(self.queue_priority).unwrap_or(2),
        }
    }
}

/// Deduplication over a Keel's Command Centre items.
#[derive(Clone)]
pub struct Dedup {
    keel: Keel,
    options: DedupOptions,
    params: LshParams,
    confirm_at: f64,
    statements: Arc<Statements>,
}

impl Dedup {
    /// Deduplication over `keel`'s items with `options`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `window_ms` outside 1 ms to 30 days or `threshold` outside
    /// (0, 1); [`Error::Closed`] on a closed `keel`.
    pub fn open(keel: &Keel, options: DedupOptions) -> Result<Dedup> {
        if !(1..=crate::flow::MAX_DELAY_MS as i64).contains(&options.window_ms) {
            return Err(Error::invalid_input("window_ms", "must be 1 ms to 30 days"));
        }
        let num_perm = MinHasher::shared().options().num_perm;
        Ok(Dedup {
            statements: Arc::new(Statements::new(Dialect::of(keel.pool()?))),
            keel: keel.clone(),
            options,
            params: LshParams::for_threshold(options.threshold, num_perm)?,
            confirm_at: LshParams::confirm_at(options.threshold, num_perm),
        })
    }

    /// Its options.
    pub fn options(&self) -> DedupOptions {
        self.options
    }

    /// The signature of an item's title and summary, when near-duplicates are on (an item
    /// whose text has no words, or is over the size limit, has none).
    pub(super) fn signature(&self, title: &str, summary: Option<&str>) -> Option<MinHash> {
        if !self.options.near_duplicates {
            return None;
        }
        let text = match summary {
            Some(summary) => format!("{title}\n{summary}"),
            None => title.to_owned(),
        };
        MinHasher::shared().signature(&text).ok()
    }

    /// The bands of `signature` as JSON pairs `[[band_no, hash as i64], …]` (`[]` for none).
    pub(super) fn band_pairs(&self, signature: Option<&MinHash>) -> Result<String> {
        let Some(sig) = signature else {
            return Ok("[]".to_owned());
        };
        let pairs: Vec<(usize, i64)> = sig
            .band_hashes(self.params)?
            .into_iter()
            .enumerate()
            .map(|(i, h)| (i, h as i64))
            .collect();
        Ok(serde_json::to_string(&pairs).unwrap_or_else(|_| "[]".into()))
    }

    /// The Keel it works on.
    pub(super) fn keel(&self) -> &Keel {
        &self.keel
    }

    /// Its statements, in its Keel's backend's spelling.
    pub(super) fn statements(&self) -> &Statements {
        &self.statements
    }

    /// Enqueues `items` on `queue` and checks each at once (insert-time dedup): one outcome per
    /// item, in order. A `confidence` in an item's context must be from 0 to 1.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the first bad field before anything is written; the
    /// queue's errors; storage errors.
    pub async fn enqueue(&self, queue: &Queue, items: &[NewItem]) -> Result<Vec<Checked>> {
        for (i, item) in items.iter().enumerate() {
            if let Some(c) = item.context.get("confidence") {
                let field = format!("items[{i}].context.confidence");
                let c = c
                    .as_f64()
                    .ok_or_else(|| Error::invalid_input(&field, "must be a number from 0 to 1"))?;
                super::merge::check_confidence(&field, c)?;
            }
        }
        // Each item is inserted and checked in one transaction: a claim never sees it
        // unchecked (claimed, done, and then absorbed as a duplicate).
        let insert = queue.prepare(items).await?;
        let mut out = Vec::with_capacity(items.len());
        for (i, (row, item)) in insert.rows.chunks(1).zip(items).enumerate() {
            let org = Uuid::try_parse(item.org_id.trim()).map_err(|_| {
                Error::invalid_input(format!("items[{i}].org_id"), "must be a UUID")
            })?;
            let binds = Insert::binds(row);
            let inserting = Some((insert.statement.as_str(), binds));
            out.push(
                self.checked(row[0].0, org.to_string(), None, inserting)
                    .await?,
            );
        }
        queue.wake().await?;
        Ok(out)
    }

    /// Deduplicates one stored item (the enrichment stage calls this before any work): see the
    /// module's steps. A pending item is checked; one in flight only by the holder of
    /// `lease_token`; one already checked returns its standing verdict (idempotent); one
    /// finished unchecked is left as it is ([`Verdict::InFlight`]).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `id` naming no item; storage errors.
    pub async fn check(&self, id: Uuid, lease_token: Option<u64>) -> Result<Checked> {
        let org = self.org_of(id).await?;
        self.checked(id, org, lease_token, None).await
    }

    /// [`Dedup::check`] of item `id` of `org`, first inserting it with `inserting` (an
    /// enqueue's statement and binds) in the same transaction.
    async fn checked(
        &self,
        id: Uuid,
        org: String,
        lease_token: Option<u64>,
        inserting: Option<(&str, Binds)>,
    ) -> Result<Checked> {
        let pool = self.keel.pool()?;
        let s = &self.statements;
        let lock = format!("keel.dedup:{org}");
        let (checked, counts) = in_transaction!(pool, Some(lock.as_str()), |tx, sql| {
            if let Some((statement, binds)) = inserting {
                let text = sql(statement);
                bind_all!(sqlx::query(&text), binds)
                    .execute(&mut *tx)
                    .await?;
            }
            let item: ItemRow = sqlx::query_as(&s.item)
                .bind(id.to_string())
                .fetch_one(&mut *tx)
                .await?;
            let context: Value = serde_json::from_str(&item.context).unwrap_or(Value::Null);
            let key = dedup_key(&KeyParts {
                org_id: &item.org_id,
                user_id: item.user_id.as_deref(),
                item_type: &item.item_type,
                deal_id: item.deal_id.as_deref(),
                contact_id: item.contact_id.as_deref(),
                context: context.as_object(),
            })?;
            let standing = |verdict, primary: Option<&str>| Checked {
                id,
                verdict,
                primary_id: primary.and_then(|p| Uuid::try_parse(p).ok()),
                dedup_key: key.clone(),
                jaccard: None,
                escalated: false,
                merged_confidence: None,
            };
            if let Some(group) = item.merge_group_id.as_deref() {
                let verdict = if item.is_primary {
                    Verdict::Primary
                } else {
                    Verdict::of_channel(item.resolution_channel.as_deref())
                };
                (standing(verdict, Some(group)), Vec::new())
            } else if (item.enrichment_status == "processing"
                && lease_token.is_none_or(|t| t as i64 != item.lease_token))
                || matches!(
                    item.enrichment_status.as_str(),
                    "enriched" | "failed" | "skipped"
                )
            {
                // Held by another worker, or finished without a check: never rewritten.
                (standing(Verdict::InFlight, None), Vec::new())
            } else {
                sqlx::query(&s.close)
                    .bind(&item.org_id)
                    .bind(&key)
                    .execute(&mut *tx)
                    .await?;
                let report = Report::of(
                    &id.to_string(),
                    &item.source_agent,
                    item.confidence_score,
                    &context,
                );
                let mut found: Option<(PrimaryRow, Option<f64>)> = sqlx::query_as(&s.primary)
                    .bind(&item.org_id)
                    .bind(&key)
                    .bind(Uuid::nil().to_string())
                    .fetch_optional(&mut *tx)
                    .await?
                    .map(|p| (p, None));
                let signature = self.signature(&item.title, item.summary.as_deref());
                let bands = self.band_pairs(signature.as_ref())?;
                if let (None, Some(sig)) = (&found, &signature) {
                    let candidates: Vec<(String, Vec<u8>)> = sqlx::query_as(&s.near)
                        .bind(&item.org_id)
                        .bind(id.to_string())
                        .bind(&bands)
                        .fetch_all(&mut *tx)
                        .await?;
                    let best = candidates
                        .iter()
                        .filter_map(|(cid, bytes)| {
                            let other = MinHash::from_bytes(bytes).ok()?;
                            let j = sig.jaccard(&other).ok()?;
                            (j >= self.confirm_at).then_some((j, cid))
                        })
                        .max_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(a.1)));
                    if let Some((j, cid)) = best {
                        found = sqlx::query_as(&s.primary)
                            .bind(&item.org_id)
                            .bind(&key)
                            .bind(cid)
                            .fetch_optional(&mut *tx)
                            .await?
                            .map(|p| (p, Some(j)));
                    }
                }
                let mut counts: Vec<&'static str> = Vec::new();
                let checked = match found {
                    Some((primary, jaccard)) => {
                        let (verdict, group, escalated) = if primary.is_done() {
                            (
                                Verdict::Superseded,
                                primary.group().supersede(&report.id),
                                false,
                            )
                        } else {
                            let (group, escalated) = primary.group().merge(&report);
                            let verdict = match jaccard {
                                None => Verdict::Merged,
                                Some(_) => Verdict::NearMerged,
                            };
                            (verdict, group, escalated)
                        };
                        let (channel, counter) = verdict.absorbed().unwrap_or_default();
                        sqlx::query(&s.merge)
                            .bind(&primary.id)
                            .bind(group.merged_confidence)
                            .bind(
                                serde_json::to_string(&group.contributing_agents)
                                    .unwrap_or_default(),
                            )
                            .bind(serde_json::to_string(&group.merged_evidence).unwrap_or_default())
                            .bind(serde_json::to_string(&group.merged_from).unwrap_or_default())
                            .bind(i64::from(group.queue_priority))
                            .execute(&mut *tx)
                            .await?;
                        sqlx::query(&s.absorb)
                            .bind(id.to_string())
                            .bind(&key)
                            .bind(&primary.id)
                            .bind(channel)
                            .bind(report.confidence.map(|c| (c * 100.0).round() / 100.0))
                            .execute(&mut *tx)
                            .await?;
                        counts.extend(["suppressed", counter]);
                        if escalated {
                            counts.push("escalated");
                        }
                        Checked {
                            id,
                            verdict,
                            primary_id: Uuid::try_parse(&primary.id).ok(),
                            dedup_key: key.clone(),
                            jaccard,
                            escalated,
                            merged_confidence: group.merged_confidence,
                        }
                    }
                    None => {
                        let lane = u8::try_from(item.queue_priority).unwrap_or(2);
                        let group = Group::seed(&report, lane);
                        sqlx::query(&s.become_primary)
                            .bind(id.to_string())
                            .bind(&key)
                            .bind(self.options.window_ms)
                            .bind(group.merged_confidence)
                            .bind(
                                serde_json::to_string(&group.contributing_agents)
                                    .unwrap_or_default(),
                            )
                            .bind(serde_json::to_string(&group.merged_evidence).unwrap_or_default())
                            .bind(signature.as_ref().map(MinHash::to_bytes))
                            .execute(&mut *tx)
                            .await?;
                        if signature.is_some() {
                            sqlx::query(&s.bands)
                                .bind(&item.org_id)
                                .bind(id.to_string())
                                .bind(&bands)
                                .execute(&mut *tx)
                                .await?;
                        }
                        counts.push("primaries");
                        Checked {
                            id,
                            verdict: Verdict::Primary,
                            primary_id: Some(id),
                            dedup_key: key.clone(),
                            jaccard: None,
                            escalated: false,
                            merged_confidence: group.merged_confidence,
                        }
                    }
                };
                for counter in &counts {
                    sqlx::query(&s.count)
                        .bind(&item.org_id)
                        .bind(*counter)
                        .bind(1i64)
                        .execute(&mut *tx)
                        .await?;
                }
                (checked, counts)
            }
        });
        if !counts.is_empty() {
            tracing::debug!(
                target: "keel::dedup",
                item = %id,
                verdict = ?checked.verdict,
                primary = ?checked.primary_id,
                jaccard = ?checked.jaccard,
                "dedup check"
            );
        }
        Ok(checked)
    }
}
