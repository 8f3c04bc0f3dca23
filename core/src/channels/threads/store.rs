//! The thread tables, `slack_copilot_threads` and `slack_copilot_messages`, on both backends.
//!
//! A thread is found or created by one transaction: its conversation is opened (an upsert on
//! the conversation key), then the thread is inserted with `ON CONFLICT (org, team, channel,
//! ts) DO UPDATE … RETURNING`, so concurrent first messages all get the one thread. Adding
//! messages is one transaction that locks the thread's conversation row (conversations are
//! always locked before threads, so the two never deadlock), skips the `ts` it already has,
//! appends the rest to the conversation (seqs handed out by its `UPDATE … RETURNING`), and
//! moves the thread's count and extraction due time in one `UPDATE`.

use serde_json::{Value, json};
use uuid::Uuid;

use super::record::{
    ActiveEntities, MAX_THREAD_BATCH, Thread, ThreadAppend, ThreadKey, ThreadMessage, ThreadOptions,
};
use crate::Keel;
use crate::error::{Error, Result};
use crate::llm::{Message, Role};
use crate::memory::{ConversationStore, check_batch, count_tokens};
use crate::store::{Dialect, in_transaction, on_pool, rfc3339};

/// Slack copilot threads on the handle's database.
#[derive(Debug, Clone)]
pub struct ThreadStore {
    pub(super) keel: Keel,
    pub(super) options: ThreadOptions,
    pub(super) conversations: ConversationStore,
}

/// A thread row as read (see [`thread_columns`]).
#[derive(Debug, sqlx::FromRow)]
pub(super) struct ThreadRow {
    id: String,
    org_id: String,
    user_id: String,
    slack_team_id: String,
    slack_channel_id: String,
    slack_thread_ts: String,
    conversation_id: String,
    title: Option<String>,
    message_count: i64,
    last_message_at: i64,
    context: String,
    active_deal_id: Option<String>,
    active_contact_id: Option<String>,
    active_company_id: Option<String>,
    active_meeting_id: Option<String>,
    loaded_context: Option<String>,
    turns: String,
    intents_used: String,
    credits_consumed: f64,
    actions_taken: String,
    extracted_through: i64,
    extracted_at: Option<i64>,
    extraction_due_at: Option<i64>,
    extraction_attempts: i64,
    extraction_error: Option<String>,
    created_at: i64,
    updated_at: i64,
}

/// The columns of a [`ThreadRow`].
pub(super) fn thread_columns(dialect: Dialect) -> String {
    let ms = |c: &str| format!("{} AS {c}", dialect.epoch_ms(c));
    format!(
        "id::text AS id, org_id::text AS org_id, user_id::text AS user_id, slack_team_id,
         slack_channel_id, slack_thread_ts, conversation_id::text AS conversation_id, title,
         message_count::int8 AS message_count, {}, context::text AS context,
         active_deal_id::text AS active_deal_id, active_contact_id::text AS active_contact_id,
         active_company_id::text AS active_company_id,
         active_meeting_id::text AS active_meeting_id, loaded_context::text AS loaded_context,
         turns::text AS turns, {} AS intents_used, {} AS credits_consumed,
         actions_taken::text AS actions_taken, extracted_through, {}, {},
         extraction_attempts::int8 AS extraction_attempts, extraction_error, {}, {}",
        ms("last_message_at"),
        dialect.array_json("intents_used"),
        dialect.float("credits_consumed"),
        ms("extracted_at"),
        ms("extraction_due_at"),
        ms("created_at"),
        ms("updated_at"),
    )
}

fn id(text: &str) -> Result<Uuid> {
    Uuid::parse_str(text).map_err(|e| Error::Internal(format!("a stored id: {e}")))
}

fn opt_id(text: Option<String>) -> Result<Option<Uuid>> {
    text.as_deref().map(id).transpose()
}

pub(super) fn json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::Internal(format!("a stored thread: {e}")))
}

