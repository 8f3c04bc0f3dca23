//! The Command Centre queue on both backends: enqueue and the atomic claim. See
//! `migrations/postgres/0013_queue.sql`; outcomes are in [`super::outcome`].
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

use super::item::{ItemState, LANES, NewItem, QueueItem, check_lane};
use crate::Keel;
use crate::error::{Error, Result};
use crate::store::bind::{Bind, Binds, bind_all};
use crate::store::{Dialect, Pool, in_transaction, on_pool, rfc3339};

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

/// Claimed rows as items, in the order a claim hands them out: lane, then age, then id.
pub(super) fn in_claim_order(rows: Vec<ItemRow>) -> Vec<QueueItem> {
    let mut items: Vec<QueueItem> = rows.into_iter().map(QueueItem::from).collect();
    items.sort_by(|a, b| {
        (a.queue_priority, &a.queued_at, a.id).cmp(&(b.queue_priority, &b.queued_at, b.id))
    });
    items
}

/// The lanes a claim reads: all, or the ones named (each 0 to 3, at least one).
fn lanes_of(lanes: Option<&[i64]>) -> Result<Vec<u8>> {
    match lanes {
        None => Ok(LANES.to_vec()),
        Some([]) => Err(Error::invalid_input("lanes", "must name at least one lane")),
        Some(named) => {
            let mut out = Vec::new();
            for (i, &lane) in named.iter().enumerate() {
                let lane = check_lane(&format!("lanes[{i}]"), lane)?;
                if !out.contains(&lane) {
                    out.push(lane);
                }
            }
            Ok(out)
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
        let mut ids = Vec::with_capacity(items.len());
        for chunk in items.chunks(1_000) {
            let rows: Vec<serde_json::Value> = chunk
                .iter()
                .map(|item| {
                    let id = Uuid::now_v7();
                    ids.push(id);
                    item.row(id)
                })
                .collect();
            let binds = Binds(vec![Bind::Text(Some(
                serde_json::Value::from(rows).to_string(),
            ))]);
            crate::store::bind::execute(pool, &statement, binds).await?;
        }
        if let Pool::Postgres(pg) = pool {
            // Idle workers listening on the channel claim at once instead of at their next poll.
            sqlx::query("SELECT pg_notify($1, '')")
                .bind(WAKE_CHANNEL)
                .execute(pg)
                .await?;
        }
        Ok(ids)
    }

    /// Leases up to `n` (1 to 1,000) waiting items of `lanes` (all when `None`) to `worker`,
    /// by lane after aging, then by age; each claim writes `processing_started_at`, adds one
    /// to `processing_attempts` and raises the lease token. The org and global caps of the
    /// options hold across every worker.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `worker` (empty or over 200 characters), `n` or `lanes` (a
    /// lane outside 0 to 3, or none); storage errors.
    pub async fn claim(
        &self,
        worker: &str,
        n: u32,
        lanes: Option<&[i64]>,
    ) -> Result<Vec<QueueItem>> {
        let lanes = Self::claim_check(worker, n, lanes)?;
        self.claim_checked(worker, n, &lanes).await
    }

    /// [`Queue::claim`] of arguments [`Queue::claim_check`] passed (`lanes` as it returned).
    pub(super) async fn claim_checked(
        &self,
        worker: &str,
        n: u32,
        lanes: &[u8],
    ) -> Result<Vec<QueueItem>> {
        let pool = self.keel.pool()?;
        let statement = self.claim_statement(Dialect::of(pool), lanes);
        let statement = statement.replace("{cols}", &columns(Dialect::of(pool)));
        let binds = || self.claim_binds(worker, n, Vec::new());
        let rows: Vec<ItemRow> = if !self.capped() {
            on_pool!(pool, |conn, sql| {
                {
                    let text = sql(&statement);
                    bind_all!(sqlx::query_as::<_, ItemRow>(&text), binds())
                        .fetch_all(conn)
                        .await?
                }
            })
        } else {
            // Caps read the in-flight counts: claims take turns so that the counts are exact.
            in_transaction!(pool, Some("keel.queue.claim"), |tx, sql| {
                {
                    let text = sql(&statement);
                    bind_all!(sqlx::query_as::<_, ItemRow>(&text), binds())
                        .fetch_all(&mut *tx)
                        .await?
                }
            })
        };
        Ok(in_claim_order(rows))
    }

    /// The plan PostgreSQL (or SQLite) would run a claim of `n` items with, as its `EXPLAIN`
    /// prints it (nothing is claimed): what shows that a claim reads each lane through the
    /// partial index however deep the backlog.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `n`; storage errors.
    pub async fn explain_claim(&self, n: u32) -> Result<String> {
        let lanes = Self::claim_check("explain", n, None)?;
        let pool = self.keel.pool()?;
        let d = Dialect::of(pool);
        let statement = self
            .claim_statement(d, &lanes)
            .replace("{cols}", &columns(d));
        let binds = self.claim_binds("explain", n, Vec::new());
        let lines: Vec<String> = match pool {
            Pool::Postgres(pg) => {
                let text = format!("EXPLAIN (COSTS OFF) {statement}");
                bind_all!(sqlx::query_scalar::<_, String>(&text), binds)
                    .fetch_all(pg)
                    .await?
            }
            Pool::Sqlite(lite) => {
                let text = format!("EXPLAIN QUERY PLAN {}", Dialect::SQLITE.spell(&statement));
                let rows: Vec<(i64, i64, i64, String)> = bind_all!(sqlx::query_as(&text), binds)
                    .fetch_all(lite)
                    .await?;
                rows.into_iter().map(|r| r.3).collect()
            }
        };
        Ok(lines.join("\n"))
    }

    /// Checks a claim's arguments; the lanes it reads.
    pub(super) fn claim_check(worker: &str, n: u32, lanes: Option<&[i64]>) -> Result<Vec<u8>> {
        short_name_of("worker", worker)?;
        if !(1..=1_000).contains(&n) {
            return Err(Error::invalid_input("n", "must be 1 to 1000"));
        }
        lanes_of(lanes)
    }

    /// The binds of a claim statement, then `more`.
    pub(super) fn claim_binds(&self, worker: &str, n: u32, more: Vec<Bind>) -> Binds {
        let o = &self.options;
        let mut binds = vec![
            Bind::Text(Some(worker.to_owned())),
            Bind::Int(Some(i64::from(n))),
            Bind::Int(Some(o.lease_ms as i64)),
            Bind::Int(Some(o.aging_ms as i64)),
            Bind::Int(o.org_in_flight.map(i64::from)),
            Bind::Int(o.max_in_flight.map(i64::from)),
        ];
        binds.extend(more);
        Binds(binds)
    }

    /// Whether claims read the in-flight counts (and so take turns).
    pub(super) fn capped(&self) -> bool {
        self.options.org_in_flight.is_some() || self.options.max_in_flight.is_some()
    }

    /// The claim statement over `lanes`: `$1` worker, `$2` n, `$3` lease, `$4` aging, `$5` the
    /// org cap, `$6` the global cap.
    fn claim_statement(&self, d: Dialect, lanes: &[u8]) -> String {
        let (ctes, update) = self.claim_parts(d, lanes);
        format!("WITH {ctes} {update}")
    }

    /// The claim statement's common table expressions (without `WITH`) and its `UPDATE`
    /// (`RETURNING {cols}`), for statements that add to them.
    pub(super) fn claim_parts(&self, d: Dialect, lanes: &[u8]) -> (String, String) {
        let ctes = if self.capped() {
            self.capped_picks(d, lanes)
        } else {
            Self::picks(d, lanes)
        };
        let ids = d.in_rows("id", "SELECT id FROM picked");
        let update = format!(
            "UPDATE command_centre_items SET
                 enrichment_status = 'processing', processing_started_at = now(),
                 processing_attempts = processing_attempts + 1, lease_owner = $1,
                 lease_token = lease_token + 1, lease_expires_at = {lease}, updated_at = now()
             WHERE {ids}
             RETURNING {{cols}}",
            lease = d.now_plus_ms("$3"),
        );
        (ctes, update)
    }

    /// The lane an item waiting since `queued_at` is in after aging (`$4` the aging period).
    fn aged_lane(d: Dialect) -> String {
        let waited = format!("({} - {}) / $4::int8", d.now_ms(), d.epoch_ms("queued_at"));
        format!("{}(0, queue_priority - {waited})", d.greatest())
    }

    /// The uncapped claim's `picked` (the ids to claim). The first `$2` due items of each lane,
    /// read without locks, ranked by aged lane then age, tell how many of the claim's items each
    /// lane gives; then each lane locks that many of its first items that no concurrent claim
    /// holds (`SKIP LOCKED`), and the lanes in order make up what concurrent claims held.
    /// Locking only what is taken leaves the rest to other claimers.
    fn picks(d: Dialect, lanes: &[u8]) -> String {
        let due = |lane: u8, limit: &str, lock: &str| {
            format!(
                "SELECT * FROM (SELECT id, queue_priority, queued_at FROM command_centre_items
                     WHERE enrichment_status = 'pending' AND queue_priority = {lane}
                       AND queued_at <= now()
                     ORDER BY queued_at, id LIMIT {limit} {lock}) AS lane{lane}"
            )
        };
        let peeks: Vec<String> = lanes.iter().map(|&l| due(l, "$2::int8", "")).collect();
        let head = format!(
            "peek AS MATERIALIZED ({}),
             top AS MATERIALIZED (
                 SELECT id, queue_priority FROM peek
                 ORDER BY {}, queued_at, id LIMIT $2::int8)",
            peeks.join(" UNION ALL "),
            Self::aged_lane(d),
        );
        if d != Dialect::POSTGRES {
            // One writer at a time: what the peek ranked first is free to take.
            return format!("{head}, picked AS (SELECT id FROM top)");
        }
        let takes: Vec<String> = lanes
            .iter()
            .map(|&l| {
                let share = format!("(SELECT count(*) FROM top WHERE queue_priority = {l})");
                due(l, &share, d.skip_locked())
            })
            .collect();
        // A lane's share may be held by concurrent claims (the peek cannot see their locks):
        // the rest of the claim comes from the lanes in order.
        format!(
            "{head},
             shares AS MATERIALIZED ({}),
             picked AS (
                 SELECT id FROM shares
                 UNION ALL
                 SELECT id FROM (SELECT id FROM command_centre_items
                     WHERE enrichment_status = 'pending' AND queued_at <= now()
                       AND queue_priority IN ({}) AND id NOT IN (SELECT id FROM shares)
                     ORDER BY queue_priority, queued_at, id
                     LIMIT (SELECT $2::int8 - count(*) FROM shares) {}) AS rest)",
            takes.join(" UNION ALL "),
            lanes
                .iter()
                .map(u8::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            d.skip_locked()
        )
    }

    /// The capped claim's `picked`: as [`Queue::picks`], under the org and global caps read
    /// from the in-flight counts (claims take turns, so every candidate is locked as read).
    fn capped_picks(&self, d: Dialect, lanes: &[u8]) -> String {
        // Under an org cap a lane's first items may all be one org's: read further so that
        // other orgs' items are there to take (an org at its cap is skipped in the scan).
        let window = if self.options.org_in_flight.is_some() {
            "($2::int8 * 4)"
        } else {
            "$2::int8"
        };
        let lane_scans: Vec<String> = lanes
            .iter()
            .map(|lane| {
                format!(
                    "SELECT * FROM (SELECT id, org_id, queue_priority, queued_at
                         FROM command_centre_items
                         WHERE enrichment_status = 'pending' AND queue_priority = {lane}
                           AND queued_at <= now()
                           AND org_id NOT IN (SELECT org_id FROM blocked)
                         ORDER BY queued_at, id LIMIT {window} {}) AS lane{lane}",
                    d.skip_locked()
                )
            })
            .collect();
        format!(
            "in_flight AS MATERIALIZED (
                 SELECT org_id, count(*) AS n FROM command_centre_items
                 WHERE enrichment_status = 'processing' GROUP BY org_id),
             blocked AS MATERIALIZED (
                 SELECT org_id FROM in_flight WHERE $5::int8 IS NOT NULL AND n >= $5::int8),
             candidates AS MATERIALIZED ({scans}),
             ranked AS (
                 SELECT id, org_id, queued_at, {aged} AS lane FROM candidates),
             ordered AS (
                 SELECT r.id, r.lane, r.queued_at,
                        row_number() OVER (PARTITION BY r.org_id ORDER BY r.lane, r.queued_at, r.id)
                            + coalesce(f.n, 0) AS org_k
                 FROM ranked r LEFT JOIN in_flight f ON f.org_id = r.org_id),
             eligible AS (
                 SELECT id, row_number() OVER (ORDER BY lane, queued_at, id) AS k FROM ordered
                 WHERE $5::int8 IS NULL OR org_k <= $5::int8),
             picked AS (
                 SELECT id FROM eligible
                 WHERE k <= $2::int8
                   AND ($6::int8 IS NULL
                        OR k <= $6::int8 - (SELECT coalesce(sum(n), 0) FROM in_flight)))",
            scans = lane_scans.join(" UNION ALL "),
            aged = Self::aged_lane(d),
        )
    }
}

pub(super) use crate::options::short_name as short_name_of;
