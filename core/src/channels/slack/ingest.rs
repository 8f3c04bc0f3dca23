//! Slack's JSON as messages the memory store keeps ([`ingest`]): a `conversations.replies`
//! page, a list of message objects, or Events API payloads (`event_callback`), alone or in a
//! list. People and other bots speak as `user`, Keel's own bot as `assistant`; an edit
//! replaces its message, a deletion removes it; files are named in the text; a message with
//! empty `text` reads its blocks. What cannot be a message is skipped with its reason and
//! counted, never fatal: the rest of the payload still lands.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::blocks::blocks_text;
use crate::error::{Error, Result};
use crate::llm::{Message, Role};

/// The most characters of one message's text (Slack's own limit is 40,000).
pub const MAX_MESSAGE_CHARS: usize = 100_000;

/// A Slack message as Keel keeps it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlackMessage {
    /// Its timestamp: its id in the channel.
    pub ts: String,
    /// The thread it belongs to (the parent's `ts`), if any.
    pub thread_ts: Option<String>,
    /// Who wrote it (`U…`), if a user did.
    pub user: Option<String>,
    /// The bot that wrote it (`B…`), if a bot did.
    pub bot_id: Option<String>,
    /// `assistant` for Keel's own bot, `user` for everyone else.
    pub role: Role,
    /// Its text: `text`, else its blocks' text; each file named on a line of its own.
    pub text: String,
    /// When it was last edited, if it was.
    pub edited_ts: Option<String>,
    /// The names of its files.
    pub files: Vec<String>,
}

impl SlackMessage {
    /// The message the memory store appends.
    pub fn to_message(&self) -> Message {
        match self.role {
            Role::Assistant => Message::assistant(&self.text),
            _ => Message::user(&self.text),
        }
    }
}

/// An event that is not a message, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedEvent {
    /// Its place in the payload, from 0.
    pub index: usize,
    /// Why it was skipped (`unknown event type "reaction_added"`).
    pub reason: String,
}

/// What [`ingest`] made of a payload.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ingested {
    /// The messages, oldest first, each `ts` once, edits applied, deletions removed.
    pub messages: Vec<SlackMessage>,
    /// Timestamps a `message_deleted` event removed (also ones not in this payload).
    pub deleted: Vec<String>,
    /// How many edits were applied.
    pub edits: usize,
    /// Events that are not messages.
    pub skipped: Vec<SkippedEvent>,
}

/// Whether `ts` is a Slack timestamp: seconds, a dot, six digits (`1712345678.000100`).
pub fn is_slack_ts(ts: &str) -> bool {
    ts.split_once('.').is_some_and(|(secs, micros)| {
        (1..=12).contains(&secs.len())
            && micros.len() == 6
            && secs
                .bytes()
                .chain(micros.bytes())
                .all(|b| b.is_ascii_digit())
    })
}

/// The order of two Slack timestamps.
fn ts_key(ts: &str) -> (u64, u32) {
    let (secs, micros) = ts.split_once('.').unwrap_or((ts, "0"));
    (secs.parse().unwrap_or(0), micros.parse().unwrap_or(0))
}

/// What one event does.
enum Event {
    Post(SlackMessage),
    Edit(SlackMessage),
    Delete(String),
}

/// Reads `payload` (see the module notes); `bot_user_id` is Keel's bot, whose messages are the
/// assistant's.
///
/// # Errors
/// [`Error::InvalidInput`] on `payload` that is neither an object nor a list.
pub fn ingest(payload: &Value, bot_user_id: Option<&str>) -> Result<Ingested> {
    let events: Vec<&Value> = match payload {
        Value::Array(items) => items.iter().collect(),
        Value::Object(obj) => match obj.get("messages") {
            Some(Value::Array(messages)) => messages.iter().collect(),
            _ => vec![payload],
        },
        _ => {
            return Err(Error::invalid_input(
                "payload",
                "must be a conversations.replies page, a list of messages or Events API payloads",
            ));
        }
    };
    let mut by_ts: BTreeMap<(u64, u32), SlackMessage> = BTreeMap::new();
    let mut out = Ingested {
        messages: Vec::new(),
        deleted: Vec::new(),
        edits: 0,
        skipped: Vec::new(),
    };
    for (index, event) in events.into_iter().enumerate() {
        match read_event(event, bot_user_id) {
            Ok(Event::Post(message)) => {
                by_ts.insert(ts_key(&message.ts), message);
            }
            Ok(Event::Edit(message)) => {
                out.edits += 1;
                by_ts.insert(ts_key(&message.ts), message);
            }
            Ok(Event::Delete(ts)) => {
                by_ts.remove(&ts_key(&ts));
                out.deleted.push(ts);
            }
            Err(reason) => out.skipped.push(SkippedEvent { index, reason }),
        }
    }
    out.messages = by_ts.into_values().collect();
    Ok(out)
}