pub(super) fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl ThreadRow {
    pub(super) fn thread(self) -> Result<Thread> {
        Ok(Thread {
            id: id(&self.id)?,
            org_id: id(&self.org_id)?,
            user_id: id(&self.user_id)?,
            slack_team_id: self.slack_team_id,
            slack_channel_id: self.slack_channel_id,
            slack_thread_ts: self.slack_thread_ts,
            conversation_id: id(&self.conversation_id)?,
            title: self.title,
            message_count: count(self.message_count),
            last_message_at: rfc3339(self.last_message_at),
            context: json(&self.context)?,
            active: ActiveEntities {
                deal_id: opt_id(self.active_deal_id)?,
                contact_id: opt_id(self.active_contact_id)?,
                company_id: opt_id(self.active_company_id)?,
                meeting_id: opt_id(self.active_meeting_id)?,
            },
            loaded_context: self.loaded_context.as_deref().map(json).transpose()?,
            turns: json(&self.turns)?,
            intents_used: json(&self.intents_used)?,
            credits_consumed: self.credits_consumed,
            actions_taken: json(&self.actions_taken)?,
            extracted_through: count(self.extracted_through),
            extracted_at: self.extracted_at.map(rfc3339),
            extraction_due_at: self.extraction_due_at.map(rfc3339),
            extraction_attempts: u32::try_from(self.extraction_attempts).unwrap_or(0),
            extraction_error: self.extraction_error,
            created_at: rfc3339(self.created_at),
            updated_at: rfc3339(self.updated_at),
        })
    }
}

/// `thread_id` names no thread of the org.
pub(super) fn no_thread(thread: Uuid) -> Error {
    Error::invalid_input("thread_id", format!("no thread {thread} in this org"))
}

/// A Slack `ts` as a sortable pair (seconds, fraction); not a timestamp sorts last.
fn ts_order(ts: &str) -> (u64, u64) {
    let (secs, frac) = ts.split_once('.').unwrap_or((ts, "0"));
    (
        secs.parse().unwrap_or(u64::MAX),
        frac.parse().unwrap_or(u64::MAX),
    )
}

impl ThreadStore {
    /// The store on `keel`'s database, deciding extraction's due time by `options`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] from [`ThreadOptions::validate`].
    pub fn open(keel: &Keel, options: ThreadOptions) -> Result<Self> {
        options.validate()?;
        Ok(Self {
            keel: keel.clone(),
            options,
            conversations: ConversationStore::open(keel),
        })
    }

    /// The conversation store threads keep their transcripts in.
    pub fn conversations(&self) -> &ConversationStore {
        &self.conversations
    }

