//! Slack's calls as a binding makes them: arguments as one JSON object in the caller's
//! [`Case`], records back as JSON in that case, errors naming the field as the caller spells
//! it.

use serde::Deserialize;
use serde_json::Value;

use super::client::{SlackClient, SlackOptions};
use super::ingest::ingest;
use crate::Keel;
use crate::error::{Error, Result};
use crate::options::{Calls, Case, from_value, rooted, spelt};
use crate::record::to_value;

/// The calls [`SlackClient::call_value`] answers.
pub const SLACK_CALLS: [&str; 5] = ["replies_page", "replies", "post_message", "update", "user"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Replies {
    channel: String,
    ts: String,
    #[serde(default)]
    cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Post {
    channel: String,
    text: String,
    #[serde(default)]
    thread_ts: Option<String>,
    #[serde(default)]
    blocks: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Update {
    channel: String,
    ts: String,
    text: String,
    #[serde(default)]
    blocks: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct User {
    user: String,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct IngestOptions {
    bot_user_id: Option<String>,
}

/// [`ingest`] of `payload` with `options` (`bot_user_id`) as a binding passes them; the
/// report as JSON in `case`.
///
/// # Errors
/// [`Error::InvalidInput`] on `payload` that is neither an object nor a list, or an unknown
/// option.
pub fn ingest_value(payload: Value, options: Option<Value>, case: Case) -> Result<Value> {
    let options: IngestOptions = from_value(options, case, "options")?;
    Ok(to_value(
        &ingest(&payload, options.bot_user_id.as_deref())?,
        case,
    ))
}

impl SlackClient {
    /// A client over `keel` with its options as JSON ([`SlackOptions`]; `token` required).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the option.
    pub fn open_value(keel: &Keel, options: Option<Value>, case: Case, root: &str) -> Result<Self> {
        let options: SlackOptions = from_value(options, case, root)?;
        SlackClient::open(keel, options).map_err(|e| spelt(rooted(e, root), case))
    }
}

impl Calls for SlackClient {
    /// Runs the Slack call `op` (one of [`SLACK_CALLS`]) on `args` and returns its result as
    /// JSON in `case`.
    ///
    /// # Errors
    /// As the call; [`Error::InvalidInput`] naming the argument, or `op` when unknown.
    async fn call_op(&self, op: &str, args: Option<Value>, case: Case) -> Result<Value> {
        Ok(match op {
            "replies_page" | "replies" => {
                let a: Replies = from_value(args, case, "")?;
                if op == "replies" {
                    to_value(&self.replies(&a.channel, &a.ts, |_| {}).await?, case)
                } else {
                    to_value(
                        &self
                            .replies_page(&a.channel, &a.ts, a.cursor.as_deref())
                            .await?,
                        case,
                    )
                }
            }
            "post_message" => {
                let a: Post = from_value(args, case, "")?;
                let posted = self
                    .post_message(&a.channel, &a.text, a.thread_ts.as_deref(), a.blocks)
                    .await?;
                to_value(&posted, case)
            }
            "update" => {
                let a: Update = from_value(args, case, "")?;
                to_value(
                    &self.update(&a.channel, &a.ts, &a.text, a.blocks).await?,
                    case,
                )
            }
            "user" => {
                let a: User = from_value(args, case, "")?;
                to_value(&self.user(&a.user).await?, case)
            }
            other => {
                return Err(Error::invalid_input(
                    "op",
                    format!(
                        "unknown Slack call {other}; one of {}",
                        SLACK_CALLS.join(", ")
                    ),
                ));
            }
        })
    }
}
