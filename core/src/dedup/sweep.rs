//! The daily sweep ([`Dedup::sweep`]): closes the merge windows that have passed, drops the
//! bands of primaries no longer open, and checks every pending item no stage has checked, a
//! page at a time (the original's sweep loaded everything at once, let NULL scores win and
//! lost merges to last-write-wins; it also never ran).

use std::collections::BTreeSet;

use serde::Serialize;
use uuid::Uuid;

use super::minhash::MinHash;
use super::store::{Dedup, Verdict};
use crate::error::Result;
use crate::store::{Dialect, in_transaction, on_pool};

/// The items a sweep checks per page.
pub const SWEEP_PAGE: i64 = 500;

/// What a sweep did (or, dry, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DedupSweep {
    /// Whether nothing was written.
    pub dry_run: bool,
    /// Merge windows closed (dry: that have passed).
    pub windows_closed: u64,
    /// Pending items checked (dry: waiting for a check).
    pub checked: u64,
    /// Items merged or superseded into a group.
    pub suppressed: u64,
    /// Distinct groups that absorbed an item.
    pub groups_merged: u64,
    /// Items that became primaries.
    pub primaries: u64,
    /// Open primaries whose stored signature was missing or of another signature version,
    /// signed again from their text (dry: that need it).
    pub resigned: u64,
}

impl Dedup {
    /// Sweeps `org` (every org when `None`): see the module. `progress` hears (done, total)
    /// after each page. Idempotent: a second sweep finds nothing to do.
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] on an `org` that is not a UUID; storage errors.
    pub async fn sweep(
        &self,
        org: Option<&str>,
        dry_run: bool,
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<DedupSweep> {
        let org = org
            .map(|o| crate::options::require_uuid("org", o).map(|u| u.to_string()))
            .transpose()?;
        let pool = self.keel().pool()?;
        let d = Dialect::of(pool);
        let of_org = "($1 IS NULL OR org_id = ($1)::uuid)";
        let expired = format!(
            "dedup_open AND {} AND {of_org}",
            d.is_past("merge_window_expires")
        );
        let waiting =
            format!("merge_group_id IS NULL AND enrichment_status = 'pending' AND {of_org}");
        let count_expired = d.spell(&format!(
            "SELECT count(*) FROM command_centre_items WHERE {expired}"
        ));
        let close = d.spell(&format!(
            "UPDATE command_centre_items SET dedup_open = false WHERE {expired}"
        ));
        let drop_bands = d.spell(
            "DELETE FROM dedup_bands WHERE item_id IN
                 (SELECT id FROM command_centre_items WHERE NOT dedup_open AND merge_group_id IS NOT NULL)",
        );
        let count_waiting = d.spell(&format!(
            "SELECT count(*) FROM command_centre_items WHERE {waiting}"
        ));
        // Keyset pages by id (Keel's ids are UUIDv7, so this is arrival order).
        let page = d.spell(&format!(
            "SELECT id::text FROM command_centre_items
             WHERE {waiting} AND id > ($2)::uuid ORDER BY id LIMIT $3"
        ));
        let mut report = DedupSweep {
            dry_run,
            ..DedupSweep::default()
        };
        let (expired_n, total): (i64, i64) = on_pool!(pool, |conn, _sql| {
            let (e,): (i64,) = sqlx::query_as(&count_expired)
                .bind(&org)
                .fetch_one(conn)
                .await?;
            let (t,): (i64,) = sqlx::query_as(&count_waiting)
                .bind(&org)
                .fetch_one(conn)
                .await?;
            (e, t)
        });
        report.windows_closed = u64::try_from(expired_n).unwrap_or(0);
        let total = u64::try_from(total).unwrap_or(0);
        report.resigned = self.resign(org.as_deref(), dry_run).await?;
        if dry_run {
            report.checked = total;
            progress(0, total);
            return Ok(report);
        }
        let closed = on_pool!(pool, |conn, _sql| {
            let closed = sqlx::query(&close)
                .bind(&org)
                .execute(conn)
                .await?
                .rows_affected();
            sqlx::query(&drop_bands).execute(conn).await?;
            closed
        });
        report.windows_closed = closed;
        let mut groups = BTreeSet::new();
        let mut after = Uuid::nil().to_string();
        progress(0, total);
        loop {
            let rows: Vec<(String,)> = on_pool!(pool, |conn, _sql| {
                sqlx::query_as(&page)
                    .bind(&org)
                    .bind(&after)
                    .bind(SWEEP_PAGE)
                    .fetch_all(conn)
                    .await?
            });
            let Some(last) = rows.last() else { break };
            after = last.0.clone();
            for (id,) in &rows {
                let Ok(id) = Uuid::try_parse(id) else {
                    continue;
                };
                let checked = self.check(id, None).await?;
                report.checked += 1;
                match checked.verdict {
                    Verdict::Primary => report.primaries += 1,
                    Verdict::InFlight => {}
                    _ => {
                        report.suppressed += 1;
                        groups.extend(checked.primary_id);
                    }
                }
            }
            progress(report.checked.min(total), total.max(report.checked));
        }
        report.groups_merged = groups.len() as u64;
        Ok(report)
    }

    /// Signs again the open primaries (of `org`) whose stored signature is missing or was
    /// made by another signature version, so a change of hashing migrates stored signatures
    /// instead of stranding them; their bands are replaced in the same transaction. How many.
    async fn resign(&self, org: Option<&str>, dry_run: bool) -> Result<u64> {
        if !self.options().near_duplicates {
            return Ok(0);
        }
        let pool = self.keel().pool()?;
        let d = Dialect::of(pool);
        let page = d.spell(
            "SELECT id::text, org_id::text, title, summary, minhash FROM command_centre_items
             WHERE dedup_open AND ($1 IS NULL OR org_id = ($1)::uuid) AND id > ($2)::uuid
             ORDER BY id LIMIT $3",
        );
        let set = d.spell("UPDATE command_centre_items SET minhash = $2 WHERE id = ($1)::uuid");
        let drop = d.spell("DELETE FROM dedup_bands WHERE item_id = ($1)::uuid");
        let bands = &self.statements().bands;
        type Row = (String, String, String, Option<String>, Option<Vec<u8>>);
        let (mut after, mut resigned) = (Uuid::nil().to_string(), 0);
        loop {
            let rows: Vec<Row> = on_pool!(pool, |conn, _sql| {
                sqlx::query_as(&page)
                    .bind(org)
                    .bind(&after)
                    .bind(SWEEP_PAGE)
                    .fetch_all(conn)
                    .await?
            });
            let Some(last) = rows.last() else { break };
            after = last.0.clone();
            for (id, org_id, title, summary, stored) in rows {
                if stored
                    .as_deref()
                    .is_some_and(|b| MinHash::from_bytes(b).is_ok())
                {
                    continue;
                }
                resigned += 1;
                let Some(sig) = self.signature(&title, summary.as_deref()) else {
                    continue;
                };
                if dry_run {
                    continue;
                }
                let pairs = self.band_pairs(Some(&sig))?;
                in_transaction!(pool, None::<&str>, |tx, _sql| {
                    sqlx::query(&set)
                        .bind(&id)
                        .bind(sig.to_bytes())
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(&drop).bind(&id).execute(&mut *tx).await?;
                    sqlx::query(bands)
                        .bind(&org_id)
                        .bind(&id)
                        .bind(&pairs)
                        .execute(&mut *tx)
                        .await?;
                });
            }
        }
        Ok(resigned)
    }
}
