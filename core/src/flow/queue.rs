//! The Command Centre queue on both backends: enqueue here, the atomic claim in
//! [`super::claim`], outcomes in [`super::outcome`]. See `migrations/postgres/0013_queue.sql`.
//!
//! A claim is one `UPDATE … RETURNING`. It reads the first waiting items of each lane through
//! the partial index `(queue_priority, queued_at, id)` (with `FOR UPDATE SKIP LOCKED` on
//! PostgreSQL; SQLite has one writer), ranks them by lane after aging (an item moves up one
//! lane per `aging_ms` of wait, so low lanes cannot starve) and then by age (then id: FIFO), and leases the
//! first `n`: state `processing`, `processing_started_at`, one more attempt and a new lease
//! token. With concurrency caps the claim runs under a transaction-scoped advisory lock, so
//! the in-flight counts it reads are exact.

use serde::Deserialize;
use uuid::Uuid;

use super::item::{ItemState, NewItem, QueueItem};
use crate::Keel;
use crate::error::{Error, Result};
use crate::store::bind::{Bind, Binds, bind_all};
use crate::store::{Dialect, Pool, on_pool, rfc3339};

/// The PostgreSQL channel an enqueue notifies, which idle workers listen on.
pub const WAKE_CHANNEL: &str = "keel_queue";

/// How a queue leases, ages, retries and caps.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueOptions {
    /// How long a claim holds an item without an extension (default 30 s).
    pub lease_ms: u64,
    /// A waiting item moves up one lane per this much wait (default 60 s).
    pub aging_ms: u64,
    /// Claims before an item fails for good (default 5).
    pub max_attempts: u32,
    /// The first wait of a retryable failure, doubling per attempt up to an hour (default
    /// 10 s).
    pub retry_delay_ms: u64,
    /// Items one org may hold in flight across every worker (default: no cap).
    pub org_in_flight: Option<u32>,
    /// Items in flight across every worker and org (default: no cap).
    pub max_in_flight: Option<u32>,
    /// When to batch, throttle and shed (see [`super::health`]).
    pub shedding: super::Shedding,
    /// What one batch of [`Queue::claim_batch`] may span, for loaders that prefetch.
    pub fan_in: super::FanIn,
}

impl Default for QueueOptions {
    fn default() -> Self {
        QueueOptions {
            lease_ms: 30_000,
            aging_ms: 60_000,
            max_attempts: 5,
            retry_delay_ms: 10_000,
            org_in_flight: None,
            max_in_flight: None,
            shedding: super::Shedding::default(),
            fan_in: super::FanIn::default(),
        }
    }
}

impl QueueOptions {
    /// Checks the ranges.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the option.
    pub fn check(&self) -> Result<()> {
        let day30 = super::item::MAX_DELAY_MS;
        for (field, ms) in [
            ("lease_ms", self.lease_ms),
            ("aging_ms", self.aging_ms),
            ("retry_delay_ms", self.retry_delay_ms),
        ] {
            if !(1..=day30).contains(&ms) {
                return Err(Error::invalid_input(field, "must be 1 ms to 30 days"));
            }
        }
        if !(1..=100).contains(&self.max_attempts) {
            return Err(Error::invalid_input("max_attempts", "must be 1 to 100"));
        }
        for (field, cap) in [
            ("org_in_flight", self.org_in_flight),
            ("max_in_flight", self.max_in_flight),
        ] {
            if cap == Some(0) {
                return Err(Error::invalid_input(field, "must be at least 1"));
            }
        }
        self.shedding.check()?;
        self.fan_in.check()
    }
}

/// The Command Centre queue of a [`Keel`] handle's database.
#[derive(Debug, Clone)]
pub struct Queue {
    pub(super) keel: Keel,
    pub(super) options: QueueOptions,
    pub(super) modes: std::sync::Arc<super::health::ModeCache>,
}

/// An item row as [`columns`] selects it.
#[derive(Debug, sqlx::FromRow, serde::Deserialize)]
pub(super) struct ItemRow {
    id: String,
    org_id: String,
    user_id: Option<String>,
    source_agent: String,
    item_type: String,
    title: String,
    context: String,
    deal_id: Option<String>,
    contact_id: Option<String>,
    queue_priority: i64,
    queued_ms: i64,
    enrichment_status: String,
    started_ms: Option<i64>,
    processing_attempts: i64,
    lease_owner: Option<String>,
    lease_token: i64,
    lease_ms: Option<i64>,
    failure_reason: Option<String>,
    enrichment_context: Option<String>,
    enriched_ms: Option<i64>,
    created_ms: i64,
}

