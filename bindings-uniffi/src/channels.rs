//! `Keel.slack` and `Slack`, `slackIngest`, `Keel.slackThreads` and `SlackThreads`,
//! `readThreadContext` and `threadTranscript` (core: `keel::channels`, which owns Slack's
//! methods, their limits, retries and checks, the mapping of messages, the thread tables, the
//! watermark and the extraction). Shapes are JSON text in Node's camelCase (`SlackRepliesPage`,
//! `SlackPosted`, `SlackUser`, `SlackIngested`, `SlackThreadKey`, `SlackThread`,
//! `SlackThreadMessage`, `SlackThreadAppend`, `SlackThreadIngest`, `SlackThreadTurn`,
//! `SlackActiveInput`, `SlackThreadHistoryItem`, `ThreadExtraction`, `ThreadSweep`,
//! `ThreadReading`, `ThreadTranscript`); Slack's own message objects keep Slack's keys.

use std::sync::Arc;

use keel::channels::slack::{self, SlackClient};
use keel::channels::{ThreadStore, threads};
use keel::memory::EntityLinker;
use keel::options::Case::Camel;
use serde_json::Value;

use crate::error::KeelError;
use crate::json::{args, call_text as call, record, required, value};
use crate::llm::Llm;
use crate::memory::{EntityResolver, HostLinker};
use crate::runtime::{run, within};
use crate::store::Keel;

/// A Slack Web API client for one bot token; make it with `keel.slack(optionsJson)`.
#[derive(uniffi::Object)]
pub struct Slack {
    inner: SlackClient,
}

/// Slack copilot threads on a database; make it with `keel.slackThreads(optionsJson)`.
#[derive(uniffi::Object)]
pub struct SlackThreads {
    inner: ThreadStore,
}

#[uniffi::export]
impl Keel {
    /// A Slack client with `optionsJson` (Node's `SlackOptions`: `token`, `baseUrl`,
    /// `workspace`, `maxRetries`, …; every default is core's).
    ///
    /// # Errors
    /// `invalid_input` naming the option (a missing token).
    pub fn slack(&self, options_json: String) -> Result<Arc<Slack>, KeelError> {
        let options = value(Some(&options_json), "options")?;
        let inner = within(|| SlackClient::open_value(&self.inner, options, Camel, "options"))?;
        Ok(Arc::new(Slack { inner }))
    }

    /// Slack copilot threads with `optionsJson` (Node's `SlackThreadsOptions`).
    ///
    /// # Errors
    /// `invalid_input` naming the option.
    #[uniffi::method(default(options_json = None))]
    pub fn slack_threads(
        &self,
        options_json: Option<String>,
    ) -> Result<Arc<SlackThreads>, KeelError> {
        let options = value(options_json.as_deref(), "options")?;
        let inner = within(|| ThreadStore::open_value(&self.inner, options, Camel, "options"))?;
        Ok(Arc::new(SlackThreads { inner }))
    }
}

#[uniffi::export]
impl Slack {
    /// One page of thread `ts` in `channel`, from `cursor` of `optionsJson`: a
    /// `SlackRepliesPage`.
    ///
    /// # Errors
    /// `provider` with Slack's error (the token never shown); `rate_limited` once the retries
    /// are spent.
    #[uniffi::method(default(options_json = None))]
    pub async fn replies_page(
        &self,
        channel: String,
        ts: String,
        options_json: Option<String>,
    ) -> Result<String, KeelError> {
        let named = vec![("channel", channel.into()), ("ts", ts.into())];
        call(&self.inner, "replies_page", move || {
            args(named, options_json.as_deref())
        })
        .await
    }

    /// Every message of thread `ts` in `channel`, page by page: Slack's message objects, for
    /// `slackIngest`.
    ///
    /// # Errors
    /// As `repliesPage`.
    pub async fn replies(&self, channel: String, ts: String) -> Result<String, KeelError> {
        let named = vec![("channel", channel.into()), ("ts", ts.into())];
        call(&self.inner, "replies", move || args(named, None)).await
    }

    /// Posts `text` to `channel` (`optionsJson`: `threadTs`, `blocks`): a `SlackPosted`.
    ///
    /// # Errors
    /// As `repliesPage`.
    #[uniffi::method(default(options_json = None))]
    pub async fn post_message(
        &self,
        channel: String,
        text: String,
        options_json: Option<String>,
    ) -> Result<String, KeelError> {
        let named = vec![("channel", channel.into()), ("text", text.into())];
        call(&self.inner, "post_message", move || {
            args(named, options_json.as_deref())
        })
        .await
    }