/// One event: an Events API envelope is opened, then the message read.
fn read_event(event: &Value, bot_user_id: Option<&str>) -> std::result::Result<Event, String> {
    let Value::Object(obj) = event else {
        return Err("not an object".to_owned());
    };
    let kind = obj.get("type").and_then(Value::as_str).unwrap_or("message");
    match kind {
        "event_callback" => match obj.get("event") {
            Some(inner @ Value::Object(_)) => read_event(inner, bot_user_id),
            _ => Err("an event_callback without an event".to_owned()),
        },
        "message" => {
            let subtype = obj.get("subtype").and_then(Value::as_str);
            match subtype {
                None | Some("thread_broadcast" | "file_share" | "bot_message" | "me_message") => {
                    read_message(event, bot_user_id).map(Event::Post)
                }
                Some("message_changed") => match obj.get("message") {
                    Some(inner) => {
                        let mut message = read_message(inner, bot_user_id)?;
                        message.edited_ts = message.edited_ts.or_else(|| {
                            obj.get("event_ts")
                                .or_else(|| obj.get("ts"))
                                .and_then(Value::as_str)
                                .map(str::to_owned)
                        });
                        Ok(Event::Edit(message))
                    }
                    None => Err("a message_changed event without its message".to_owned()),
                },
                Some("message_deleted") => match obj.get("deleted_ts").and_then(Value::as_str) {
                    Some(ts) if is_slack_ts(ts) => Ok(Event::Delete(ts.to_owned())),
                    _ => Err("deleted_ts is not a Slack timestamp".to_owned()),
                },
                Some(other) => Err(format!("subtype {other:?} is not a message")),
            }
        }
        other => Err(format!("unknown event type {other:?}")),
    }
}

