//! `Keel.slack` and `Slack`, `slackIngest`: Slack's Web API and the ingest of its JSON (core:
//! `keel::channels::slack`, which owns the methods, their limits, retries, checks and the
//! mapping of messages).

use napi_derive::napi;
use serde_json::Value;

use keel::channels::slack::{self, SlackClient};
use keel::options::Case::Camel;

use crate::error::{Arg, Outcome, call, guard};
use crate::flow::args;
use crate::json::{Json, Parsed};

/// A Slack Web API client for one bot token; make it with `db.slack({ token, … })`.
#[napi]
pub struct Slack {
    inner: SlackClient,
}

/// `db.slack(options)`.
pub fn open_slack(keel: &keel::Keel, options: Option<Json>) -> Outcome<Slack> {
    let opened = guard(|| SlackClient::open_value(keel, options.map(|o| o.0), Camel, "options"));
    Outcome(opened.0.map(|inner| Slack { inner }))
}

#[napi]
impl Slack {
    /// One page of thread `ts` in `channel`, from `options.cursor`.
    #[napi(
        ts_args_type = "channel: string, ts: string, options?: { cursor?: string } | null",
        ts_return_type = "Promise<SlackRepliesPage>"
    )]
    pub async fn replies_page(
        &self,
        Arg(channel): Arg<String>,
        Arg(ts): Arg<String>,
        options: Option<Json>,
    ) -> napi::Result<Outcome<Parsed>> {
        let named = vec![("channel", channel.into()), ("ts", ts.into())];
        call(&self.inner, "replies_page", args(named, options)).await
    }

    /// Every message of thread `ts` in `channel`, page by page: Slack's message objects, for
    /// `slackIngest`.
    #[napi(
        ts_args_type = "channel: string, ts: string",
        ts_return_type = "Promise<Record<string, unknown>[]>"
    )]
    pub async fn replies(
        &self,
        Arg(channel): Arg<String>,
        Arg(ts): Arg<String>,
    ) -> napi::Result<Outcome<Parsed>> {
        let named = vec![("channel", channel.into()), ("ts", ts.into())];
        call(&self.inner, "replies", args(named, None)).await
    }

    /// Posts `text` to `channel` (`options.threadTs`, `options.blocks`).
    #[napi(
        ts_args_type = "channel: string, text: string, options?: { threadTs?: string; blocks?: unknown[] } | null",
        ts_return_type = "Promise<SlackPosted>"
    )]
    pub async fn post_message(
        &self,
        Arg(channel): Arg<String>,
        Arg(text): Arg<String>,
        options: Option<Json>,
    ) -> napi::Result<Outcome<Parsed>> {
        let named = vec![("channel", channel.into()), ("text", text.into())];
        call(&self.inner, "post_message", args(named, options)).await
    }

    /// Replaces the text (and `options.blocks`) of message `ts` in `channel`.
    #[napi(
        ts_args_type = "channel: string, ts: string, text: string, options?: { blocks?: unknown[] } | null",
        ts_return_type = "Promise<SlackPosted>"
    )]
    pub async fn update(
        &self,
        Arg(channel): Arg<String>,
        Arg(ts): Arg<String>,
        Arg(text): Arg<String>,
        options: Option<Json>,
    ) -> napi::Result<Outcome<Parsed>> {
        let named = vec![
            ("channel", channel.into()),
            ("ts", ts.into()),
            ("text", text.into()),
        ];
        call(&self.inner, "update", args(named, options)).await
    }

    /// The user `user`.
    #[napi(ts_args_type = "user: string", ts_return_type = "Promise<SlackUser>")]
    pub async fn user(&self, Arg(user): Arg<String>) -> napi::Result<Outcome<Parsed>> {
        call(&self.inner, "user", args(vec![("user", user.into())], None)).await
    }
}

/// Slack's JSON (a `conversations.replies` page, message objects or Events API payloads) as
/// messages (`options.botUserId`: Keel's bot, whose messages are the assistant's).
#[napi(
    ts_args_type = "payload: unknown, options?: { botUserId?: string } | null",
    ts_return_type = "SlackIngested"
)]
pub fn slack_ingest(Json(payload): Json, options: Option<Json>) -> Outcome<Value> {
    guard(|| slack::ingest_value(payload, options.map(|o| o.0), Camel))
}
