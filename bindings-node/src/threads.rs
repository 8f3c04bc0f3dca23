//! `Keel.slackThreads` and `SlackThreads`: Slack copilot threads and their context extraction
//! (core: `keel::channels::threads`, which owns the tables, the checks, the watermark and the
//! extraction).

use napi::Env;
use napi::bindgen_prelude::{AsyncBlock, ClassInstance};
use napi_derive::napi;
use serde_json::Value;

use keel::channels::{ThreadStore, threads};
use keel::memory::EntityLinker;
use keel::options::Case::Camel;

use crate::error::{Arg, Outcome, call, guard, spawn};
use crate::flow::args;
use crate::json::{Json, Parsed};
use crate::llm::Llm;
use crate::memory::{JsLinker, LinkFn};
use crate::options::record;

/// Slack copilot threads on this database; make it with `db.slackThreads(options)`.
#[napi]
pub struct SlackThreads {
    inner: ThreadStore,
}

/// `db.slackThreads(options)`.
pub fn open_threads(keel: &keel::Keel, options: Option<Json>) -> Outcome<SlackThreads> {
    let opened = guard(|| ThreadStore::open_value(keel, options.map(|o| o.0), Camel, "options"));
    Outcome(opened.0.map(|inner| SlackThreads { inner }))
}

/// The org and thread every call names, and the call's own arguments.
fn thread_args(
    org_id: String,
    thread_id: String,
    more: Vec<(&str, Value)>,
    options: Option<Json>,
) -> Option<Value> {
    let mut named = vec![("orgId", org_id.into()), ("threadId", thread_id.into())];
    named.extend(more);
    args(named, options)
}

impl SlackThreads {
    fn extract_call(
        &self,
        env: &Env,
        op: &'static str,
        args: Option<Value>,
        llm: &Llm,
        link: Option<LinkFn>,
    ) -> Outcome<AsyncBlock<Outcome<Parsed>>> {
        let (store, llm, link) = (self.inner.clone(), llm.core().clone(), link.map(JsLinker));
        Outcome(spawn(env, async move {
            let linker = link.as_ref().map(|l| l as &dyn EntityLinker);
            let done = store.extract_value(op, args, &llm, linker, Camel).await?;
            Ok(Parsed(done.to_string()))
        }))
    }
}

