//! `conversation_context` on both backends: upserts keyed by (user, channel, channel
//! reference, entity), the cross-channel read, forgetting an entity, and archiving.
//!
//! The read takes the user's 20 newest live rows and up to 20 whose entity name is one the
//! message names (each through its own index: `(org, user, last_updated)` and
//! `(org, user, lower(entity_name), last_updated)`), so an older row about the deal asked about
//! is found among thousands in under a millisecond; [`prior_context`] scores and formats them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, json};
use uuid::Uuid;

use super::context::{
    CONTEXT_ROWS_READ, ContextEntry, EntityType, PriorContext, entity_terms, prior_context,
};
use super::conversation::ConversationChannel;
use super::store::{ConversationStore, rfc3339, stored_id};
use crate::error::{Error, Result};
use crate::store::{Dialect, on_pool};

/// A row as read from the store: channel, channel ref, entity type, entity id, summary, org,
/// entity name, agent name, last updated in epoch milliseconds, the database's now.
type ContextRow = (
    String,
    Option<String>,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    i64,
    i64,
);

/// The entry of a stored row.
fn entry(user_id: Uuid, r: ContextRow) -> Result<ContextEntry> {
    Ok(ContextEntry {
        org_id: stored_id(&r.5)?,
        user_id,
        channel: ConversationChannel::from_context_name(&r.0)?,
        channel_ref: r.1,
        entity_type: EntityType::parse(&r.2)?,
        entity_id: stored_id(&r.3)?,
        summary: r.4,
        entity_name: r.6,
        agent_name: r.7,
        last_updated: rfc3339(r.8),
    })
}

/// Where the caller is asking from, so its own conversation is not read back as context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AskingFrom {
    /// The channel.
    pub channel: ConversationChannel,
    /// Its reference (a Slack thread's `team/channel/ts`, a web conversation's id).
    pub channel_ref: Option<String>,
}

/// What [`ConversationStore::forget_context`] removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Forgotten {
    /// The entity.
    pub entity_type: EntityType,
    /// Which one.
    pub entity_id: Uuid,
    /// Rows removed, across channels.
    pub removed: u64,
}