/// One message object.
fn read_message(
    value: &Value,
    bot_user_id: Option<&str>,
) -> std::result::Result<SlackMessage, String> {
    let str_at = |field: &str| value.get(field).and_then(Value::as_str);
    let ts = str_at("ts").ok_or("a message without ts")?;
    if !is_slack_ts(ts) {
        return Err("ts is not a Slack timestamp".to_owned());
    }
    let thread_ts = str_at("thread_ts");
    if thread_ts.is_some_and(|t| !is_slack_ts(t)) {
        return Err("thread_ts is not a Slack timestamp".to_owned());
    }
    let too_long = || format!("text over {MAX_MESSAGE_CHARS} characters");
    let mut text = str_at("text").unwrap_or("").to_owned();
    if text.len() > MAX_MESSAGE_CHARS {
        return Err(too_long());
    }
    if text.trim().is_empty()
        && let Some(blocks) = value.get("blocks")
    {
        text = blocks_text(blocks, MAX_MESSAGE_CHARS).ok_or_else(too_long)?;
    }
    let files: Vec<String> = match value.get("files") {
        Some(Value::Array(files)) => files
            .iter()
            .filter_map(|f| {
                f.get("name")
                    .or_else(|| f.get("title"))
                    .and_then(Value::as_str)
                    .map(|n| n.chars().take(500).collect())
            })
            .take(100)
            .collect(),
        _ => Vec::new(),
    };
    for name in &files {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&format!("[file: {name}]"));
    }
    if text.trim().is_empty() {
        return Err("a message without text, blocks or files".to_owned());
    }
    let user = str_at("user").map(str::to_owned);
    let own = bot_user_id.is_some() && user.as_deref() == bot_user_id;
    Ok(SlackMessage {
        ts: ts.to_owned(),
        thread_ts: thread_ts.map(str::to_owned),
        user,
        bot_id: str_at("bot_id").map(str::to_owned),
        role: if own { Role::Assistant } else { Role::User },
        text,
        edited_ts: value
            .pointer("/edited/ts")
            .and_then(Value::as_str)
            .map(str::to_owned),
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_replies_page_becomes_ordered_messages_with_roles_edits_and_files() {
        let page = json!({"ok": true, "messages": [
            {"type": "message", "user": "U1", "text": "Where is Acme?", "ts": "1712345678.000100",
             "thread_ts": "1712345678.000100"},
            {"type": "message", "subtype": "bot_message", "bot_id": "B9", "user": "UBOT",
             "text": "Acme is in legal review.", "ts": "1712345679.000200",
             "thread_ts": "1712345678.000100"},
            {"type": "message", "user": "U2", "text": "", "ts": "1712345680.000300",
             "files": [{"name": "contract.pdf"}],
             "edited": {"user": "U2", "ts": "1712345690.000000"}},
            {"type": "message", "subtype": "channel_join", "user": "U3", "ts": "1712345681.000000"},
            {"type": "message", "user": "U4", "text": "late", "ts": "99"}
        ]});
        let got = ingest(&page, Some("UBOT")).unwrap();
        let roles: Vec<Role> = got.messages.iter().map(|m| m.role).collect();
        assert_eq!(roles, [Role::User, Role::Assistant, Role::User]);
        assert_eq!(got.messages[2].text, "[file: contract.pdf]");
        assert_eq!(
            got.messages[2].edited_ts.as_deref(),
            Some("1712345690.000000")
        );
        assert_eq!(
            got.skipped,
            [
                SkippedEvent {
                    index: 3,
                    reason: "subtype \"channel_join\" is not a message".into()
                },
                SkippedEvent {
                    index: 4,
                    reason: "ts is not a Slack timestamp".into()
                },
            ]
        );
        assert_eq!(
            got.messages[1].to_message(),
            Message::assistant("Acme is in legal review.")
        );
    }

    #[test]
    fn events_edit_delete_and_unknown_types_are_applied_or_counted() {
        let post = |ts: &str, text: &str| {
            json!({"type": "event_callback", "event": {"type": "message", "user": "U1",
                   "text": text, "ts": ts, "channel": "C1"}})
        };
        let events = json!([
            post("1712345678.000100", "first"),
            post("1712345679.000100", "second"),
            {"type": "event_callback", "event": {"type": "message", "subtype": "message_changed",
             "event_ts": "1712345700.000000",
             "message": {"type": "message", "user": "U1", "text": "first, fixed", "ts": "1712345678.000100"}}},
            {"type": "event_callback", "event": {"type": "message", "subtype": "message_deleted",
             "deleted_ts": "1712345679.000100"}},
            {"type": "event_callback", "event": {"type": "reaction_added"}},
            {"type": "event_callback"},
            "text",
            post("1712345680.000100", "x".repeat(MAX_MESSAGE_CHARS + 1).as_str()),
            {"type": "message", "user": "U1", "text": "", "ts": "1712345681.000100",
             "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "b".repeat(10 << 20)}}]},
        ]);
        let got = ingest(&events, None).unwrap();
        assert_eq!(got.messages.len(), 1);
        assert_eq!(got.messages[0].text, "first, fixed");
        assert_eq!(
            got.messages[0].edited_ts.as_deref(),
            Some("1712345700.000000")
        );
        assert_eq!(
            (got.edits, got.deleted.as_slice()),
            (1, ["1712345679.000100".to_owned()].as_slice())
        );
        let indexes: Vec<usize> = got.skipped.iter().map(|s| s.index).collect();
        assert_eq!(indexes, [4, 5, 6, 7, 8], "10 MB of blocks is skipped too");
        assert!(got.skipped[0].reason.contains("reaction_added"));
        assert!(ingest(&json!("x"), None).is_err());
    }

    #[test]
    fn slack_timestamps_are_checked_and_ordered_numerically() {
        assert!(is_slack_ts("1712345678.000100"));
        for bad in [
            "",
            "1712345678",
            "1712345678.1",
            "abc.000100",
            "1.0001000",
            ".000100",
        ] {
            assert!(!is_slack_ts(bad), "{bad}");
        }
        assert!(ts_key("999999999.000001") < ts_key("1000000000.000000"));
    }
}