/// The columns of an [`ItemRow`].
pub(super) fn columns(d: Dialect) -> String {
    format!(
        "id::text AS id, org_id::text AS org_id, user_id::text AS user_id, source_agent,
         item_type, title, context::text AS context, deal_id::text AS deal_id,
         contact_id::text AS contact_id, queue_priority::int8 AS queue_priority,
         {} AS queued_ms, enrichment_status, {} AS started_ms,
         processing_attempts::int8 AS processing_attempts, lease_owner, lease_token,
         {} AS lease_ms, failure_reason, enrichment_context::text AS enrichment_context,
         {} AS enriched_ms, {} AS created_ms",
        d.epoch_ms("queued_at"),
        d.epoch_ms("processing_started_at"),
        d.epoch_ms("lease_expires_at"),
        d.epoch_ms("enriched_at"),
        d.epoch_ms("created_at"),
    )
}

impl From<ItemRow> for QueueItem {
    fn from(r: ItemRow) -> Self {
        QueueItem {
            id: Uuid::try_parse(&r.id).unwrap_or_default(),
            org_id: r.org_id,
            user_id: r.user_id,
            source_agent: r.source_agent,
            item_type: r.item_type,
            title: r.title,
            context: serde_json::from_str(&r.context).unwrap_or_default(),
            deal_id: r.deal_id,
            contact_id: r.contact_id,
            queue_priority: u8::try_from(r.queue_priority).unwrap_or(2),
            queued_at: rfc3339(r.queued_ms),
            enrichment_status: ItemState::parse(&r.enrichment_status),
            processing_started_at: r.started_ms.map(rfc3339),
            processing_attempts: u32::try_from(r.processing_attempts).unwrap_or(0),
            lease_owner: r.lease_owner,
            lease_token: u64::try_from(r.lease_token).unwrap_or(0),
            lease_expires_at: r.lease_ms.map(rfc3339),
            failure_reason: r.failure_reason,
            enrichment_context: r
                .enrichment_context
                .and_then(|c| serde_json::from_str(&c).ok()),
            enriched_at: r.enriched_ms.map(rfc3339),
            created_at: rfc3339(r.created_ms),
        }
    }
}

impl Queue {
    /// The queue of `keel`'s database with `options`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming an option out of range.
    pub fn open(keel: &Keel, options: QueueOptions) -> Result<Self> {
        options.check()?;
        Ok(Queue {
            keel: keel.clone(),
            options,
            modes: std::sync::Arc::new(super::health::ModeCache::new()),
        })
    }

    /// Its options.
    pub fn options(&self) -> &QueueOptions {
        &self.options
    }

    /// Runs `statement` (PostgreSQL spelling; `{cols}` stands for the item columns) with
    /// `binds`; the items it returns.
    pub(super) async fn items(&self, statement: &str, binds: Binds) -> Result<Vec<QueueItem>> {
        let pool = self.keel.pool()?;
        let statement = statement.replace("{cols}", &columns(Dialect::of(pool)));
        let rows: Vec<ItemRow> = on_pool!(pool, |conn, sql| {
            {
                let text = sql(&statement);
                bind_all!(sqlx::query_as::<_, ItemRow>(&text), binds)
                    .fetch_all(conn)
                    .await?
            }
        });
        Ok(rows.into_iter().map(QueueItem::from).collect())
    }

