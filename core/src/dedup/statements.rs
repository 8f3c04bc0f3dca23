//! Dedup's statements in one backend's spelling, made once per [`super::Dedup`].

use crate::store::Dialect;

/// The statements of a check, a score and the counters.
pub(super) struct Statements {
    /// The item a check reads, locked.
    pub(super) item: String,
    /// Closes the passed windows of key `$2` in org `$1`.
    pub(super) close: String,
    /// The open primary of key `$2` in org `$1`, else the open item `$3`, locked.
    pub(super) primary: String,
    /// The open items of org `$1` other than `$2` sharing a band of `$3`, with signatures.
    pub(super) near: String,
    /// Writes a primary's merged group.
    pub(super) merge: String,
    /// Archives an item into group `$3`, resolved by channel `$4`.
    pub(super) absorb: String,
    /// Makes an item its key's open primary, its group seeded, its signature stored.
    pub(super) become_primary: String,
    /// Stores an item's bands `$3` in org `$1`.
    pub(super) bands: String,
    /// Adds `$3` to counter `$2` of org `$1`.
    pub(super) count: String,
    /// The org of item `$1`.
    pub(super) org_of: String,
    /// Sets item `$1`'s score, returning its group.
    pub(super) score: String,
    /// The scores of group `$1`'s members.
    pub(super) scores: String,
    /// The status of group `$1`'s primary, locked.
    pub(super) primary_status: String,
    /// Sets group `$1`'s confidence `$2`, a `ready` primary approved at `$3`.
    pub(super) approve: String,
}

impl Statements {
    /// The statements in `d`'s spelling.
    pub(super) fn new(d: Dialect) -> Statements {
        let group_cols = format!(
            "id::text AS id, status, {} AS merged_confidence, {} AS contributing_agents, \
             merged_evidence::text AS merged_evidence, {} AS merged_from, queue_priority::int8 AS queue_priority",
            d.float("merged_confidence"),
            d.array_json("contributing_agents"),
            d.array_json("merged_from"),
        );
        let lock = d.for_update();
        Statements {
            item: d.spell(&format!(
                "SELECT org_id::text AS org_id, user_id::text AS user_id, source_agent, item_type, title,
                        summary, context::text AS context, deal_id::text AS deal_id,
                        contact_id::text AS contact_id, {} AS confidence_score, enrichment_status,
                        lease_token, merge_group_id::text AS merge_group_id, is_primary, resolution_channel,
                        queue_priority::int8 AS queue_priority
                 FROM command_centre_items WHERE id = ($1)::uuid {lock}",
                d.float("confidence_score")
            )),
            close: d.spell(&format!(
                "UPDATE command_centre_items SET dedup_open = false
                 WHERE org_id = ($1)::uuid AND dedup_key = $2 AND dedup_open AND {}",
                d.is_past("merge_window_expires")
            )),
            primary: d.spell(&format!(
                "SELECT {group_cols} FROM command_centre_items
                 WHERE org_id = ($1)::uuid AND (dedup_key = $2 OR id = ($3)::uuid) AND dedup_open
                 ORDER BY (dedup_key = $2) DESC LIMIT 1 {lock}"
            )),
            near: d.spell(&format!(
                "SELECT DISTINCT i.id::text AS id, i.minhash FROM dedup_bands b
                 JOIN command_centre_items i ON i.id = b.item_id
                 WHERE b.org_id = ($1)::uuid AND i.dedup_open AND i.id <> ($2)::uuid
                   AND i.minhash IS NOT NULL
                   AND (b.band_no, b.band_hash) IN
                       (SELECT CAST(a AS BIGINT), CAST(b AS BIGINT) FROM ({}) AS p)",
                d.json_pairs("$3")
            )),
            merge: d.spell(&format!(
                "UPDATE command_centre_items SET merged_confidence = ($2)::numeric,
                        contributing_agents = {}, merged_evidence = {}, merged_from = {},
                        queue_priority = ($6)::int8
                 WHERE id = ($1)::uuid",
                d.json_array("$3", "text"),
                d.json("$4"),
                d.json_array("$5", "uuid"),
            )),
            absorb: d.spell(
                "UPDATE command_centre_items SET dedup_key = $2, is_primary = false,
                        dedup_open = false, merge_group_id = ($3)::uuid, status = 'auto_resolved',
                        enrichment_status = 'skipped', resolution_channel = $4, resolved_at = now(),
                        confidence_score = COALESCE(confidence_score, ($5)::numeric),
                        lease_owner = NULL, lease_expires_at = NULL
                 WHERE id = ($1)::uuid",
            ),
            become_primary: d.spell(&format!(
                "UPDATE command_centre_items SET dedup_key = $2, is_primary = true, dedup_open = true,
                        merge_group_id = ($1)::uuid, merge_window_expires = {},
                        merged_confidence = ($4)::numeric, contributing_agents = {},
                        merged_evidence = {}, minhash = $7
                 WHERE id = ($1)::uuid",
                d.now_plus_ms("($3)::int8"),
                d.json_array("$5", "text"),
                d.json("$6"),
            )),
            bands: d.spell(&format!(
                "INSERT INTO dedup_bands (org_id, band_no, band_hash, item_id)
                 SELECT ($1)::uuid, CAST(a AS BIGINT), CAST(b AS BIGINT), ($2)::uuid FROM ({}) AS p
                 WHERE true ON CONFLICT DO NOTHING",
                d.json_pairs("$3")
            )),
            count: d.spell(
                "INSERT INTO dedup_counts (org_id, counter, n) VALUES (($1)::uuid, $2, $3)
                 ON CONFLICT (org_id, counter) DO UPDATE SET n = dedup_counts.n + excluded.n",
            ),
            org_of: d.spell("SELECT org_id::text FROM command_centre_items WHERE id = ($1)::uuid"),
            score: d.spell(
                "UPDATE command_centre_items SET confidence_score = ($2)::numeric
                 WHERE id = ($1)::uuid RETURNING merge_group_id::text",
            ),
            scores: d.spell(&format!(
                "SELECT {} FROM command_centre_items
                 WHERE merge_group_id = ($1)::uuid AND confidence_score IS NOT NULL",
                d.float("confidence_score")
            )),
            primary_status: d.spell(&format!(
                "SELECT status FROM command_centre_items WHERE id = ($1)::uuid AND is_primary {lock}"
            )),
            approve: d.spell(
                "UPDATE command_centre_items SET merged_confidence = ($2)::numeric,
                        status = CASE WHEN status = 'ready' AND $2 >= $3 THEN 'approved' ELSE status END
                 WHERE id = ($1)::uuid RETURNING status",
            ),
        }
    }
}