impl ConversationStore {
    /// Writes what `entry.user_id` discussed about an entity in a channel: one row per (user,
    /// channel, channel reference, entity), its summary, name and agent replaced and its time
    /// moved on each write, and brought back if it was archived. An agent's row is keyed by
    /// the agent's name when no reference is given ([`ContextEntry::key_ref`]).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] from [`ContextEntry::validate`], or on `org_id` when the key is
    /// another org's; storage errors.
    pub async fn upsert_context(&self, entry: &ContextEntry) -> Result<ContextEntry> {
        entry.validate()?;
        let pool = self.keel.pool()?;
        let dialect = Dialect::of(pool);
        let target = dialect.nulls_not_distinct("channel_ref");
        let statement = format!(
            "INSERT INTO conversation_context (id, user_id, org_id, channel, channel_ref,
                 entity_type, entity_id, context_summary, entity_name, agent_name)
             VALUES ($1::uuid, $2::uuid, $3::uuid, $4, $5, $6, $7::uuid, $8, $9, $10)
             ON CONFLICT (user_id, channel, {target}, entity_type, entity_id)
             DO UPDATE SET context_summary = excluded.context_summary, last_updated = now(),
                 entity_name = COALESCE(excluded.entity_name, conversation_context.entity_name),
                 agent_name = excluded.agent_name, archived_at = NULL
             WHERE conversation_context.org_id = excluded.org_id
             RETURNING {}",
            dialect.epoch_ms("last_updated")
        );
        let channel_ref = entry.key_ref();
        let trim = |s: &Option<String>| s.as_deref().map(|s| s.trim().to_owned());
        let row: Option<(i64,)> = on_pool!(pool, |conn, sql| {
            sqlx::query_as(&sql(&statement))
                .bind(Uuid::now_v7().to_string())
                .bind(entry.user_id.to_string())
                .bind(entry.org_id.to_string())
                .bind(entry.channel.context_name())
                .bind(&channel_ref)
                .bind(entry.entity_type.as_str())
                .bind(entry.entity_id.to_string())
                .bind(entry.summary.trim())
                .bind(trim(&entry.entity_name))
                .bind(trim(&entry.agent_name))
                .fetch_optional(conn)
                .await?
        });
        let (at,) = row.ok_or_else(|| {
            Error::invalid_input(
                "org_id",
                "this user's context for the entity is another org's",
            )
        })?;
        Ok(ContextEntry {
            channel_ref,
            summary: entry.summary.trim().to_owned(),
            entity_name: trim(&entry.entity_name),
            agent_name: trim(&entry.agent_name),
            last_updated: rfc3339(at),
            ..entry.clone()
        })
    }

    /// The context carried into `message` for `user` of `org`, across web, Slack and agent
    /// runs (see the module docs), scored and formatted by [`prior_context`] at the
    /// database's time; rows of the conversation the user is `asking_from` are left out.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn context_for_user(
        &self,
        org: Uuid,
        user: Uuid,
        message: &str,
        asking_from: Option<&AskingFrom>,
    ) -> Result<PriorContext> {
        let pool = self.keel.pool()?;
        let dialect = Dialect::of(pool);
        let live = "org_id = $1::uuid AND user_id = $2::uuid AND archived_at IS NULL";
        let statement = format!(
            "SELECT channel, channel_ref, entity_type, entity_id::text, context_summary,
                    org_id::text, entity_name, agent_name, {}, {}
             FROM conversation_context
             WHERE id IN (
                 SELECT id FROM (SELECT id FROM conversation_context WHERE {live}
                                 ORDER BY last_updated DESC LIMIT $3) AS newest
                 UNION
                 SELECT id FROM (SELECT id FROM conversation_context
                                 WHERE {live} AND entity_name IS NOT NULL AND {}
                                 LIMIT $3) AS named)
             ORDER BY last_updated DESC LIMIT $4",
            dialect.epoch_ms("last_updated"),
            dialect.now_ms(),
            dialect.in_rows("lower(entity_name)", &dialect.json_strings("$5"))
        );
        let names: Vec<String> = entity_terms(message)
            .iter()
            .map(|t| t.to_lowercase())
            .collect();
        let names = serde_json::to_string(&names).unwrap_or_else(|_| "[]".into());
        let rows: Vec<ContextRow> = on_pool!(pool, |conn, sql| {
            sqlx::query_as(&sql(&statement))
                .bind(org.to_string())
                .bind(user.to_string())
                .bind(i64::from(CONTEXT_ROWS_READ))
                .bind(i64::from(CONTEXT_ROWS_READ) * 2)
                .bind(&names)
                .fetch_all(conn)
                .await?
        });
        let now = rows
            .first()
            .and_then(|r| DateTime::from_timestamp_millis(r.9))
            .unwrap_or_else(Utc::now);
        let own = |e: &ContextEntry| {
            asking_from.is_some_and(|a| {
                a.channel == e.channel && a.channel_ref.is_some() && a.channel_ref == e.channel_ref
            })
        };
        let mut entries = Vec::with_capacity(rows.len());
        for row in rows {
            let e = entry(user, row)?;
            if !own(&e) {
                entries.push(e);
            }
        }
        Ok(prior_context(message, &entries, now))
    }

    /// [`ConversationStore::context_for_user`] from no particular conversation.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn prior_context(
        &self,
        org: Uuid,
        user: Uuid,
        message: &str,
    ) -> Result<PriorContext> {
        self.context_for_user(org, user, message, None).await
    }

    /// Forgets what `user` of `org` discussed about one entity, in every channel: its rows
    /// are deleted (not archived), and the removal is logged (`memory.context_forget`, with
    /// the entity and the count, never the summaries).
    ///
    /// # Errors
    /// Storage errors.
    pub async fn forget_context(
        &self,
        org: Uuid,
        user: Uuid,
        entity_type: EntityType,
        entity_id: Uuid,
    ) -> Result<Forgotten> {
        let pool = self.keel.pool()?;
        let statement = "DELETE FROM conversation_context WHERE org_id = $1::uuid
             AND user_id = $2::uuid AND entity_type = $3 AND entity_id = $4::uuid";
        let removed = on_pool!(pool, |conn, sql| {
            sqlx::query(&sql(statement))
                .bind(org.to_string())
                .bind(user.to_string())
                .bind(entity_type.as_str())
                .bind(entity_id.to_string())
                .execute(conn)
                .await?
                .rows_affected()
        });
        let (logger, span) = self.span(org, None, "memory.context_forget", "update_memory", None);
        logger.info(
            "memory.context_forget",
            Map::from_iter([
                ("user_id".into(), json!(user)),
                ("entity_type".into(), json!(entity_type)),
                ("entity_id".into(), json!(entity_id)),
                ("removed".into(), json!(removed)),
            ]),
        );
        span.stop(Map::from_iter([("removed".into(), json!(removed))]));
        Ok(Forgotten {
            entity_type,
            entity_id,
            removed,
        })
    }

    /// Archives context rows untouched for `max_age_days` (the original deleted them after
    /// 14 days), `batch_size` rows a statement; the rows archived. PostgreSQL also has
    /// `keel.archive_conversation_context()` for pg_cron.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `max_age_days` or `batch_size` when 0; storage errors.
    pub async fn archive_context(&self, max_age_days: u32, batch_size: u32) -> Result<u64> {
        if max_age_days == 0 {
            return Err(Error::invalid_input("max_age_days", "must be at least 1"));
        }
        if batch_size == 0 {
            return Err(Error::invalid_input("batch_size", "must be at least 1"));
        }
        let pool = self.keel.pool()?;
        let dialect = Dialect::of(pool);
        let statement = format!(
            "UPDATE conversation_context SET archived_at = now() WHERE id IN (
                 SELECT id FROM conversation_context
                 WHERE archived_at IS NULL AND {}
                 LIMIT $2 {})",
            dialect.older_than_ms("last_updated", "$1"),
            dialect.skip_locked()
        );
        let age_ms = i64::from(max_age_days) * 86_400_000;
        let mut archived = 0u64;
        loop {
            let n = on_pool!(pool, |conn, sql| {
                sqlx::query(&sql(&statement))
                    .bind(age_ms)
                    .bind(i64::from(batch_size))
                    .execute(conn)
                    .await?
                    .rows_affected()
            });
            archived += n;
            if n < u64::from(batch_size) {
                return Ok(archived);
            }
        }
    }
}