    /// Replaces the text (and `blocks` of `optionsJson`) of message `ts` in `channel`: a
    /// `SlackPosted`.
    ///
    /// # Errors
    /// As `repliesPage`.
    #[uniffi::method(default(options_json = None))]
    pub async fn update(
        &self,
        channel: String,
        ts: String,
        text: String,
        options_json: Option<String>,
    ) -> Result<String, KeelError> {
        let named = vec![
            ("channel", channel.into()),
            ("ts", ts.into()),
            ("text", text.into()),
        ];
        call(&self.inner, "update", move || {
            args(named, options_json.as_deref())
        })
        .await
    }

    /// The user `user`: a `SlackUser`.
    ///
    /// # Errors
    /// As `repliesPage`.
    pub async fn user(&self, user: String) -> Result<String, KeelError> {
        call(&self.inner, "user", move || {
            args(vec![("user", user.into())], None)
        })
        .await
    }
}

/// Slack's JSON in `payloadJson` (a `conversations.replies` page, message objects or Events
/// API payloads) as messages (`optionsJson`: `botUserId`, Keel's bot, whose messages are the
/// assistant's): a `SlackIngested`. Pure.
///
/// # Errors
/// `invalid_input` naming the field.
#[uniffi::export(default(options_json = None))]
pub fn slack_ingest(
    payload_json: String,
    options_json: Option<String>,
) -> Result<String, KeelError> {
    let payload = required(&payload_json, "payload")?;
    let options = value(options_json.as_deref(), "options")?;
    Ok(slack::ingest_value(payload, options, Camel)?.to_string())
}