#[napi]
impl SlackThreads {
    /// The thread of (orgId, userId, slackTeamId, slackChannelId, slackThreadTs), created
    /// with its conversation for the first message.
    #[napi(
        ts_args_type = "key: SlackThreadKey",
        ts_return_type = "Promise<SlackThread>"
    )]
    pub async fn get_or_create(&self, key: Option<Json>) -> napi::Result<Outcome<Parsed>> {
        call(&self.inner, "get_or_create", key.map(|k| k.0)).await
    }

    /// The thread.
    #[napi(
        ts_args_type = "orgId: string, threadId: string",
        ts_return_type = "Promise<SlackThread>"
    )]
    pub async fn get(
        &self,
        Arg(org_id): Arg<String>,
        Arg(thread_id): Arg<String>,
    ) -> napi::Result<Outcome<Parsed>> {
        call(
            &self.inner,
            "get",
            thread_args(org_id, thread_id, vec![], None),
        )
        .await
    }

    /// Adds messages, each Slack `ts` once.
    #[napi(
        ts_args_type = "orgId: string, threadId: string, messages: SlackThreadMessage[]",
        ts_return_type = "Promise<SlackThreadAppend>"
    )]
    pub async fn add_messages(
        &self,
        Arg(org_id): Arg<String>,
        Arg(thread_id): Arg<String>,
        Json(messages): Json,
    ) -> napi::Result<Outcome<Parsed>> {
        let more = vec![("messages", messages)];
        call(
            &self.inner,
            "add_messages",
            thread_args(org_id, thread_id, more, None),
        )
        .await
    }

    /// Ingests Slack's JSON (a `conversations.replies` page, message objects or Events API
    /// payloads; `options.botUserId`: the copilot's bot) into the thread.
    #[napi(
        ts_args_type = "orgId: string, threadId: string, payload: unknown, options?: { botUserId?: string } | null",
        ts_return_type = "Promise<SlackThreadIngest>"
    )]
    pub async fn ingest(
        &self,
        Arg(org_id): Arg<String>,
        Arg(thread_id): Arg<String>,
        Json(payload): Json,
        options: Option<Json>,
    ) -> napi::Result<Outcome<Parsed>> {
        let more = vec![("payload", payload)];
        call(
            &self.inner,
            "ingest",
            thread_args(org_id, thread_id, more, options),
        )
        .await
    }

    /// Records a finished turn (`intent`, `credits`, `action`) in one statement.
    #[napi(
        ts_args_type = "orgId: string, threadId: string, turn: SlackThreadTurn",
        ts_return_type = "Promise<SlackThread>"
    )]
    pub async fn record_turn(
        &self,
        Arg(org_id): Arg<String>,
        Arg(thread_id): Arg<String>,
        turn: Option<Json>,
    ) -> napi::Result<Outcome<Parsed>> {
        call(
            &self.inner,
            "record_turn",
            thread_args(org_id, thread_id, vec![], turn),
        )
        .await
    }

    /// Sets the active `dealId`, `contactId`, `companyId`, `meetingId` (the others stay) and
    /// `loadedContext` (cleared when an id changes).
    #[napi(
        ts_args_type = "orgId: string, threadId: string, entities: SlackActiveInput",
        ts_return_type = "Promise<SlackThread>"
    )]
    pub async fn set_active(
        &self,
        Arg(org_id): Arg<String>,
        Arg(thread_id): Arg<String>,
        entities: Option<Json>,
    ) -> napi::Result<Outcome<Parsed>> {
        call(
            &self.inner,
            "set_active",
            thread_args(org_id, thread_id, vec![], entities),
        )
        .await
    }

    /// The newest `options.limit` (default 10) messages, oldest first.
    #[napi(
        ts_args_type = "orgId: string, threadId: string, options?: { limit?: number } | null",
        ts_return_type = "Promise<SlackThreadHistoryItem[]>"
    )]
    pub async fn history(
        &self,
        Arg(org_id): Arg<String>,
        Arg(thread_id): Arg<String>,
        options: Option<Json>,
    ) -> napi::Result<Outcome<Parsed>> {
        call(
            &self.inner,
            "history",
            thread_args(org_id, thread_id, vec![], options),
        )
        .await
    }

    /// Extracts the thread's context now through `llm`; `options.link(kind, name)` resolves
    /// entities.
    #[napi(
        ts_args_type = "orgId: string, threadId: string, llm: Llm, options?: ExtractThreadOptions | null",
        ts_return_type = "Promise<ThreadExtraction>"
    )]
    pub fn extract(
        &self,
        env: Env,
        Arg(org_id): Arg<String>,
        Arg(thread_id): Arg<String>,
        llm: Arg<ClassInstance<'_, Llm>>,
        options: Option<Json>,
        link: Option<LinkFn>,
    ) -> Outcome<AsyncBlock<Outcome<Parsed>>> {
        let a = thread_args(org_id, thread_id, vec![], options);
        self.extract_call(&env, "extract", a, &llm.0, link)
    }

    /// Extracts every thread whose extraction is due (`limit`, `leaseMs` and the options of
    /// `extract`).
    #[napi(
        ts_args_type = "llm: Llm, options?: ExtractThreadOptions | null",
        ts_return_type = "Promise<ThreadSweep>"
    )]
    pub fn sweep(
        &self,
        env: Env,
        llm: Arg<ClassInstance<'_, Llm>>,
        options: Option<Json>,
        link: Option<LinkFn>,
    ) -> Outcome<AsyncBlock<Outcome<Parsed>>> {
        self.extract_call(&env, "sweep", args(vec![], options), &llm.0, link)
    }
}

/// Reads a model's answer to thread context extraction (`invalid_input` on `answer` when
/// unusable). Pure.
#[napi(ts_args_type = "answer: string", ts_return_type = "ThreadReading")]
pub fn read_thread_context(Arg(answer): Arg<String>) -> Outcome<Value> {
    guard(|| threads::read_thread_context_value(&answer).map(|r| record(&r)))
}

/// The text thread context extraction gives the model for `messages` (oldest first;
/// `options.previous`: the summary so far; `options.budget`: tokens, default 3,000). Pure.
#[napi(
    ts_args_type = "messages: TranscriptMessage[], options?: { previous?: string | null; budget?: number | null } | null",
    ts_return_type = "ThreadTranscript"
)]
pub fn thread_transcript(Json(messages): Json, options: Option<Json>) -> Outcome<Value> {
    let options = options.map(|o| o.0);
    guard(|| {
        threads::thread_transcript_value(messages, options, Camel, "options").map(|t| record(&t))
    })
}
