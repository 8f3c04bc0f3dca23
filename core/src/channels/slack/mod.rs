//! Slack: a Web API client ([`SlackClient`]: `conversations.replies` with cursor pagination,
//! `chat.postMessage`, `chat.update`, `users.info`) that honours Slack's rate limits, and the
//! ingest of Slack's JSON ([`ingest`]: a `conversations.replies` page, message objects or
//! Events API payloads) into messages the memory store keeps.
//!
//! Each method's documented tier is a GCRA limit in the process's limiter
//! ([`crate::flow::LocalLimiter`]), per workspace (and per channel for `chat.postMessage`), so
//! a call waits its turn instead of drawing a 429; a 429 that comes anyway is retried after its
//! `Retry-After`. The bot token travels in the `Authorization` header only: no URL, error, log
//! line or `Debug` output carries it.

mod blocks;
mod calls;
mod client;
mod ingest;
mod methods;

pub use blocks::blocks_text;
pub use calls::{SLACK_CALLS, ingest_value};
pub use client::{DEFAULT_BASE_URL, SlackClient, SlackOptions};
pub use ingest::{Ingested, MAX_MESSAGE_CHARS, SkippedEvent, SlackMessage, ingest, is_slack_ts};
pub use methods::{
    CHAT_POST_MESSAGE, CHAT_UPDATE, CONVERSATIONS_REPLIES, MAX_ID_CHARS, MAX_PAGES, Method, Posted,
    RepliesPage, SlackUser, USERS_INFO,
};
pub(crate) use methods::{slack_id, slack_ts};