/// The org and thread every thread call names, then its own arguments and options.
fn thread_args(
    org_id: String,
    thread_id: String,
    more: Vec<(&'static str, Value)>,
    options_json: Option<&str>,
) -> keel::Result<Value> {
    let mut named = vec![("orgId", org_id.into()), ("threadId", thread_id.into())];
    named.extend(more);
    args(named, options_json)
}

#[uniffi::export]
impl SlackThreads {
    /// The thread of `keyJson` (`orgId`, `userId`, `slackTeamId`, `slackChannelId`,
    /// `slackThreadTs`), created with its conversation for the first message: a `SlackThread`.
    ///
    /// # Errors
    /// `invalid_input` naming the field.
    pub async fn get_or_create(&self, key_json: String) -> Result<String, KeelError> {
        call(&self.inner, "get_or_create", move || {
            required(&key_json, "key")
        })
        .await
    }

    /// The thread: a `SlackThread`.
    ///
    /// # Errors
    /// `not_found` for a thread the org does not have.
    pub async fn get(&self, org_id: String, thread_id: String) -> Result<String, KeelError> {
        call(&self.inner, "get", move || {
            thread_args(org_id, thread_id, vec![], None)
        })
        .await
    }

    /// Adds `messagesJson` (a `SlackThreadMessage[]`), each Slack `ts` once: a
    /// `SlackThreadAppend`.
    ///
    /// # Errors
    /// `invalid_input` naming the message's field.
    pub async fn add_messages(
        &self,
        org_id: String,
        thread_id: String,
        messages_json: String,
    ) -> Result<String, KeelError> {
        let args = move || {
            let more = vec![("messages", required(&messages_json, "messages")?)];
            thread_args(org_id, thread_id, more, None)
        };
        call(&self.inner, "add_messages", args).await
    }

    /// Ingests Slack's JSON in `payloadJson` into the thread (`optionsJson`: `botUserId`): a
    /// `SlackThreadIngest`.
    ///
    /// # Errors
    /// `invalid_input` naming the field.
    #[uniffi::method(default(options_json = None))]
    pub async fn ingest(
        &self,
        org_id: String,
        thread_id: String,
        payload_json: String,
        options_json: Option<String>,
    ) -> Result<String, KeelError> {
        let args = move || {
            let more = vec![("payload", required(&payload_json, "payload")?)];
            thread_args(org_id, thread_id, more, options_json.as_deref())
        };
        call(&self.inner, "ingest", args).await
    }

    /// Records a finished turn (`turnJson`: `intent`, `credits`, `action`) in one statement:
    /// the `SlackThread`.
    ///
    /// # Errors
    /// `invalid_input` naming the field.
    pub async fn record_turn(
        &self,
        org_id: String,
        thread_id: String,
        turn_json: String,
    ) -> Result<String, KeelError> {
        let args = move || thread_args(org_id, thread_id, vec![], Some(&turn_json));
        call(&self.inner, "record_turn", args).await
    }

    /// Sets the active `dealId`, `contactId`, `companyId`, `meetingId` of `entitiesJson` (the
    /// others stay) and `loadedContext` (cleared when an id changes): the `SlackThread`.
    ///
    /// # Errors
    /// `invalid_input` naming the field.
    pub async fn set_active(
        &self,
        org_id: String,
        thread_id: String,
        entities_json: String,
    ) -> Result<String, KeelError> {
        let args = move || thread_args(org_id, thread_id, vec![], Some(&entities_json));
        call(&self.inner, "set_active", args).await
    }

    /// The newest `limit` of `optionsJson` (default 10) messages, oldest first: a
    /// `SlackThreadHistoryItem[]`.
    ///
    /// # Errors
    /// `invalid_input` naming the option.
    #[uniffi::method(default(options_json = None))]
    pub async fn history(
        &self,
        org_id: String,
        thread_id: String,
        options_json: Option<String>,
    ) -> Result<String, KeelError> {
        let args = move || thread_args(org_id, thread_id, vec![], options_json.as_deref());
        call(&self.inner, "history", args).await
    }

    /// Extracts the thread's context now through `llm` (`optionsJson`: Node's
    /// `ExtractThreadOptions`), entities resolved by `resolver` when given: a
    /// `ThreadExtraction`.
    ///
    /// # Errors
    /// As the model call; `invalid_input` naming the option.
    #[uniffi::method(default(options_json = None, resolver = None))]
    pub async fn extract(
        &self,
        org_id: String,
        thread_id: String,
        llm: Arc<Llm>,
        options_json: Option<String>,
        resolver: Option<Arc<dyn EntityResolver>>,
    ) -> Result<String, KeelError> {
        let args = move || thread_args(org_id, thread_id, vec![], options_json.as_deref());
        self.extraction("extract", args, &llm, resolver).await
    }

    /// Extracts every thread whose extraction is due (`optionsJson`: `limit`, `leaseMs` and
    /// the options of `extract`): a `ThreadSweep`.
    ///
    /// # Errors
    /// As `extract`.
    #[uniffi::method(default(options_json = None, resolver = None))]
    pub async fn sweep(
        &self,
        llm: Arc<Llm>,
        options_json: Option<String>,
        resolver: Option<Arc<dyn EntityResolver>>,
    ) -> Result<String, KeelError> {
        let args = move || args(vec![], options_json.as_deref());
        self.extraction("sweep", args, &llm, resolver).await
    }
}

impl SlackThreads {
    /// `extract` or `sweep` (`op`) through `llm`, entities resolved by `resolver`.
    async fn extraction(
        &self,
        op: &'static str,
        args: impl FnOnce() -> keel::Result<Value> + Send + 'static,
        llm: &Llm,
        resolver: Option<Arc<dyn EntityResolver>>,
    ) -> Result<String, KeelError> {
        let (store, llm) = (self.inner.clone(), llm.inner.clone());
        run(async move {
            let linker = resolver.map(HostLinker);
            let linker = linker.as_ref().map(|l| l as &dyn EntityLinker);
            let done = store.extract_value(op, Some(args()?), &llm, linker, Camel);
            Ok(done.await?.to_string())
        })
        .await
    }
}

/// Reads a model's answer to thread context extraction: a `ThreadReading`. Pure.
///
/// # Errors
/// `invalid_input` on `answer` when it is unusable.
#[uniffi::export]
pub fn read_thread_context(answer: String) -> Result<String, KeelError> {
    Ok(record(&threads::read_thread_context_value(&answer)?))
}

/// The text thread context extraction gives the model for `messagesJson` (a
/// `TranscriptMessage[]`, oldest first; `optionsJson`: `previous`, the summary so far;
/// `budget`, tokens, default 3,000): a `ThreadTranscript`. Pure.
///
/// # Errors
/// `invalid_input` naming the field.
#[uniffi::export(default(options_json = None))]
pub fn thread_transcript(
    messages_json: String,
    options_json: Option<String>,
) -> Result<String, KeelError> {
    let messages = required(&messages_json, "messages")?;
    let options = value(options_json.as_deref(), "options")?;
    let transcript = threads::thread_transcript_value(messages, options, Camel, "options")?;
    Ok(record(&transcript))
}
