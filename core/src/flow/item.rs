//! The records of the Command Centre queue: an item to enqueue ([`NewItem`]), a stored item
//! ([`QueueItem`]) and its enrichment state ([`ItemState`]).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::idents::short_name;

/// The lanes, most urgent first: 0 critical, 1 high, 2 normal (the default), 3 low.
pub const LANES: [u8; 4] = [0, 1, 2, 3];

/// The longest delay an item may wait: 30 days.
pub const MAX_DELAY_MS: u64 = 30 * 86_400_000;

/// Checks a lane.
///
/// # Errors
/// [`Error::InvalidInput`] on `field` outside 0 to 3.
pub fn check_lane(field: &str, lane: i64) -> Result<u8> {
    u8::try_from(lane)
        .ok()
        .filter(|l| LANES.contains(l))
        .ok_or_else(|| Error::invalid_input(field, "must be a lane from 0 to 3"))
}

/// A Command Centre item to enqueue: the original table's columns, a lane and a not-before
/// time.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NewItem {
    /// The org the item belongs to (required, a UUID).
    pub org_id: String,
    /// The user it is for, a UUID.
    pub user_id: Option<String>,
    /// The agent that produced it (required, 1 to 200 characters).
    pub source_agent: String,
    /// The producer's event id.
    pub source_event_id: Option<String>,
    /// Its type (`deal_risk`, `follow_up`, `outreach`, …; required).
    pub item_type: String,
    /// Its title (required, at most 2,000 characters).
    pub title: String,
    /// A summary.
    pub summary: Option<String>,
    /// The producer's context (a JSON object, kept as given; default `{}`).
    pub context: Map<String, Value>,
    /// A score from 0 to 100.
    pub priority_score: Option<f64>,
    /// `critical`, `high`, `normal` (default) or `low`.
    pub urgency: Option<String>,
    /// The deal, a UUID.
    pub deal_id: Option<String>,
    /// The contact, a UUID.
    pub contact_id: Option<String>,
    /// The lane, 0 (critical) to 3 (low); default 2.
    pub queue_priority: Option<i64>,
    /// Not before this many milliseconds from now (at most 30 days; default 0).
    pub delay_ms: Option<i64>,
}

const URGENCIES: [&str; 4] = ["critical", "high", "normal", "low"];

impl NewItem {
    /// Checks the item; `at` names it in errors (`items[3]`).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the offending field.
    pub fn check(&self, at: &str) -> Result<()> {
        let field = |f: &str| format!("{at}.{f}");
        if self.org_id.trim().is_empty() {
            return Err(Error::invalid_input(field("org_id"), "is required"));
        }
        crate::options::require_uuid(&field("org_id"), &self.org_id)?;
        for (name, id) in [
            ("user_id", &self.user_id),
            ("deal_id", &self.deal_id),
            ("contact_id", &self.contact_id),
        ] {
            crate::options::parse_uuid(&field(name), id.as_deref())?;
        }
        short_name(&field("source_agent"), &self.source_agent)?;
        short_name(&field("item_type"), &self.item_type)?;
        if self.title.trim().is_empty() || self.title.chars().count() > 2_000 {
            return Err(Error::invalid_input(
                field("title"),
                "must be 1 to 2000 characters",
            ));
        }
        if let Some(lane) = self.queue_priority {
            check_lane(&field("queue_priority"), lane)?;
        }
        if let Some(ms) = self.delay_ms
            && !(0..=MAX_DELAY_MS as i64).contains(&ms)
        {
            return Err(Error::invalid_input(
                field("delay_ms"),
                "must be 0 to 30 days in milliseconds",
            ));
        }
        if let Some(score) = self.priority_score
            && !(0.0..=100.0).contains(&score)
        {
            return Err(Error::invalid_input(
                field("priority_score"),
                "must be 0 to 100",
            ));
        }
        if let Some(u) = &self.urgency
            && !URGENCIES.contains(&u.as_str())
        {
            return Err(Error::invalid_input(
                field("urgency"),
                "must be critical, high, normal or low",
            ));
        }
        Ok(())
    }

    /// The lane, defaulted.
    pub fn lane(&self) -> u8 {
        self.queue_priority.map_or(2, |l| l as u8)
    }

    /// The item as one row of a batch insert, under `id`, its defaults applied.
    pub(super) fn row(&self, id: Uuid) -> Value {
        let uuid = |raw: &Option<String>| {
            raw.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .and_then(|s| Uuid::try_parse(s).ok())
                .map(|u| u.to_string())
        };
        serde_json::json!({
            "id": id.to_string(),
            "org_id": Uuid::try_parse(self.org_id.trim()).map(|u| u.to_string()).unwrap_or_default(),
            "user_id": uuid(&self.user_id),
            "source_agent": self.source_agent,
            "source_event_id": self.source_event_id,
            "item_type": self.item_type,
            "title": self.title,
            "summary": self.summary,
            "context": crate::store::storable_json(&self.context),
            "priority_score": self.priority_score,
            "urgency": self.urgency.as_deref().unwrap_or("normal"),
            "deal_id": uuid(&self.deal_id),
            "contact_id": uuid(&self.contact_id),
            "queue_priority": self.lane(),
            "delay_ms": self.delay_ms.unwrap_or(0),
        })
    }
}

/// Where an item is in enrichment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemState {
    /// Waiting in its lane (or for its not-before time).
    Pending,
    /// Claimed: a worker holds its lease.
    Processing,
    /// Done.
    Enriched,
    /// Failed for good (see `failure_reason`).
    Failed,
    /// Set aside without work (a merged duplicate).
    Skipped,
}

impl ItemState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ItemState::Pending => "pending",
            ItemState::Processing => "processing",
            ItemState::Enriched => "enriched",
            ItemState::Failed => "failed",
            ItemState::Skipped => "skipped",
        }
    }

    /// The state stored as `name` (an unknown name reads as failed).
    pub fn parse(name: &str) -> Self {
        match name {
            "pending" => ItemState::Pending,
            "processing" => ItemState::Processing,
            "enriched" => ItemState::Enriched,
            "skipped" => ItemState::Skipped,
            _ => ItemState::Failed,
        }
    }
}

/// A stored Command Centre item as the queue sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueItem {
    /// Its id.
    pub id: Uuid,
    /// Its org.
    pub org_id: String,
    /// Its user.
    pub user_id: Option<String>,
    /// The agent that produced it.
    pub source_agent: String,
    /// Its type.
    pub item_type: String,
    /// Its title.
    pub title: String,
    /// The producer's context.
    pub context: Value,
    /// Its deal.
    pub deal_id: Option<String>,
    /// Its contact.
    pub contact_id: Option<String>,
    /// Its lane.
    pub queue_priority: u8,
    /// Its not-before time and the start of its wait (RFC 3339).
    pub queued_at: String,
    /// Its state.
    pub enrichment_status: ItemState,
    /// When the last claim took it.
    pub processing_started_at: Option<String>,
    /// Claims so far (a deferral gives its claim back).
    pub processing_attempts: u32,
    /// The worker holding its lease.
    pub lease_owner: Option<String>,
    /// The token of the current lease: complete, fail, defer and extend name it.
    pub lease_token: u64,
    /// When the lease runs out.
    pub lease_expires_at: Option<String>,
    /// Why it failed.
    pub failure_reason: Option<String>,
    /// What enrichment left.
    pub enrichment_context: Option<Value>,
    /// When it was enriched.
    pub enriched_at: Option<String>,
    /// When it was created.
    pub created_at: String,
}
