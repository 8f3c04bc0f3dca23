//! A group as stored ([`Dedup::group`]), the post-scoring merge ([`Dedup::score`], the
//! original's DEDUP-003 made reachable) and the counters ([`Dedup::counts`]).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::merge::{APPROVE_AT, check_confidence, group_confidence};
use super::store::Dedup;
use crate::error::{Error, Result};
use crate::store::{Dialect, in_transaction, on_pool};

/// The counters' names, in the order [`Dedup::counts`] reports them.
pub const COUNTERS: [&str; 7] = [
    "primaries",
    "suppressed",
    "merged",
    "near_merged",
    "superseded",
    "escalated",
    "approved",
];

/// One member of a group.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Member {
    /// The item.
    pub id: String,
    /// Its status (`auto_resolved` once absorbed).
    pub status: String,
    /// Whether it is the group's primary.
    pub is_primary: bool,
    /// Its score from 0 to 1, if scored or reported.
    pub confidence_score: Option<f64>,
    /// How it was resolved (`dedup_merge`, `dedup_near_merge`, `dedup_superseded`).
    pub resolution_channel: Option<String>,
}

/// A group as its primary stores it, with its members.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupView {
    /// The primary.
    pub primary_id: String,
    /// The primary's status.
    pub status: String,
    /// The key the group was made under.
    pub dedup_key: Option<String>,
    /// Whether its window still absorbs newcomers.
    pub open: bool,
    /// The noisy-OR of its members' confidences.
    pub merged_confidence: Option<f64>,
    /// Every distinct agent that reported it.
    pub contributing_agents: Vec<String>,
    /// Every distinct `{agent, evidence}` entry.
    pub merged_evidence: Vec<Value>,
    /// Every absorbed item.
    pub merged_from: Vec<String>,
    /// The primary's lane.
    pub queue_priority: u8,
    /// Every member, the primary first, then by creation.
    pub members: Vec<Member>,
}

/// What a post-scoring merge did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scored {
    /// The item scored.
    pub id: Uuid,
    /// Its group's primary, if it is in a group.
    pub primary_id: Option<Uuid>,
    /// The group confidence recomputed from the members scored above 0.6 (`None` when fewer
    /// than two qualify: the primary keeps its merged confidence).
    pub merged_confidence: Option<f64>,
    /// Whether this score moved a `ready` primary to `approved`.
    pub approved: bool,
}

#[derive(sqlx::FromRow)]
struct GroupRow {
    status: String,
    dedup_key: Option<String>,
    dedup_open: bool,
    merged_confidence: Option<f64>,
    contributing_agents: String,
    merged_evidence: String,
    merged_from: String,
    queue_priority: i64,
}