    /// The item `id`, if any.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn get(&self, id: Uuid) -> Result<Option<QueueItem>> {
        let statement = "SELECT {cols} FROM command_centre_items WHERE id = $1::uuid";
        let binds = Binds(vec![Bind::Text(Some(id.to_string()))]);
        Ok(self.items(statement, binds).await?.into_iter().next())
    }

    /// Enqueues `items` in one statement per 1,000; their ids, in order.
    ///
    /// Low lanes (2 and 3) follow the queue's mode: throttled, they wait
    /// `throttle_delay_ms` before they can be claimed; shedding, they are refused. Lanes 0
    /// and 1 always go in as asked.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the first bad field (`items[3].queue_priority`), before
    /// anything is written; [`Error::Overloaded`] when the queue sheds and a low-lane item is
    /// among them (nothing is written); storage errors.
    pub async fn enqueue(&self, items: &[NewItem]) -> Result<Vec<Uuid>> {
        let insert = self.prepare(items).await?;
        let pool = self.keel.pool()?;
        for chunk in insert.rows.chunks(1_000) {
            crate::store::bind::execute(pool, &insert.statement, Insert::binds(chunk)).await?;
        }
        self.wake().await?;
        Ok(insert.rows.iter().map(|(id, _)| *id).collect())
    }

    /// Checks `items`, applies the queue's mode to their lanes and gives each its id: the
    /// statement and rows of an enqueue, for callers that insert inside their own transaction
    /// (dedup inserts and checks an item in one, so no claim sees it unchecked).
    pub(crate) async fn prepare(&self, items: &[NewItem]) -> Result<Insert> {
        for (i, item) in items.iter().enumerate() {
            item.check(&format!("items[{i}]"))?;
        }
        let throttled: Vec<NewItem>;
        let mut items = items;
        if let Some(low) = items.iter().map(NewItem::lane).filter(|&l| l >= 2).max() {
            let shedding = &self.options.shedding;
            match self.current_mode().await? {
                (super::Mode::Shed, depth) => {
                    return Err(Error::Overloaded {
                        lane: low,
                        mode: super::Mode::Shed.as_str(),
                        depth,
                        retry_after_ms: shedding.retry_after_ms,
                    });
                }
                (super::Mode::Throttle, _) => {
                    let wait = shedding.throttle_delay_ms as i64;
                    throttled = items
                        .iter()
                        .map(|item| match item.lane() {
                            0 | 1 => item.clone(),
                            _ => NewItem {
                                delay_ms: Some(item.delay_ms.unwrap_or(0).max(wait)),
                                ..item.clone()
                            },
                        })
                        .collect();
                    items = &throttled;
                }
                _ => {}
            }
        }
        let pool = self.keel.pool()?;
        let d = Dialect::of(pool);
        let rows = match pool {
            Pool::Postgres(_) => "jsonb_array_elements($1::jsonb) AS j(value)",
            Pool::Sqlite(_) => "json_each($1) AS j",
        };
        let f = |k: &str| d.json_text("value", k);
        let statement = format!(
            "INSERT INTO command_centre_items
                 (id, org_id, user_id, source_agent, source_event_id, item_type, title, summary,
                  context, priority_score, urgency, deal_id, contact_id, queue_priority, queued_at)
             SELECT ({})::uuid, ({})::uuid, ({})::uuid, {}, {}, {}, {}, {}, {}, ({})::numeric,
                    {}, ({})::uuid, ({})::uuid, ({})::int8, {}
             FROM {rows}",
            f("id"),
            f("org_id"),
            f("user_id"),
            f("source_agent"),
            f("source_event_id"),
            f("item_type"),
            f("title"),
            f("summary"),
            d.json(&format!("({})", f("context"))),
            f("priority_score"),
            f("urgency"),
            f("deal_id"),
            f("contact_id"),
            f("queue_priority"),
            d.now_plus_ms(&format!("({})::int8", f("delay_ms"))),
        );
        let rows = items
            .iter()
            .map(|item| {
                let id = Uuid::now_v7();
                (id, item.row(id))
            })
            .collect();
        Ok(Insert { statement, rows })
    }

    /// Tells idle workers listening on the queue's channel (PostgreSQL) to claim at once
    /// instead of at their next poll.
    pub(crate) async fn wake(&self) -> Result<()> {
        if let Pool::Postgres(pg) = self.keel.pool()? {
            sqlx::query("SELECT pg_notify($1, '')")
                .bind(WAKE_CHANNEL)
                .execute(pg)
                .await?;
        }
        Ok(())
    }
}

/// An enqueue's statement (PostgreSQL spelling) and its rows, each with its id.
pub(crate) struct Insert {
    /// The `INSERT`, its one parameter the rows as a JSON array.
    pub(crate) statement: String,
    /// Each item's id and row.
    pub(crate) rows: Vec<(Uuid, serde_json::Value)>,
}

impl Insert {
    /// The statement's parameter for `rows`.
    pub(crate) fn binds(rows: &[(Uuid, serde_json::Value)]) -> Binds {
        let rows: Vec<String> = rows
            .iter()
            .map(|(_, row)| crate::store::storable_json(row))
            .collect();
        Binds(vec![Bind::Text(Some(format!("[{}]", rows.join(","))))])
    }
}

pub(super) use crate::idents::short_name as short_name_of;
