//! A thread's state besides its messages: the turns, intents, credits and actions a copilot
//! records, the entities it is about, and its history as the original's `loadThreadHistory`
//! returned it. Each change is one statement.

use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::record::{ActiveEntities, MAX_TURNS, Thread, ThreadTurn};
use super::store::{ThreadRow, ThreadStore, count, json, no_thread, thread_columns};
use crate::error::{Error, Result};
use crate::llm::Role;
use crate::store::{Dialect, on_pool, rfc3339};

/// A message of a thread's history (the original's `loadThreadHistory` record).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThreadHistoryItem {
    /// Its seq in the conversation.
    pub seq: u64,
    /// `user` or `assistant`.
    pub role: Role,
    /// The text.
    pub content: String,
    /// Its Slack `ts`.
    pub slack_ts: String,
    /// Who wrote it in Slack.
    pub slack_user: Option<String>,
    /// The intent recorded with it.
    pub intent: Option<String>,
    /// What was kept with it.
    pub metadata: Value,
    /// When it was stored (RFC 3339).
    pub created_at: String,
}

impl ThreadStore {
    /// Records a finished turn in one statement (see [`ThreadTurn`]).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] from [`ThreadTurn::validate`], or on `thread_id`.
    pub async fn record_turn(&self, org: Uuid, thread: Uuid, turn: &ThreadTurn) -> Result<Thread> {
        turn.validate()?;
        let pool = self.keel.pool()?;
        let d = Dialect::of(pool);
        let entry = d.json_object(&[
            ("intent", "$3"),
            ("credits", "$4"),
            ("action", &d.json("$5")),
            ("at", d.now_text()),
        ]);
        let statement = format!(
            "UPDATE slack_copilot_threads SET
                 intents_used = CASE WHEN $3 IS NULL THEN intents_used ELSE {} END,
                 credits_consumed = {},
                 actions_taken = CASE WHEN $5 IS NULL THEN actions_taken ELSE {} END,
                 turns = {}, updated_at = now()
             WHERE id = $1::uuid AND org_id = $2::uuid
             RETURNING {}",
            d.array_push("intents_used", "$3"),
            d.money("credits_consumed + $4::numeric"),
            d.json_push("actions_taken", "$5"),
            d.json_push_capped("turns", &entry, MAX_TURNS),
            thread_columns(d)
        );
        let action = turn.action.as_ref().map(crate::store::storable_json);
        let row: Option<ThreadRow> = on_pool!(pool, |conn, sql| {
            sqlx::query_as(&sql(&statement))
                .bind(thread.to_string())
                .bind(org.to_string())
                .bind(turn.intent.as_deref().map(str::trim))
                .bind(turn.credits)
                .bind(action)
                .fetch_optional(conn)
                .await?
        });
        row.ok_or_else(|| no_thread(thread))?.thread()
    }

    /// Sets the entities the thread is about: the ids given replace the stored ones, the
    /// others stay; `loaded_context` is cleared when an id changes (the original's
    /// `detectContextSwitch`), else replaced when given. One statement.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `thread_id`, or `loaded_context` when not an object.
    pub async fn set_active(
        &self,
        org: Uuid,
        thread: Uuid,
        active: &ActiveEntities,
        loaded_context: Option<&Value>,
    ) -> Result<Thread> {
        if loaded_context.is_some_and(|c| !c.is_object()) {
            return Err(Error::invalid_input("loaded_context", "must be an object"));
        }
        let pool = self.keel.pool()?;
        let d = Dialect::of(pool);
        let columns = ["deal", "contact", "company", "meeting"];
        let switched: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let p = i + 3;
                format!(
                    "(${p} IS NOT NULL AND (active_{c}_id IS NULL OR active_{c}_id <> ${p}::uuid))"
                )
            })
            .collect();
        let sets: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| format!("active_{c}_id = COALESCE(${}::uuid, active_{c}_id)", i + 3))
            .collect();
        let statement = format!(
            "UPDATE slack_copilot_threads SET
                 loaded_context = CASE WHEN {} THEN NULL
                                       ELSE COALESCE({}, loaded_context) END,
                 {}, updated_at = now()
             WHERE id = $1::uuid AND org_id = $2::uuid
             RETURNING {}",
            switched.join(" OR "),
            d.json("$7"),
            sets.join(", "),
            thread_columns(d)
        );
        let ids = [
            active.deal_id,
            active.contact_id,
            active.company_id,
            active.meeting_id,
        ]
        .map(|i| i.map(|u| u.to_string()));
        let loaded = loaded_context.map(crate::store::storable_json);
        let row: Option<ThreadRow> = on_pool!(pool, |conn, sql| {
            let text = sql(&statement);
            let mut q = sqlx::query_as(&text)
                .bind(thread.to_string())
                .bind(org.to_string());
            for i in &ids {
                q = q.bind(i.clone());
            }
            q.bind(loaded.clone()).fetch_optional(conn).await?
        });
        row.ok_or_else(|| no_thread(thread))?.thread()
    }

    /// The newest `limit` messages of the thread (1 to 100), oldest first (the original's
    /// `loadThreadHistory`, default 10).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `limit` or `thread_id`.
    pub async fn history(
        &self,
        org: Uuid,
        thread: Uuid,
        limit: u32,
    ) -> Result<Vec<ThreadHistoryItem>> {
        if !(1..=100).contains(&limit) {
            return Err(Error::invalid_input("limit", "must be 1 to 100"));
        }
        let pool = self.keel.pool()?;
        let d = Dialect::of(pool);
        let statement = format!(
            "SELECT m.seq, s.role, m.content::text, s.slack_ts, s.slack_user, s.intent,
                    s.metadata::text, {}
             FROM slack_copilot_messages s
             JOIN slack_copilot_threads t ON t.id = s.thread_id
             JOIN conversation_messages m
                 ON m.conversation_id = t.conversation_id AND m.seq = s.seq
             WHERE s.thread_id = $1::uuid AND t.org_id = $2::uuid
             ORDER BY s.seq DESC LIMIT $3",
            d.epoch_ms("m.created_at")
        );
        type Row = (
            i64,
            String,
            String,
            String,
            Option<String>,
            Option<String>,
            String,
            i64,
        );
        let rows: Vec<Row> = on_pool!(pool, |conn, sql| {
            sqlx::query_as(&sql(&statement))
                .bind(thread.to_string())
                .bind(org.to_string())
                .bind(i64::from(limit))
                .fetch_all(conn)
                .await?
        });
        if rows.is_empty() {
            self.get(org, thread).await?;
        }
        let mut items = rows
            .into_iter()
            .map(|r| {
                let parts: Vec<crate::llm::Part> = json(&r.2)?;
                Ok(ThreadHistoryItem {
                    seq: count(r.0),
                    role: Role::parse(&r.1)?,
                    content: crate::llm::Message {
                        role: Role::User,
                        content: parts,
                    }
                    .text(),
                    slack_ts: r.3,
                    slack_user: r.4,
                    intent: r.5,
                    metadata: json(&r.6)?,
                    created_at: rfc3339(r.7),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        items.reverse();
        Ok(items)
    }
}
