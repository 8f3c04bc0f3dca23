//! The conversation tables, `conversations` and `conversation_messages`, on both backends.
//!
//! An append is one transaction: it locks the conversation's row, checks the batch against the
//! tool calls still waiting for results, moves the message count and the token total inside the
//! `UPDATE` (`message_count = message_count + n … RETURNING`), and inserts the messages under
//! the seqs that update handed out. Concurrent appends to one conversation queue on the row
//! lock (SQLite's `BEGIN IMMEDIATE` on SQLite): the total is exact and no seq is taken twice.

use serde::Deserialize;
use uuid::Uuid;

use super::conversation::{
    Appended, Conversation, ConversationChannel, ConversationKey, StoredMessage, check_batch,
    count_tokens,
};
use crate::Keel;
use crate::error::{Error, Result};
use crate::llm::{Message, Part, Role};
use crate::store::{Dialect, in_transaction, on_pool, storable_text};

/// Which messages [`ConversationStore::messages`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MessageQuery {
    /// Messages after this seq (default 0: from the first).
    pub after_seq: u64,
    /// At most this many, 1 to 1,000 (default 100).
    pub limit: u32,
}

impl Default for MessageQuery {
    fn default() -> Self {
        Self {
            after_seq: 0,
            limit: 100,
        }
    }
}

/// Conversations and their messages, on the handle's database.
#[derive(Debug, Clone)]
pub struct ConversationStore {
    pub(super) keel: Keel,
}

/// A conversation row: id, org, user, channel, channel ref, title, count, total, created and
/// updated in epoch milliseconds.
type ConversationRow = (
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    i64,
    i64,
    i64,
    i64,
);

/// The columns of a [`ConversationRow`].
fn conversation_columns(dialect: Dialect) -> String {
    format!(
        "id::text, org_id::text, user_id, channel, channel_ref, title, message_count, total_tokens,
         {}, {}",
        dialect.epoch_ms("created_at"),
        dialect.epoch_ms("updated_at")
    )
}

impl ConversationStore {
    /// A `memory` logger for `org`, placed in `call`'s trace when it names one, and a span
    /// `name` on it carrying the OpenTelemetry GenAI memory `operation` (`update_memory`,
    /// `search_memory`) and the conversation.
    pub(super) fn span(
        &self,
        org: Uuid,
        call: Option<&crate::llm::CallRequest>,
        name: &str,
        operation: &str,
        conversation: Option<Uuid>,
    ) -> (crate::telemetry::Logger, crate::telemetry::Span) {
        let logger = self.keel.logger(
            "memory",
            crate::telemetry::LoggerOptions {
                trace_id: call.and_then(|c| c.trace_id).map(|t| t.to_string()),
                traceparent: call.and_then(|c| c.traceparent.clone()),
                org_id: Some(org.to_string()),
                ..crate::telemetry::LoggerOptions::default()
            },
        );
        let mut fields = serde_json::Map::new();
        fields.insert("gen_ai.operation.name".into(), operation.into());
        if let Some(conversation) = conversation {
            fields.insert("conversation_id".into(), conversation.to_string().into());
        }
        let span = logger.span(name, fields, None);
        (logger, span)
    }
}

/// An RFC 3339 time, or `invalid_input` naming `field`.
pub(super) use crate::store::parse_time;

pub(super) use crate::store::rfc3339;

pub(super) fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// An id read back from the database.
pub(super) fn stored_id(text: &str) -> Result<Uuid> {
    Uuid::parse_str(text).map_err(|e| Error::Internal(format!("a stored id: {e}")))
}

fn conversation(row: ConversationRow) -> Result<Conversation> {
    let id = stored_id;
    Ok(Conversation {
        id: id(&row.0)?,
        org_id: id(&row.1)?,
        user_id: row.2,
        channel: ConversationChannel::parse(&row.3)?,
        channel_ref: Some(row.4).filter(|r| !r.is_empty()),
        title: row.5,
        message_count: count(row.6),
        total_tokens: count(row.7),
        created_at: rfc3339(row.8),
        updated_at: rfc3339(row.9),
    })
}

