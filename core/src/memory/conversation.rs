//! Conversations and their messages: the records, the checks a batch passes before it is
//! stored, and its token counts.
//!
//! A conversation belongs to an org and a user and is one per (channel, channel reference): a
//! web session, a Slack thread (its `ts`), an agent run. Its messages are the neutral
//! [`Message`] of Keel's LLM calls, appended in order and never changed; the transcript is never
//! lost (compaction will be a view over it).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::llm::{Message, Part, Role};
use crate::options::{Case, de, from_value};
use crate::tokens::stored_message_tokens;

/// The most messages one append takes.
pub const MAX_BATCH: usize = 1_000;

/// Where a conversation happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationChannel {
    /// The web copilot (also read as the platform's `web_copilot`).
    #[serde(alias = "web_copilot")]
    Web,
    /// A Slack thread (`channel_ref` is its `ts`; also read as `slack_copilot`).
    #[serde(alias = "slack_copilot")]
    Slack,
    /// An agent run (`channel_ref` is its run or trace id; also read as `fleet_agent`).
    #[serde(alias = "fleet_agent")]
    Agent,
}

impl ConversationChannel {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::Slack => "slack",
            Self::Agent => "agent",
        }
    }

    /// The channel named `name`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `channel` for any other name.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "web" => Ok(Self::Web),
            "slack" => Ok(Self::Slack),
            "agent" => Ok(Self::Agent),
            other => Err(Error::invalid_input(
                "channel",
                format!("{other:?} is not web, slack or agent"),
            )),
        }
    }
}

/// What opens a conversation, or finds the one already open for the same org, user, channel
/// and channel reference.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversationKey {
    /// The org.
    #[serde(deserialize_with = "de::uuid")]
    pub org_id: Uuid,
    /// The user (a platform user id, a Slack user id, an agent's name).
    pub user_id: String,
    /// Where.
    pub channel: ConversationChannel,
    /// The Slack thread's `ts`, the agent run's id; none for a web session.
    #[serde(default)]
    pub channel_ref: Option<String>,
    /// A title, kept when the conversation already exists and none is given.
    #[serde(default)]
    pub title: Option<String>,
}

impl ConversationKey {
    /// Checks the fields a database constraint would otherwise refuse less clearly.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `user_id` when it is empty or over 256 bytes, on
    /// `channel_ref` over 256 bytes, on either with a NUL.
    pub fn validate(&self) -> Result<()> {
        if self.user_id.trim().is_empty() || self.user_id.len() > 256 {
            return Err(Error::invalid_input(
                "user_id",
                "must be 1 to 256 bytes, not blank",
            ));
        }
        if self.channel_ref.as_ref().is_some_and(|r| r.len() > 256) {
            return Err(Error::invalid_input(
                "channel_ref",
                "must be at most 256 bytes",
            ));
        }
        crate::idents::no_nul("user_id", &self.user_id)?;
        crate::idents::no_nul(
            "channel_ref",
            self.channel_ref.as_deref().unwrap_or_default(),
        )
    }
}

/// A conversation as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conversation {
    /// Its id.
    pub id: Uuid,
    /// The org.
    pub org_id: Uuid,
    /// The user.
    pub user_id: String,
    /// Where.
    pub channel: ConversationChannel,
    /// The thread or run it belongs to, if any.
    pub channel_ref: Option<String>,
    /// Its title, if any.
    pub title: Option<String>,
    /// Messages appended so far.
    pub message_count: u64,
    /// Their tokens, summed in the database as they were appended.
    pub total_tokens: u64,
    /// When it was opened (RFC 3339).
    pub created_at: String,
    /// When it last changed (RFC 3339).
    pub updated_at: String,
}

/// A message as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredMessage {
    /// Its place in the conversation, from 1.
    pub seq: u64,
    /// Who speaks.
    pub role: Role,
    /// What is said.
    pub content: Vec<Part>,
    /// Its tokens.
    pub tokens: u64,
    /// True when `tokens` is exact: o200k_base under OpenAI's framing on a text message; a
    /// tool call, tool result or image is estimated ([`crate::tokens::message_tokens`]).
    pub tokens_exact: bool,
    /// When it was appended (RFC 3339).
    pub created_at: String,
}

/// What an append did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Appended {
    /// The conversation.
    pub conversation_id: Uuid,
    /// The seq of the first message appended.
    pub first_seq: u64,
    /// The seq of the last.
    pub last_seq: u64,
    /// Each appended message's tokens, in order.
    pub tokens: Vec<u64>,
    /// The conversation's messages after the append.
    pub message_count: u64,
    /// The conversation's tokens after the append.
    pub total_tokens: u64,
}