    /// The thread of `key`: found by one read, or created with its conversation for the first
    /// message (see the module docs); a title given replaces the stored one.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] from [`ThreadKey::validate`]; storage errors.
    pub async fn get_or_create(&self, key: &ThreadKey) -> Result<Thread> {
        key.validate()?;
        let pool = self.keel.pool()?;
        let dialect = Dialect::of(pool);
        // Most calls find the thread: one read, no write (a title to set takes the upsert).
        if key.title.is_none() {
            let find = format!(
                "SELECT {} FROM slack_copilot_threads WHERE org_id = $1::uuid
                     AND slack_team_id = $2 AND slack_channel_id = $3 AND slack_thread_ts = $4",
                thread_columns(dialect)
            );
            let found: Option<ThreadRow> = on_pool!(pool, |conn, sql| {
                sqlx::query_as(&sql(&find))
                    .bind(key.org_id.to_string())
                    .bind(&key.slack_team_id)
                    .bind(&key.slack_channel_id)
                    .bind(&key.slack_thread_ts)
                    .fetch_optional(conn)
                    .await?
            });
            if let Some(row) = found {
                return row.thread();
            }
        }
        let conversation =
            "INSERT INTO conversations (id, org_id, user_id, channel, channel_ref, title)
             VALUES ($1::uuid, $2::uuid, $3, 'slack', $4, $5)
             ON CONFLICT (org_id, user_id, channel, channel_ref)
             DO UPDATE SET title = COALESCE(excluded.title, conversations.title)
             RETURNING id::text";
        let thread = format!(
            "INSERT INTO slack_copilot_threads (id, org_id, user_id, slack_team_id,
                 slack_channel_id, slack_thread_ts, conversation_id, title)
             VALUES ($1::uuid, $2::uuid, $3::uuid, $4, $5, $6, $7::uuid, $8)
             ON CONFLICT (org_id, slack_team_id, slack_channel_id, slack_thread_ts)
             DO UPDATE SET title = COALESCE(excluded.title, slack_copilot_threads.title)
             RETURNING {}",
            thread_columns(dialect)
        );
        // A conversation opened by a caller that lost the race to another user: no messages,
        // no thread; removed in the same transaction.
        let orphan = "DELETE FROM conversations WHERE id = $1::uuid AND message_count = 0
             AND NOT EXISTS (SELECT 1 FROM slack_copilot_threads t
                             WHERE t.conversation_id = conversations.id)";
        let title = key
            .title
            .as_deref()
            .map(|t| crate::store::storable_text(t.trim()));
        let row: ThreadRow = in_transaction!(pool, None::<&str>, |tx, sql| {
            let (conversation_id,): (String,) = sqlx::query_as(&sql(conversation))
                .bind(Uuid::now_v7().to_string())
                .bind(key.org_id.to_string())
                .bind(key.user_id.to_string())
                .bind(key.channel_ref())
                .bind(title.clone())
                .fetch_one(&mut *tx)
                .await?;
            let row: ThreadRow = sqlx::query_as(&sql(&thread))
                .bind(Uuid::now_v7().to_string())
                .bind(key.org_id.to_string())
                .bind(key.user_id.to_string())
                .bind(&key.slack_team_id)
                .bind(&key.slack_channel_id)
                .bind(&key.slack_thread_ts)
                .bind(&conversation_id)
                .bind(title.clone())
                .fetch_one(&mut *tx)
                .await?;
            if row.conversation_id != conversation_id {
                sqlx::query(&sql(orphan))
                    .bind(&conversation_id)
                    .execute(&mut *tx)
                    .await?;
            }
            row
        });
        row.thread()
    }

    /// The thread `thread` of `org`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `thread_id` when `org` has no such thread.
    pub async fn get(&self, org: Uuid, thread: Uuid) -> Result<Thread> {
        let pool = self.keel.pool()?;
        let statement = format!(
            "SELECT {} FROM slack_copilot_threads WHERE id = $1::uuid AND org_id = $2::uuid",
            thread_columns(Dialect::of(pool))
        );
        let row: Option<ThreadRow> = on_pool!(pool, |conn, sql| {
            sqlx::query_as(&sql(&statement))
                .bind(thread.to_string())
                .bind(org.to_string())
                .fetch_optional(conn)
                .await?
        });
        row.ok_or_else(|| no_thread(thread))?.thread()
    }

    /// Adds `messages` to the thread (see the module docs): each `ts` is stored once, in `ts`
    /// order within the batch; the thread's count and last message time move, and extraction
    /// becomes due now once `extract_after_messages` wait past the watermark, else when the
    /// thread has been quiet `quiet_ms` (a failed extraction keeps its retry time).
    ///
    /// # Errors
    /// [`Error::InvalidInput`]: more than 1,000 messages (`messages`), a message
    /// [`ThreadMessage::validate`] refuses, no such thread (`thread_id`). Nothing is stored then.
    pub async fn add_messages(
        &self,
        org: Uuid,
        thread: Uuid,
        messages: &[ThreadMessage],
    ) -> Result<ThreadAppend> {
        if messages.len() > MAX_THREAD_BATCH {
            return Err(Error::invalid_input(
                "messages",
                format!("at most {MAX_THREAD_BATCH} a call"),
            ));
        }
        for (i, m) in messages.iter().enumerate() {
            m.validate(i)?;
        }
        let mut batch: Vec<&ThreadMessage> = messages.iter().collect();
        batch.sort_by_key(|m| ts_order(&m.slack_ts));
        batch.dedup_by(|a, b| a.slack_ts == b.slack_ts);
        let repeated = (messages.len() - batch.len()) as u64;
        let pool = self.keel.pool()?;
        let statements = AddStatements::new(Dialect::of(pool), &self.options);
        let ts_list = serde_json::to_string(
            &batch
                .iter()
                .map(|m| m.slack_ts.as_str())
                .collect::<Vec<_>>(),
        )
        .unwrap_or_default();
        in_transaction!(pool, None::<&str>, |tx, sql| {
            // Conversations before threads, as everywhere: the conversation's row lock
            // serializes the thread's appends.
            let found: Option<(String,)> = sqlx::query_as(&sql(&statements.find))
                .bind(thread.to_string())
                .bind(org.to_string())
                .fetch_optional(&mut *tx)
                .await?;
            let (conversation,) = found.ok_or_else(|| no_thread(thread))?;
            let (pending,): (String,) = sqlx::query_as(&sql(&statements.lock))
                .bind(&conversation)
                .fetch_one(&mut *tx)
                .await?;
            let known: Vec<(String,)> = sqlx::query_as(&sql(&statements.known))
                .bind(thread.to_string())
                .bind(&ts_list)
                .fetch_all(&mut *tx)
                .await?;
            let fresh: Vec<&ThreadMessage> = batch
                .iter()
                .copied()
                .filter(|m| !known.iter().any(|k| k.0 == m.slack_ts))
                .collect();
            let duplicates = repeated + (batch.len() - fresh.len()) as u64;
            if fresh.is_empty() {
                let (message_count,): (i64,) = sqlx::query_as(&sql(&statements.count))
                    .bind(thread.to_string())
                    .fetch_one(&mut *tx)
                    .await?;
                return Ok(ThreadAppend {
                    thread_id: thread,
                    added: 0,
                    duplicates,
                    seqs: None,
                    message_count: count(message_count),
                    extraction_due: false,
                    extraction_due_at: None,
                });
            }
            let neutral: Vec<Message> = fresh
                .iter()
                .map(|m| match m.role {
                    Role::Assistant => Message::assistant(&m.text),
                    _ => Message::user(&m.text),
                })
                .collect();
            let counts = count_tokens(&neutral);
            check_batch(&json::<Vec<String>>(&pending)?, &neutral)?;
            let n = fresh.len() as i64;
            let added_tokens: u64 = counts.iter().map(|c| c.0).sum();
            let (last_seq,): (i64,) = sqlx::query_as(&sql(&statements.conversation))
                .bind(&conversation)
                .bind(n)
                .bind(i64::try_from(added_tokens).unwrap_or(i64::MAX))
                .fetch_one(&mut *tx)
                .await?;
            let first = last_seq - n + 1;
            // Both tables' rows in one JSON array: two statements for the whole batch.
            let rows: Vec<Value> = fresh
                .iter()
                .zip(&neutral)
                .zip(&counts)
                .enumerate()
                .map(|(k, ((m, message), (tokens, exact)))| {
                    json!({
                        "seq": first + k as i64,
                        "role": message.role.as_str(),
                        "content": message.content,
                        "tokens": tokens,
                        "exact": i32::from(*exact),
                        "slack_ts": m.slack_ts,
                        "slack_user": m.slack_user,
                        "intent": m.intent,
                        "metadata": m.metadata.clone().unwrap_or_else(|| json!({})),
                    })
                })
                .collect();
            let rows = crate::store::storable_json(&rows);
            sqlx::query(&sql(&statements.messages))
                .bind(&conversation)
                .bind(org.to_string())
                .bind(&rows)
                .execute(&mut *tx)
                .await?;
            sqlx::query(&sql(&statements.slack))
                .bind(thread.to_string())
                .bind(org.to_string())
                .bind(&rows)
                .execute(&mut *tx)
                .await?;
            let (message_count, due_at, due_now): (i64, Option<i64>, bool) =
                sqlx::query_as(&sql(&statements.thread))
                    .bind(thread.to_string())
                    .bind(n)
                    .bind(last_seq)
                    .fetch_one(&mut *tx)
                    .await?;
            Ok::<_, Error>(ThreadAppend {
                thread_id: thread,
                added: count(n),
                duplicates,
                seqs: Some([count(first), count(last_seq)]),
                message_count: count(message_count),
                extraction_due: due_now,
                extraction_due_at: due_at.map(rfc3339),
            })
        })
    }
}

