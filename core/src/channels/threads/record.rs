//! The records of Slack copilot threads: what finds or creates a thread, a thread as stored,
//! a message to add, a turn to record, and their checks and defaults.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::channels::slack::{SlackMessage, slack_id, slack_ts};
use crate::error::{Error, Result};
use crate::idents::short_name;
use crate::llm::Role;
use crate::options::de;

/// Extraction is due once this many messages arrived since the watermark (the original's
/// `THREAD_MESSAGE_THRESHOLD`).
pub const EXTRACT_AFTER_MESSAGES: u32 = 10;
/// Extraction is due once a thread with unsummarised messages has been quiet this long (the
/// original's `THREAD_QUIET_THRESHOLD_MS`, 15 minutes).
pub const QUIET_MS: u64 = 900_000;
/// The most turns a thread's `turns` list keeps (the original's `MAX_TURNS`).
pub const MAX_TURNS: usize = 20;
/// The most messages one [`crate::channels::ThreadStore::add_messages`] takes.
pub const MAX_THREAD_BATCH: usize = 1_000;
/// The most characters of a thread title.
pub const MAX_TITLE_CHARS: usize = 200;

/// What finds a thread, or creates it for its first message (the original's
/// `getOrCreateThread` arguments).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThreadKey {
    /// The org.
    #[serde(deserialize_with = "de::uuid")]
    pub org_id: Uuid,
    /// The platform user the copilot answers in this thread (the thread keeps its first).
    #[serde(deserialize_with = "de::uuid")]
    pub user_id: Uuid,
    /// The Slack workspace (`T0123ABCD`).
    pub slack_team_id: String,
    /// The Slack channel (`C0123ABCD`).
    pub slack_channel_id: String,
    /// The thread's parent message `ts`.
    pub slack_thread_ts: String,
    /// A title, kept when the thread already has one.
    #[serde(default)]
    pub title: Option<String>,
}

impl ThreadKey {
    /// Checks the key.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `slack_team_id` or `slack_channel_id` (1 to 80
    /// characters), `slack_thread_ts` (not a Slack timestamp) or `title` (blank or over 200
    /// characters).
    pub fn validate(&self) -> Result<()> {
        slack_id("slack_team_id", &self.slack_team_id)?;
        slack_id("slack_channel_id", &self.slack_channel_id)?;
        slack_ts("slack_thread_ts", &self.slack_thread_ts)?;
        if let Some(title) = &self.title
            && (title.trim().is_empty() || title.chars().count() > MAX_TITLE_CHARS)
        {
            return Err(Error::invalid_input(
                "title",
                format!("must be 1 to {MAX_TITLE_CHARS} characters"),
            ));
        }
        Ok(())
    }

    /// The thread's reference in the memory store and in `conversation_context`:
    /// `team/channel/ts`, unique per org.
    pub fn channel_ref(&self) -> String {
        format!(
            "{}/{}/{}",
            self.slack_team_id, self.slack_channel_id, self.slack_thread_ts
        )
    }
}

/// The entities a thread is about now (the original's `active_*_id` columns).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ActiveEntities {
    /// The deal.
    #[serde(deserialize_with = "de::opt_uuid")]
    pub deal_id: Option<Uuid>,
    /// The contact.
    #[serde(deserialize_with = "de::opt_uuid")]
    pub contact_id: Option<Uuid>,
    /// The company.
    #[serde(deserialize_with = "de::opt_uuid")]
    pub company_id: Option<Uuid>,
    /// The meeting.
    #[serde(deserialize_with = "de::opt_uuid")]
    pub meeting_id: Option<Uuid>,
}

/// A Slack copilot thread as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Thread {
    /// The thread.
    pub id: Uuid,
    /// The org.
    pub org_id: Uuid,
    /// The platform user.
    pub user_id: Uuid,
    /// The Slack workspace.
    pub slack_team_id: String,
    /// The Slack channel.
    pub slack_channel_id: String,
    /// The parent message's `ts`.
    pub slack_thread_ts: String,
    /// Its conversation in the memory store (channel `slack`).
    pub conversation_id: Uuid,
    /// The title.
    pub title: Option<String>,
    /// The Slack messages stored.
    pub message_count: u64,
    /// When the last one was stored (RFC 3339).
    pub last_message_at: String,
    /// What extraction concluded: `summary`, `entities` (each `entity_type`, `name`, `entity_id`
    /// or null when unresolved), `through` (the last seq read).
    pub context: Value,
    /// The entities the thread is about now.
    pub active: ActiveEntities,
    /// Context loaded for the active entities (cleared when they change).
    pub loaded_context: Option<Value>,
    /// The last 20 turns recorded (intent, credits, action, time).
    pub turns: Vec<Value>,
    /// Every intent recorded, in order.
    pub intents_used: Vec<String>,
    /// The credits recorded.
    pub credits_consumed: f64,
    /// Every action recorded, in order.
    pub actions_taken: Vec<Value>,
    /// The watermark: the last seq extraction read (0: none yet).
    pub extracted_through: u64,
    /// When extraction last succeeded.
    pub extracted_at: Option<String>,
    /// When extraction is due (none: nothing waits).
    pub extraction_due_at: Option<String>,
    /// Extractions failed since the last success.
    pub extraction_attempts: u32,
    /// The last failure, if the last extraction failed.
    pub extraction_error: Option<String>,
    /// Created (RFC 3339).
    pub created_at: String,
    /// Last changed (RFC 3339).
    pub updated_at: String,
}