pub(super) fn no_conversation(conversation: Uuid) -> Error {
    Error::invalid_input(
        "conversation_id",
        format!("no conversation {conversation} in this org"),
    )
}

impl ConversationStore {
    /// The store on `keel`'s database (the tables come with its migrations).
    pub fn open(keel: &Keel) -> Self {
        Self { keel: keel.clone() }
    }

    /// Opens the conversation of `key`'s org, user, channel and channel reference, or returns
    /// the one already open (its title replaced when `key` has one).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] from [`ConversationKey::validate`]; storage errors.
    pub async fn start(&self, key: &ConversationKey) -> Result<Conversation> {
        key.validate()?;
        let pool = self.keel.pool()?;
        let dialect = Dialect::of(pool);
        let statement = format!(
            "INSERT INTO conversations (id, org_id, user_id, channel, channel_ref, title)
             VALUES ($1::uuid, $2::uuid, $3, $4, $5, $6)
             ON CONFLICT (org_id, user_id, channel, channel_ref)
             DO UPDATE SET title = COALESCE(excluded.title, conversations.title)
             RETURNING {}",
            conversation_columns(dialect)
        );
        let row: ConversationRow = on_pool!(pool, |conn, sql| {
            sqlx::query_as(&sql(&statement))
                .bind(Uuid::now_v7().to_string())
                .bind(key.org_id.to_string())
                .bind(&key.user_id)
                .bind(key.channel.as_str())
                .bind(key.channel_ref.clone().unwrap_or_default())
                .bind(key.title.as_deref().map(storable_text))
                .fetch_one(conn)
                .await?
        });
        conversation(row)
    }

    /// The conversation `conversation` of `org`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `conversation_id` when `org` has no such conversation.
    pub async fn get(&self, org: Uuid, conversation: Uuid) -> Result<Conversation> {
        let pool = self.keel.pool()?;
        let statement = format!(
            "SELECT {} FROM conversations WHERE id = $1::uuid AND org_id = $2::uuid",
            conversation_columns(Dialect::of(pool))
        );
        let row: Option<ConversationRow> = on_pool!(pool, |conn, sql| {
            sqlx::query_as(&sql(&statement))
                .bind(conversation.to_string())
                .bind(org.to_string())
                .fetch_optional(conn)
                .await?
        });
        self::conversation(row.ok_or_else(|| no_conversation(conversation))?)
    }

