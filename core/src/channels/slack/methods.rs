//! The Web API methods Keel calls, each with Slack's documented rate-limit tier as a GCRA
//! limit (<https://docs.slack.dev/apis/web-api/rate-limits>), and their typed calls on
//! [`SlackClient`] (`replies_page`, `replies`, `post_message`, `update`, `user`).

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::client::{SlackClient, service};
use crate::error::{Error, Result};
use crate::fault::FailureKind;
use crate::flow::Limit;

/// The most pages [`SlackClient::replies`] follows (200 messages each: 200,000 messages).
pub const MAX_PAGES: usize = 1_000;
/// The longest channel id or workspace name taken (Slack's ids are about 11 characters).
pub const MAX_ID_CHARS: usize = 80;
/// Messages a `conversations.replies` page asks for (Slack's documented maximum is 1,000; it
/// recommends no more than 200).
const PAGE_LIMIT: u32 = 200;

/// A page of `conversations.replies`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RepliesPage {
    /// The page's messages as Slack sent them (the thread's parent first on the first page).
    pub messages: Vec<Value>,
    /// The cursor of the next page, if there is one.
    pub next_cursor: Option<String>,
}

/// Where a posted or updated message is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Posted {
    /// Its channel.
    pub channel: String,
    /// Its timestamp (its id in the channel).
    pub ts: String,
}

/// A user as `users.info` describes them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlackUser {
    /// The user id (`U…`).
    pub id: String,
    /// The handle.
    pub name: String,
    /// The name people see: the profile's display name, else the real name, else the handle.
    pub display_name: String,
    /// The real name, if set.
    pub real_name: Option<String>,
    /// Whether it is a bot.
    pub is_bot: bool,
    /// Whether the account is deactivated.
    pub deleted: bool,
    /// The workspace.
    pub team_id: Option<String>,
    /// The profile's email, when the token may read it.
    pub email: Option<String>,
}

/// A Slack Web API method and how often Slack lets one workspace call it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Method {
    /// Its name in the URL (`chat.postMessage`).
    pub name: &'static str,
    /// Its tier as a limit: Tier 3 is 50 a minute, Tier 4 100, `chat.postMessage` one a second
    /// per channel; each allows a short burst, as Slack does.
    pub limit: Limit,
    /// Whether the limit is per channel (`chat.postMessage`) rather than per workspace.
    pub per_channel: bool,
    /// Whether it writes (Slack takes a JSON body): a write is retried only when Slack surely
    /// did not act on it (a 429, a refused connection). Reads take a form.
    pub json: bool,
}

const fn tier(per_minute: u32, burst: u32) -> Limit {
    Limit {
        limit: per_minute,
        period_ms: 60_000,
        burst,
    }
}

/// `conversations.replies`: a thread's messages, a page at a time (Tier 3).
pub const CONVERSATIONS_REPLIES: Method = Method {
    name: "conversations.replies",
    limit: tier(50, 10),
    per_channel: false,
    json: false,
};

/// `chat.postMessage`: one message a second per channel, short bursts allowed.
pub const CHAT_POST_MESSAGE: Method = Method {
    name: "chat.postMessage",
    limit: Limit {
        limit: 1,
        period_ms: 1_000,
        burst: 1,
    },
    per_channel: true,
    json: true,
};

/// `chat.update`: edits a message (Tier 3).
pub const CHAT_UPDATE: Method = Method {
    name: "chat.update",
    limit: tier(50, 10),
    per_channel: false,
    json: true,
};

/// `users.info`: a user's profile (Tier 4).
pub const USERS_INFO: Method = Method {
    name: "users.info",
    limit: tier(100, 20),
    per_channel: false,
    json: false,
};

impl Method {
    /// The limiter key of a call in `workspace` (and `channel`, for a per-channel method).
    pub fn key(&self, workspace: &str, channel: Option<&str>) -> String {
        match (self.per_channel, channel) {
            (true, Some(channel)) => format!("slack:{workspace}:{}:{channel}", self.name),
            _ => format!("slack:{workspace}:{}", self.name),
        }
    }
}

/// The string at `field` of `value`, or a `provider` error naming what Slack left out.
fn reply_str(method: &Method, value: &Value, field: &str) -> Result<String> {
    value
        .get(field)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| {
            let err = format!("a reply without `{field}`");
            service(method, &err, FailureKind::ServerError, None)
        })
}

impl Posted {
    /// Where `method`'s `reply` says the message is.
    fn of(method: &Method, reply: &Value) -> Result<Posted> {
        Ok(Posted {
            channel: reply_str(method, reply, "channel")?,
            ts: reply_str(method, reply, "ts")?,
        })
    }
}

/// Checks a Slack id (a channel `C0123ABCD`, a team `T0123ABCD`) given as `field`: Slack's
/// are short; 1 to 80 characters keeps the limiter's key within its 200.
pub(crate) fn slack_id(field: &str, id: &str) -> Result<()> {
    if !id.trim().is_empty()
        && (1..=MAX_ID_CHARS).contains(&id.chars().count())
        && !id.contains('\0')
    {
        Ok(())
    } else {
        Err(Error::invalid_input(
            field,
            "must be a Slack id (1 to 80 characters)",
        ))
    }
}

/// `ts` when it is a Slack timestamp.
pub(crate) fn slack_ts<'a>(field: &str, ts: &'a str) -> Result<&'a str> {
    if super::is_slack_ts(ts) {
        Ok(ts)
    } else {
        Err(Error::invalid_input(
            field,
            "must be a Slack timestamp (1712345678.000100)",
        ))
    }
}