/// The statements of [`ThreadStore::add_messages`].
struct AddStatements {
    find: String,
    lock: String,
    known: String,
    count: String,
    conversation: String,
    messages: String,
    slack: String,
    thread: String,
}

impl AddStatements {
    fn new(d: Dialect, options: &ThreadOptions) -> Self {
        let after = options.extract_after_messages;
        let quiet = options.quiet_ms;
        let due_now = format!("($3 - extracted_through >= {after})");
        Self {
            find: "SELECT conversation_id::text FROM slack_copilot_threads
                 WHERE id = $1::uuid AND org_id = $2::uuid"
                .into(),
            lock: format!(
                "SELECT pending_tool_calls::text FROM conversations WHERE id = $1::uuid {}",
                d.for_update()
            ),
            count: "SELECT message_count::int8 FROM slack_copilot_threads WHERE id = $1::uuid"
                .into(),
            known: format!(
                "SELECT slack_ts FROM slack_copilot_messages
                 WHERE thread_id = $1::uuid AND slack_ts IN ({})",
                d.json_strings("$2")
            ),
            conversation: "UPDATE conversations SET message_count = message_count + $2,
                     total_tokens = total_tokens + $3, updated_at = now()
                 WHERE id = $1::uuid RETURNING message_count"
                .into(),
            messages: format!(
                "INSERT INTO conversation_messages
                     (conversation_id, seq, org_id, role, content, tokens, tokens_exact)
                 SELECT $1::uuid, {seq}::int8, $2::uuid, {role}, {content}, {tokens}::int8,
                        {exact}::int8 = 1
                 FROM {rows}",
                seq = d.row_text("seq"),
                role = d.row_text("role"),
                content = d.row_json("content"),
                tokens = d.row_text("tokens"),
                exact = d.row_text("exact"),
                rows = d.json_rows("$3"),
            ),
            slack: format!(
                "INSERT INTO slack_copilot_messages
                     (thread_id, slack_ts, org_id, seq, role, slack_user, intent, metadata)
                 SELECT $1::uuid, {ts}, $2::uuid, {seq}::int8, {role}, {user}, {intent}, {meta}
                 FROM {rows}",
                ts = d.row_text("slack_ts"),
                seq = d.row_text("seq"),
                role = d.row_text("role"),
                user = d.row_text("slack_user"),
                intent = d.row_text("intent"),
                meta = d.row_json("metadata"),
                rows = d.json_rows("$3"),
            ),
            thread: format!(
                "UPDATE slack_copilot_threads SET message_count = message_count + $2,
                     last_message_at = now(), updated_at = now(),
                     extraction_due_at = CASE
                         WHEN extraction_attempts > 0 AND extraction_due_at IS NOT NULL
                             THEN extraction_due_at
                         WHEN {due_now} THEN now()
                         ELSE {} END
                 WHERE id = $1::uuid
                 RETURNING message_count::int8, {}, {due_now} AND extraction_attempts = 0",
                d.now_plus_ms(&quiet.to_string()),
                d.epoch_ms("extraction_due_at")
            ),
        }
    }
}
