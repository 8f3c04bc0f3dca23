//! The atomic claim of the Command Centre queue ([`Queue::claim`]): see [`super::queue`]'s
//! module notes for the ranking; uncapped claims peek each lane without locks and lock only
//! their share, capped ones run under the caps' advisory lock.

use super::item::{LANES, QueueItem, check_lane};
use super::queue::{ItemRow, Queue, columns, short_name_of};
use crate::error::{Error, Result};
use crate::store::bind::{Bind, Binds, bind_all};
use crate::store::{Dialect, Pool, in_transaction, on_pool};

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

/// A claim's size (`$2`) where a `LIMIT` reads it: through a subquery, so that PostgreSQL
/// estimates a claim's plan the same with the size as without it and keeps one generic plan
/// for the prepared statement. Read as a plain parameter, every custom plan looked cheaper than
/// the generic one and each claim was planned again (0.85 ms, a quarter of a claim of 100).
const CLAIM_SIZE: &str = "(SELECT $2::int8)";

impl Queue {
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
        let peeks: Vec<String> = lanes.iter().map(|&l| due(l, CLAIM_SIZE, "")).collect();
        let head = format!(
            "peek AS MATERIALIZED ({}),
             top AS MATERIALIZED (
                 SELECT id, queue_priority FROM peek
                 ORDER BY {}, queued_at, id LIMIT {CLAIM_SIZE})",
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
            format!("({CLAIM_SIZE} * 4)")
        } else {
            CLAIM_SIZE.to_owned()
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