/// Checks a batch against the conversation's unanswered tool calls (`pending`): every message
/// has content; tool calls come from the assistant, with ids not already waiting; every tool
/// result answers a call still waiting, before it in this batch or earlier in the conversation.
/// The unanswered calls after the batch.
///
/// # Errors
/// [`Error::InvalidInput`] naming the message and part (`messages[3].content[0].call_id`).
pub fn check_batch(pending: &[String], messages: &[Message]) -> Result<Vec<String>> {
    if messages.is_empty() || messages.len() > MAX_BATCH {
        return Err(Error::invalid_input(
            "messages",
            format!("must hold 1 to {MAX_BATCH} messages"),
        ));
    }
    let mut waiting = pending.to_vec();
    for (i, message) in messages.iter().enumerate() {
        if message.content.is_empty() {
            return Err(Error::invalid_input(
                format!("messages[{i}].content"),
                "must not be empty",
            ));
        }
        for (j, part) in message.content.iter().enumerate() {
            let field = || format!("messages[{i}].content[{j}]");
            match part {
                Part::ToolCall { id, .. } => {
                    if message.role != Role::Assistant {
                        return Err(Error::invalid_input(
                            field(),
                            "a tool call comes from the assistant",
                        ));
                    }
                    if id.is_empty() || waiting.contains(id) {
                        return Err(Error::invalid_input(
                            format!("{}.id", field()),
                            format!("{id:?} is empty or already waits for its result"),
                        ));
                    }
                    waiting.push(id.clone());
                }
                Part::ToolResult { call_id, .. } => {
                    let Some(at) = waiting.iter().position(|w| w == call_id) else {
                        return Err(Error::invalid_input(
                            format!("{}.call_id", field()),
                            format!("{call_id:?} answers no tool call waiting for its result"),
                        ));
                    };
                    waiting.remove(at);
                }
                Part::Text { .. } | Part::Image { .. } => {}
            }
        }
    }
    Ok(waiting)
}

/// The messages of an append as a binding passes them (a JSON list, its keys spelt in `case`);
/// errors name the message and field (`messages[2].role`).
///
/// # Errors
/// [`Error::InvalidInput`] when `value` is not a list of messages.
pub fn messages_from_value(value: serde_json::Value, case: Case) -> Result<Vec<Message>> {
    #[derive(Deserialize)]
    struct Batch {
        messages: Vec<Message>,
    }
    let batch = serde_json::json!({ "messages": value });
    from_value::<Batch>(Some(batch), case, "").map(|b| b.messages)
}

/// Each message's tokens and whether the count is exact ([`stored_message_tokens`]).
pub fn count_tokens(messages: &[Message]) -> Vec<(u64, bool)> {
    messages.iter().map(stored_message_tokens).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(value: serde_json::Value) -> Vec<Message> {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_result_must_answer_a_waiting_call() {
        let call = json!({"role": "assistant", "content": [
            {"type": "tool_call", "id": "c1", "name": "crm", "arguments": {}}]});
        let result = json!({"role": "tool", "content": [
            {"type": "tool_result", "call_id": "c1", "content": "ok"}]});
        // In one batch, then across two.
        assert_eq!(
            check_batch(&[], &messages(json!([call, result]))).unwrap(),
            Vec::<String>::new()
        );
        let waiting = check_batch(&[], &messages(json!([call]))).unwrap();
        assert_eq!(waiting, vec!["c1".to_owned()]);
        assert!(
            check_batch(&waiting, &messages(json!([result])))
                .unwrap()
                .is_empty()
        );
        // Without its call, or answered twice.
        let err = check_batch(&[], &messages(json!([result]))).unwrap_err();
        assert_eq!(err.field(), Some("messages[0].content[0].call_id"));
        let err = check_batch(&[], &messages(json!([call, result, result]))).unwrap_err();
        assert_eq!(err.field(), Some("messages[2].content[0].call_id"));
        // A call from the user, a call id already waiting, an empty batch.
        let user_call = json!({"role": "user", "content": [
            {"type": "tool_call", "id": "c2", "name": "crm", "arguments": {}}]});
        let err = check_batch(&[], &messages(json!([user_call]))).unwrap_err();
        assert_eq!(err.field(), Some("messages[0].content[0]"));
        let err = check_batch(&waiting, &messages(json!([call]))).unwrap_err();
        assert_eq!(err.field(), Some("messages[0].content[0].id"));
        assert_eq!(check_batch(&[], &[]).unwrap_err().field(), Some("messages"));
    }
}