/// `args` as the object a call takes, the `None`s left out.
fn args<const N: usize>(pairs: [(&str, Option<Value>); N]) -> Map<String, Value> {
    pairs
        .into_iter()
        .filter_map(|(k, v)| Some((k.to_owned(), v?)))
        .collect()
}

impl SlackClient {
    /// One page of thread `ts`'s messages in `channel`, from `cursor` (the first page when
    /// `None`).
    ///
    /// # Errors
    /// As [`SlackClient::call`]; [`Error::InvalidInput`] on `channel` (empty or over 80
    /// characters) or `ts` that is not a Slack timestamp.
    pub async fn replies_page(
        &self,
        channel: &str,
        ts: &str,
        cursor: Option<&str>,
    ) -> Result<RepliesPage> {
        slack_id("channel", channel)?;
        slack_ts("ts", ts)?;
        let mut reply = self
            .call(
                &CONVERSATIONS_REPLIES,
                args([
                    ("channel", Some(json!(channel))),
                    ("ts", Some(json!(ts))),
                    ("limit", Some(json!(PAGE_LIMIT))),
                    ("cursor", cursor.map(|c| json!(c))),
                ]),
            )
            .await?;
        let next_cursor = reply
            .pointer("/response_metadata/next_cursor")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
            .map(str::to_owned);
        let messages = match reply.get_mut("messages").map(Value::take) {
            Some(Value::Array(messages)) => messages,
            _ => {
                let err = "a reply without `messages`";
                return Err(service(
                    &CONVERSATIONS_REPLIES,
                    err,
                    FailureKind::ServerError,
                    None,
                ));
            }
        };
        Ok(RepliesPage {
            messages,
            next_cursor,
        })
    }

    /// Every message of thread `ts` in `channel`, following the cursor page by page (at most
    /// [`MAX_PAGES`]); `progress` hears the count after each page.
    ///
    /// # Errors
    /// As [`SlackClient::replies_page`].
    pub async fn replies(
        &self,
        channel: &str,
        ts: &str,
        mut progress: impl FnMut(usize),
    ) -> Result<Vec<Value>> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = self.replies_page(channel, ts, cursor.as_deref()).await?;
            all.extend(page.messages);
            progress(all.len());
            match page.next_cursor {
                Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
                _ => break,
            }
        }
        Ok(all)
    }

    /// Posts `text` to `channel`, in thread `thread_ts` when given; `blocks` (Block Kit) when
    /// given, `text` then being the notification's fallback.
    ///
    /// # Errors
    /// As [`SlackClient::call`]; [`Error::InvalidInput`] on `channel` (empty or over 80
    /// characters) or `thread_ts` that is not a Slack timestamp.
    pub async fn post_message(
        &self,
        channel: &str,
        text: &str,
        thread_ts: Option<&str>,
        blocks: Option<Value>,
    ) -> Result<Posted> {
        slack_id("channel", channel)?;
        if let Some(thread_ts) = thread_ts {
            slack_ts("thread_ts", thread_ts)?;
        }
        let reply = self
            .call(
                &CHAT_POST_MESSAGE,
                args([
                    ("channel", Some(json!(channel))),
                    ("text", Some(json!(text))),
                    ("thread_ts", thread_ts.map(|t| json!(t))),
                    ("blocks", blocks),
                ]),
            )
            .await?;
        Posted::of(&CHAT_POST_MESSAGE, &reply)
    }

    /// Replaces the text (and `blocks`, when given) of message `ts` in `channel`.
    ///
    /// # Errors
    /// As [`SlackClient::call`]; [`Error::InvalidInput`] on `channel` (empty or over 80
    /// characters) or `ts` that is not a Slack timestamp.
    pub async fn update(
        &self,
        channel: &str,
        ts: &str,
        text: &str,
        blocks: Option<Value>,
    ) -> Result<Posted> {
        slack_id("channel", channel)?;
        slack_ts("ts", ts)?;
        let reply = self
            .call(
                &CHAT_UPDATE,
                args([
                    ("channel", Some(json!(channel))),
                    ("ts", Some(json!(ts))),
                    ("text", Some(json!(text))),
                    ("blocks", blocks),
                ]),
            )
            .await?;
        Posted::of(&CHAT_UPDATE, &reply)
    }

    /// The user `id`.
    ///
    /// # Errors
    /// As [`SlackClient::call`] (`user_not_found` for an unknown id).
    pub async fn user(&self, id: &str) -> Result<SlackUser> {
        let reply = self
            .call(&USERS_INFO, args([("user", Some(json!(id)))]))
            .await?;
        let user = reply.get("user").cloned().unwrap_or(Value::Null);
        let field = |path: &str| {
            user.pointer(path)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let name = field("/name").unwrap_or_default();
        let real_name = field("/real_name").or_else(|| field("/profile/real_name"));
        Ok(SlackUser {
            id: reply_str(&USERS_INFO, &user, "id")?,
            display_name: field("/profile/display_name")
                .or_else(|| real_name.clone())
                .unwrap_or_else(|| name.clone()),
            name,
            real_name,
            is_bot: user.get("is_bot").and_then(Value::as_bool).unwrap_or(false),
            deleted: user
                .get("deleted")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            team_id: field("/team_id"),
            email: field("/profile/email"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tier_is_a_valid_limit_and_posting_is_keyed_per_channel() {
        for m in [
            CONVERSATIONS_REPLIES,
            CHAT_POST_MESSAGE,
            CHAT_UPDATE,
            USERS_INFO,
        ] {
            m.limit.check(m.name).unwrap();
        }
        assert_eq!(
            CHAT_POST_MESSAGE.key("T1", Some("C1")),
            "slack:T1:chat.postMessage:C1"
        );
        assert_eq!(USERS_INFO.key("T1", Some("C1")), "slack:T1:users.info");
    }
}