impl Dedup {
    /// The group whose primary is `primary_id`, or `None` when that item is not a primary.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn group(&self, primary_id: Uuid) -> Result<Option<GroupView>> {
        let pool = self.keel().pool()?;
        let d = Dialect::of(pool);
        let head = d.spell(&format!(
            "SELECT status, dedup_key, dedup_open, {} AS merged_confidence,
                    {} AS contributing_agents, merged_evidence::text AS merged_evidence,
                    {} AS merged_from, queue_priority::int8 AS queue_priority
             FROM command_centre_items
             WHERE id = ($1)::uuid AND is_primary AND merge_group_id = ($1)::uuid",
            d.float("merged_confidence"),
            d.array_json("contributing_agents"),
            d.array_json("merged_from"),
        ));
        let members = d.spell(&format!(
            "SELECT id::text AS id, status, is_primary, {} AS confidence_score, resolution_channel
             FROM command_centre_items WHERE merge_group_id = ($1)::uuid
             ORDER BY is_primary DESC, created_at, id",
            d.float("confidence_score"),
        ));
        let id = primary_id.to_string();
        let (row, members): (Option<GroupRow>, Vec<Member>) = on_pool!(pool, |conn, _sql| {
            let row = sqlx::query_as(&head).bind(&id).fetch_optional(conn).await?;
            let members = sqlx::query_as(&members).bind(&id).fetch_all(conn).await?;
            (row, members)
        });
        Ok(row.map(|r| GroupView {
            primary_id: id,
            status: r.status,
            dedup_key: r.dedup_key,
            open: r.dedup_open,
            merged_confidence: r.merged_confidence,
            contributing_agents: serde_json::from_str(&r.contributing_agents).unwrap_or_default(),
            merged_evidence: serde_json::from_str(&r.merged_evidence).unwrap_or_default(),
            merged_from: serde_json::from_str(&r.merged_from).unwrap_or_default(),
            queue_priority: u8::try_from(r.queue_priority).unwrap_or(2),
            members,
        }))
    }

    /// Records `confidence` (0 to 1) as item `id`'s score and, when it is in a group,
    /// recomputes the group's confidence from the members scored above 0.6 (at least two; the
    /// original's constants) and moves a `ready` primary whose group confidence reaches 0.7 to
    /// `approved`, in one transaction under the org's dedup lock.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `confidence` outside 0 to 1 or NaN, or `id` naming no item;
    /// storage errors.
    pub async fn score(&self, id: Uuid, confidence: f64) -> Result<Scored> {
        check_confidence("confidence", confidence)?;
        let pool = self.keel().pool()?;
        let org = self.org_of(id).await?;
        let s = self.statements();
        let lock = format!("keel.dedup:{org}");
        let rounded = (confidence * 100.0).round() / 100.0;
        let scored = in_transaction!(pool, Some(lock.as_str()), |tx, _sql| {
            let (group,): (Option<String>,) = sqlx::query_as(&s.score)
                .bind(id.to_string())
                .bind(rounded)
                .fetch_one(&mut *tx)
                .await?;
            let mut scored = Scored {
                id,
                primary_id: group.as_deref().and_then(|g| Uuid::try_parse(g).ok()),
                merged_confidence: None,
                approved: false,
            };
            if let Some(group) = group {
                let before: Option<(String,)> = sqlx::query_as(&s.primary_status)
                    .bind(&group)
                    .fetch_optional(&mut *tx)
                    .await?;
                let members: Vec<(f64,)> = sqlx::query_as(&s.scores)
                    .bind(&group)
                    .fetch_all(&mut *tx)
                    .await?;
                let members: Vec<f64> = members.into_iter().map(|m| m.0).collect();
                if let (Some((before,)), Some(merged)) = (before, group_confidence(&members)) {
                    let merged = (merged * 10_000.0).round() / 10_000.0;
                    let (after,): (String,) = sqlx::query_as(&s.approve)
                        .bind(&group)
                        .bind(merged)
                        .bind(APPROVE_AT)
                        .fetch_one(&mut *tx)
                        .await?;
                    scored.merged_confidence = Some(merged);
                    scored.approved = before != "approved" && after == "approved";
                    if scored.approved {
                        sqlx::query(&s.count)
                            .bind(&org)
                            .bind("approved")
                            .bind(1i64)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
            }
            scored
        });
        Ok(scored)
    }

    /// What dedup did for `org`: each counter of [`COUNTERS`] (0 when never counted).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on an `org` that is not a UUID; storage errors.
    pub async fn counts(&self, org: &str) -> Result<BTreeMap<String, u64>> {
        let org = crate::options::require_uuid("org_id", org)?;
        let pool = self.keel().pool()?;
        let statement = Dialect::of(pool)
            .spell("SELECT counter, n FROM dedup_counts WHERE org_id = ($1)::uuid");
        let rows: Vec<(String, i64)> = on_pool!(pool, |conn, _sql| {
            sqlx::query_as(&statement)
                .bind(org.to_string())
                .fetch_all(conn)
                .await?
        });
        let mut out: BTreeMap<String, u64> =
            COUNTERS.iter().map(|c| ((*c).to_owned(), 0)).collect();
        for (counter, n) in rows {
            out.insert(counter, u64::try_from(n).unwrap_or(0));
        }
        Ok(out)
    }

    /// The org of item `id`.
    pub(super) async fn org_of(&self, id: Uuid) -> Result<String> {
        let pool = self.keel().pool()?;
        let statement = &self.statements().org_of;
        let org: Option<(String,)> = on_pool!(pool, |conn, _sql| {
            sqlx::query_as(statement)
                .bind(id.to_string())
                .fetch_optional(conn)
                .await?
        });
        Ok(org
            .ok_or_else(|| Error::invalid_input("id", "names no item"))?
            .0)
    }
}