/// A message to add to a thread.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThreadMessage {
    /// Its Slack `ts`: a thread stores each `ts` once, so a redelivered event is skipped.
    pub slack_ts: String,
    /// `user` or `assistant` (the copilot's own replies).
    pub role: Role,
    /// The text.
    pub text: String,
    /// The Slack user or bot that wrote it.
    #[serde(default)]
    pub slack_user: Option<String>,
    /// The intent the copilot found (for user messages) or answered (for its own).
    #[serde(default)]
    pub intent: Option<String>,
    /// Anything else to keep with it (confidence, entities, a pending action).
    #[serde(default)]
    pub metadata: Option<Value>,
}

impl ThreadMessage {
    /// The message of an ingested Slack message (its text names its files).
    pub fn from_slack(message: &SlackMessage) -> Self {
        Self {
            slack_ts: message.ts.clone(),
            role: message.role,
            text: message.text.clone(),
            slack_user: message.user.clone().or_else(|| message.bot_id.clone()),
            intent: None,
            metadata: None,
        }
    }

    /// Checks the message; `index` is its place in the batch.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `messages[i].slack_ts` (not a Slack timestamp),
    /// `.role` (not user or assistant), `.slack_user` or `.intent` (blank or over 200
    /// characters), `.metadata` (not an object).
    pub fn validate(&self, index: usize) -> Result<()> {
        let field = |name: &str| format!("messages[{index}].{name}");
        slack_ts(&field("slack_ts"), &self.slack_ts)?;
        if !matches!(self.role, Role::User | Role::Assistant) {
            return Err(Error::invalid_input(
                field("role"),
                "must be user or assistant",
            ));
        }
        if let Some(user) = &self.slack_user {
            short_name(&field("slack_user"), user)?;
        }
        if let Some(intent) = &self.intent {
            short_name(&field("intent"), intent)?;
        }
        if self.metadata.as_ref().is_some_and(|m| !m.is_object()) {
            return Err(Error::invalid_input(field("metadata"), "must be an object"));
        }
        Ok(())
    }
}

/// What [`crate::channels::ThreadStore::add_messages`] did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThreadAppend {
    /// The thread.
    pub thread_id: Uuid,
    /// Messages stored now.
    pub added: u64,
    /// Messages whose `ts` the thread already had (or that a batch repeated), skipped.
    pub duplicates: u64,
    /// The seqs the stored ones took in the conversation, first and last.
    pub seqs: Option<[u64; 2]>,
    /// The thread's Slack messages now.
    pub message_count: u64,
    /// True when extraction is due now (enough messages since the watermark).
    pub extraction_due: bool,
    /// When extraction is due (none when nothing waits).
    pub extraction_due_at: Option<String>,
}

/// A turn the copilot finished: one statement appends its intent, adds its credits, records
/// its action and keeps the last 20 turns (the original's `appendTurn`,
/// `trackIntentAndCredits` and `trackAction`, which read and rewrote the row).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThreadTurn {
    /// The intent answered.
    pub intent: Option<String>,
    /// Credits the turn cost (≥ 0).
    pub credits: f64,
    /// An action taken (an object: its type, target, result).
    pub action: Option<Value>,
}

impl ThreadTurn {
    /// Checks the turn.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `intent` (blank or over 200 characters), `credits`
    /// (negative or not finite) or `action` (not an object).
    pub fn validate(&self) -> Result<()> {
        if let Some(intent) = &self.intent {
            short_name("intent", intent)?;
        }
        if !self.credits.is_finite() || self.credits < 0.0 {
            return Err(Error::invalid_input("credits", "must be a number ≥ 0"));
        }
        if self.action.as_ref().is_some_and(|a| !a.is_object()) {
            return Err(Error::invalid_input("action", "must be an object"));
        }
        Ok(())
    }
}

/// How a thread store decides when extraction is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThreadOptions {
    /// Due once this many messages arrived since the watermark (default 10, at least 1).
    pub extract_after_messages: u32,
    /// Due once the thread has been quiet this long, in milliseconds (default 900,000).
    pub quiet_ms: u64,
}

impl Default for ThreadOptions {
    fn default() -> Self {
        Self {
            extract_after_messages: EXTRACT_AFTER_MESSAGES,
            quiet_ms: QUIET_MS,
        }
    }
}

impl ThreadOptions {
    /// Checks the options.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `extract_after_messages` or `quiet_ms` when 0.
    pub fn validate(&self) -> Result<()> {
        if self.extract_after_messages == 0 {
            return Err(Error::invalid_input(
                "extract_after_messages",
                "must be at least 1",
            ));
        }
        if self.quiet_ms == 0 {
            return Err(Error::invalid_input("quiet_ms", "must be at least 1"));
        }
        Ok(())
    }
}