    /// Appends `messages` to the conversation, in one transaction (see the module docs).
    ///
    /// # Errors
    /// [`Error::InvalidInput`]: no such conversation in `org` (`conversation_id`), or a batch
    /// [`check_batch`] refuses (naming the message and part). Nothing is stored then.
    pub async fn append(
        &self,
        org: Uuid,
        conversation: Uuid,
        messages: &[Message],
    ) -> Result<Appended> {
        let counts = count_tokens(messages);
        let added: u64 = counts.iter().map(|c| c.0).sum();
        let pool = self.keel.pool()?;
        let dialect = Dialect::of(pool);
        let lock = format!(
            "SELECT pending_tool_calls::text FROM conversations
             WHERE id = $1::uuid AND org_id = $2::uuid {}",
            dialect.for_update()
        );
        let update = format!(
            "UPDATE conversations SET message_count = message_count + $3,
                 total_tokens = total_tokens + $4, pending_tool_calls = {}, updated_at = now()
             WHERE id = $1::uuid AND org_id = $2::uuid
             RETURNING message_count, total_tokens",
            dialect.json("$5")
        );
        let insert = format!(
            "INSERT INTO conversation_messages
                 (conversation_id, seq, org_id, role, content, tokens, tokens_exact)
             VALUES ($1::uuid, $2, $3::uuid, $4, {}, $5, $6)",
            dialect.json("$7")
        );
        let n = messages.len() as i64;
        in_transaction!(pool, None::<&str>, |tx, sql| {
            let pending: Option<(String,)> = sqlx::query_as(&sql(&lock))
                .bind(conversation.to_string())
                .bind(org.to_string())
                .fetch_optional(&mut *tx)
                .await?;
            let pending = pending.ok_or_else(|| no_conversation(conversation))?.0;
            let pending: Vec<String> = serde_json::from_str(&pending).unwrap_or_default();
            let waiting = check_batch(&pending, messages)?;
            let (message_count, total_tokens): (i64, i64) = sqlx::query_as(&sql(&update))
                .bind(conversation.to_string())
                .bind(org.to_string())
                .bind(n)
                .bind(i64::try_from(added).unwrap_or(i64::MAX))
                .bind(crate::store::storable_json(&waiting))
                .fetch_one(&mut *tx)
                .await?;
            let first = message_count - n + 1;
            for (k, (message, (tokens, exact))) in messages.iter().zip(&counts).enumerate() {
                sqlx::query(&sql(&insert))
                    .bind(conversation.to_string())
                    .bind(first + k as i64)
                    .bind(org.to_string())
                    .bind(message.role.as_str())
                    .bind(i64::try_from(*tokens).unwrap_or(i64::MAX))
                    .bind(*exact)
                    .bind(crate::store::storable_json(&message.content))
                    .execute(&mut *tx)
                    .await?;
            }
            Ok(Appended {
                conversation_id: conversation,
                first_seq: count(first),
                last_seq: count(message_count),
                tokens: counts.iter().map(|c| c.0).collect(),
                message_count: count(message_count),
                total_tokens: count(total_tokens),
            })
        })
    }

    /// The messages of the conversation in order, as `query` selects.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `limit` outside 1 to 1,000, or on `conversation_id` when
    /// `org` has no such conversation.
    pub async fn messages(
        &self,
        org: Uuid,
        conversation: Uuid,
        query: &MessageQuery,
    ) -> Result<Vec<StoredMessage>> {
        if !(1..=1_000).contains(&query.limit) {
            return Err(Error::invalid_input("limit", "must be 1 to 1,000"));
        }
        let pool = self.keel.pool()?;
        let statement = format!(
            "SELECT {} FROM conversation_messages
             WHERE conversation_id = $1::uuid AND org_id = $2::uuid AND seq > $3
             ORDER BY seq LIMIT $4",
            message_columns(Dialect::of(pool))
        );
        let rows: Vec<MessageRow> = on_pool!(pool, |conn, sql| {
            sqlx::query_as(&sql(&statement))
                .bind(conversation.to_string())
                .bind(org.to_string())
                .bind(i64::try_from(query.after_seq).unwrap_or(i64::MAX))
                .bind(i64::from(query.limit))
                .fetch_all(conn)
                .await?
        });
        if rows.is_empty() {
            // An empty page of a conversation that exists, or no such conversation.
            self.get(org, conversation).await?;
        }
        rows.into_iter().map(stored).collect()
    }
}

/// A message row: seq, role, content, tokens, exact, created in epoch milliseconds.
pub(super) type MessageRow = (i64, String, String, i64, bool, i64);

/// The columns of a [`MessageRow`].
pub(super) fn message_columns(dialect: Dialect) -> String {
    format!(
        "seq, role, content::text, tokens, tokens_exact, {}",
        dialect.epoch_ms("created_at")
    )
}

/// The message of a row.
pub(super) fn stored(r: MessageRow) -> Result<StoredMessage> {
    Ok(StoredMessage {
        seq: count(r.0),
        role: Role::parse(&r.1)?,
        content: serde_json::from_str::<Vec<Part>>(&r.2)
            .map_err(|e| Error::Internal(format!("stored content: {e}")))?,
        tokens: count(r.3),
        tokens_exact: r.4,
        created_at: rfc3339(r.5),
    })
}
