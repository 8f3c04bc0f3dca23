//! `Keel.conversations` and `ConversationStore` (core: `keel::memory`, whose `*_value` calls
//! read the ids and JSON and own every check). Records are plain objects with camelCase keys
//! (`types.d.ts`).

use futures_util::future::BoxFuture;
use napi::bindgen_prelude::{AsyncBlock, ClassInstance, Promise};
use napi::threadsafe_function::ThreadsafeFunction;
use napi::{Env, Status};
use napi_derive::napi;
use serde_json::{Value, json};

use keel::memory::{self, EntityKind, EntityLinker};
use keel::options::Case::Camel;

use crate::error::{Arg, Outcome, guard, run, spawn};
use crate::json::Json;
use crate::llm::Llm;
use crate::options::record;

/// An entity linker as `init.js` hands it over: `async ({ kind, name }) => id | null`. Weak:
/// it does not keep the process alive.
pub type LinkFn = ThreadsafeFunction<Value, Promise<Value>, Value, Status, false, true>;

/// A JavaScript `link(kind, name)` as an entity linker; what it throws or resolves to other
/// than a string or null is `invalid_input` on `link`.
pub(crate) struct JsLinker(pub(crate) LinkFn);

impl EntityLinker for JsLinker {
    fn link<'a>(
        &'a self,
        _org: uuid::Uuid,
        _user: &'a str,
        kind: EntityKind,
        name: &'a str,
    ) -> BoxFuture<'a, keel::Result<Option<String>>> {
        Box::pin(async move {
            let failed = |e: napi::Error| {
                keel::Error::invalid_input("link", format!("the callback failed: {}", e.reason))
            };
            let args = json!({"kind": kind.as_str(), "name": name});
            let promise = self.0.call_async_catch(args).await.map_err(failed)?;
            match promise.await.map_err(failed)? {
                Value::Null => Ok(None),
                Value::String(id) => Ok(Some(id)),
                _ => Err(keel::Error::invalid_input(
                    "link",
                    "must return a string or null",
                )),
            }
        })
    }
}

/// Conversations and their messages; make it with `db.conversations()`.
#[napi]
pub struct ConversationStore {
    inner: memory::ConversationStore,
}

#[napi]
impl ConversationStore {
    /// Opens the conversation of (orgId, userId, channel, channelRef), or returns the one
    /// already open.
    #[napi(
        ts_args_type = "key: ConversationKey",
        ts_return_type = "Promise<Conversation>"
    )]
    pub async fn start(&self, key: Option<Json>) -> napi::Result<Outcome<Value>> {
        let key = key.map(|k| k.0);
        run!(self.inner, |s| Ok(record(
            &s.start_value(key, Camel, "key").await?
        )))
    }

    /// The conversation.
    #[napi(
        ts_args_type = "orgId: string, conversationId: string, call?: CallOptions",
        ts_return_type = "Promise<Conversation>"
    )]
    pub async fn get(
        &self,
        Arg(org_id): Arg<String>,
        Arg(conversation_id): Arg<String>,
    ) -> napi::Result<Outcome<Value>> {
        run!(self.inner, |s| Ok(record(
            &s.get_value(&org_id, &conversation_id, Camel).await?
        )))
    }

    /// Appends messages in one transaction.
    #[napi(
        ts_args_type = "orgId: string, conversationId: string, messages: Message[], call?: CallOptions",
        ts_return_type = "Promise<Appended>"
    )]
    pub async fn append(
        &self,
        Arg(org_id): Arg<String>,
        Arg(conversation_id): Arg<String>,
        Json(messages): Json,
    ) -> napi::Result<Outcome<Value>> {
        run!(self.inner, |s| Ok(record(
            &s.append_value(&org_id, &conversation_id, messages, Camel)
                .await?
        )))
    }

    /// The messages in order: those after `afterSeq` (default 0), at most `limit` (default
    /// 100).
    #[napi(
        ts_args_type = "orgId: string, conversationId: string, query?: MessageQuery | null, call?: CallOptions",
        ts_return_type = "Promise<StoredMessage[]>"
    )]
    pub async fn messages(
        &self,
        Arg(org_id): Arg<String>,
        Arg(conversation_id): Arg<String>,
        query: Option<Json>,
    ) -> napi::Result<Outcome<Value>> {
        let query = query.map(|q| q.0);
        run!(self.inner, |s| Ok(record(
            &s.messages_value(&org_id, &conversation_id, query, Camel, "query")
                .await?
        )))
    }

    /// Writes what a user discussed about an entity in a channel: one row per (user, channel,
    /// channelRef, entity).
    #[napi(
        ts_args_type = "entry: ContextEntryInput, call?: CallOptions",
        ts_return_type = "Promise<ContextEntry>"
    )]
    pub async fn upsert_context(&self, entry: Option<Json>) -> napi::Result<Outcome<Value>> {
        let entry = entry.map(|e| e.0);
        run!(self.inner, |s| Ok(record(
            &s.upsert_context_value(entry, Camel, "entry").await?
        )))
    }

    /// The context carried into `message` for the user; its `block` goes into the prompt.
    #[napi(
        ts_args_type = "orgId: string, userId: string, message: string, call?: CallOptions",
        ts_return_type = "Promise<PriorContext>"
    )]
    pub async fn prior_context(
        &self,
        Arg(org_id): Arg<String>,
        Arg(user_id): Arg<String>,
        Arg(message): Arg<String>,
    ) -> napi::Result<Outcome<Value>> {
        run!(self.inner, |s| Ok(record(
            &s.prior_context_value(&org_id, &user_id, &message, Camel)
                .await?
        )))
    }

    /// The user's context across web, Slack and agent runs for `query.message`
    /// (`query.channel` and `query.channelRef`: where they ask from, whose own rows are left
    /// out).
    #[napi(
        ts_args_type = "orgId: string, userId: string, query?: (ContextQuery & CallOptions) | null",
        ts_return_type = "Promise<PriorContext>"
    )]
    pub async fn context_for_user(
        &self,
        Arg(org_id): Arg<String>,
        Arg(user_id): Arg<String>,
        query: Option<Json>,
    ) -> napi::Result<Outcome<Value>> {
        let query = query.map(|q| q.0);
        run!(self.inner, |s| Ok(record(
            &s.context_for_user_value(&org_id, &user_id, query, Camel)
                .await?
        )))
    }

    /// Forgets what the user discussed about one entity, in every channel; logged.
    #[napi(
        ts_args_type = "orgId: string, userId: string, entityType: EntityType, entityId: string, call?: CallOptions",
        ts_return_type = "Promise<Forgotten>"
    )]
    pub async fn forget_context(
        &self,
        Arg(org_id): Arg<String>,
        Arg(user_id): Arg<String>,
        Arg(entity_type): Arg<String>,
        Arg(entity_id): Arg<String>,
    ) -> napi::Result<Outcome<Value>> {
        run!(self.inner, |s| Ok(record(
            &s.forget_context_value(&org_id, &user_id, &entity_type, &entity_id, Camel)
                .await?
        )))
    }

    /// Archives context rows untouched for `maxAgeDays` (default 14).
    #[napi(
        ts_args_type = "options?: ({ maxAgeDays?: number, batchSize?: number } & CallOptions) | null",
        ts_return_type = "Promise<{ archived: number }>"
    )]
    pub async fn archive_context(&self, options: Option<Json>) -> napi::Result<Outcome<Value>> {
        let options = options.map(|o| o.0);
        run!(self.inner, |s| Ok(record(
            &s.archive_context_value(options, Camel, "options").await?
        )))
    }

    /// Compacts the conversation when its view is over the threshold. `options.summarizer`
    /// (an async function of your own models) or else `llm` writes the summary (without
    /// either, the middle is trimmed); `options.model` needs `llm`.
    #[napi(
        ts_args_type = "orgId: string, conversationId: string, llm?: Llm | null, options?: (CompactOptions & CallOptions & { summarizer?: (task: HostSummaryTask) => unknown }) | null",
        ts_return_type = "Promise<Compacted>"
    )]
    pub fn compact(
        &self,
        env: Env,
        Arg(org_id): Arg<String>,
        Arg(conversation_id): Arg<String>,
        llm: Option<Arg<ClassInstance<'_, Llm>>>,
        options: Option<Json>,
        summarizer: Option<crate::transport::SendFn>,
    ) -> Outcome<AsyncBlock<Outcome<Value>>> {
        let (store, llm) = (self.inner.clone(), llm.map(|l| l.0.core().clone()));
        let summarizer = crate::transport::task_model(None, summarizer);
        let options = options.map(|o| o.0);
        Outcome(spawn(&env, async move {
            let done = store.compact_value_with(
                &org_id,
                &conversation_id,
                options,
                llm,
                summarizer,
                Camel,
                "options",
            );
            Ok(record(&done.await?))
        }))
    }

    /// The messages to send, under `options.threshold` (or `options.model`'s, with `llm`).
    #[napi(
        ts_args_type = "orgId: string, conversationId: string, llm?: Llm | null, options?: (ContextOptions & CallOptions) | null",
        ts_return_type = "Promise<ContextWindow>"
    )]
    pub fn context(
        &self,
        env: Env,
        Arg(org_id): Arg<String>,
        Arg(conversation_id): Arg<String>,
        llm: Option<Arg<ClassInstance<'_, Llm>>>,
        options: Option<Json>,
    ) -> Outcome<AsyncBlock<Outcome<Value>>> {
        let (store, llm) = (self.inner.clone(), llm.map(|l| l.0.core().clone()));
        let options = options.map(|o| o.0);
        Outcome(spawn(&env, async move {
            let window =
                store.context_value(&org_id, &conversation_id, options, llm, Camel, "options");
            Ok(record(&window.await?))
        }))
    }

    /// Stores facts for the user in one transaction. `options.link(kind, name)` returns the
    /// platform's id of a deal, contact or company a fact names (or give `entitySql`);
    /// `idempotencyKey` stores once.
    #[napi(
        ts_args_type = "orgId: string, userId: string, facts: NewFact[], options?: (AddFactsOptions & CallOptions) | null",
        ts_return_type = "Promise<Fact[]>"
    )]
    pub fn add_facts(
        &self,
        env: Env,
        Arg(org_id): Arg<String>,
        Arg(user_id): Arg<String>,
        Json(facts): Json,
        options: Option<Json>,
        link: Option<LinkFn>,
    ) -> Outcome<AsyncBlock<Outcome<Value>>> {
        let store = self.inner.clone();
        let mut options = match options.map(|o| o.0) {
            Some(Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        };
        options.insert("facts".into(), facts);
        let link = link.map(JsLinker);
        Outcome(spawn(&env, async move {
            let linker = link.as_ref().map(|l| l as &dyn EntityLinker);
            let options = Some(Value::Object(options));
            // The facts are an argument of their own: their errors name `facts[0]…`.
            let facts = store.add_facts_value(&org_id, &user_id, options, linker, Camel, "");
            Ok(record(&facts.await?))
        }))
    }

    /// The user's facts, newest first.
    #[napi(
        ts_args_type = "orgId: string, userId: string, query?: (FactQuery & CallOptions) | null",
        ts_return_type = "Promise<Fact[]>"
    )]
    pub async fn facts(
        &self,
        Arg(org_id): Arg<String>,
        Arg(user_id): Arg<String>,
        query: Option<Json>,
    ) -> napi::Result<Outcome<Value>> {
        let query = query.map(|q| q.0);
        run!(self.inner, |s| Ok(record(
            &s.facts_value(&org_id, &user_id, query, Camel, "query")
                .await?
        )))
    }

    /// The user's facts that best match `text`; `block` goes into the prompt.
    #[napi(
        ts_args_type = "orgId: string, userId: string, text: string, query?: (RecallQuery & CallOptions) | null",
        ts_return_type = "Promise<Recall>"
    )]
    pub async fn recall(
        &self,
        Arg(org_id): Arg<String>,
        Arg(user_id): Arg<String>,
        Arg(text): Arg<String>,
        query: Option<Json>,
    ) -> napi::Result<Outcome<Value>> {
        let query = query.map(|q| q.0);
        run!(self.inner, |s| Ok(record(
            &s.recall_value(&org_id, &user_id, &text, query, Camel, "query")
                .await?
        )))
    }

    /// Extracts facts from the conversation's turns through `llm`; `options.link` as in
    /// `addFacts`.
    #[napi(
        ts_args_type = "orgId: string, conversationId: string, llm: Llm, options?: (ExtractOptions & CallOptions) | null",
        ts_return_type = "Promise<Extracted>"
    )]
    pub fn extract_facts(
        &self,
        env: Env,
        Arg(org_id): Arg<String>,
        Arg(conversation_id): Arg<String>,
        llm: Arg<ClassInstance<'_, Llm>>,
        options: Option<Json>,
        link: Option<LinkFn>,
    ) -> Outcome<AsyncBlock<Outcome<Value>>> {
        let (store, llm) = (self.inner.clone(), llm.0.core().clone());
        let (options, link) = (options.map(|o| o.0), link.map(JsLinker));
        Outcome(spawn(&env, async move {
            let linker = link.as_ref().map(|l| l as &dyn EntityLinker);
            let done = store.extract_facts_value(
                &org_id,
                &conversation_id,
                options,
                &llm,
                linker,
                Camel,
                "options",
            );
            Ok(record(&done.await?))
        }))
    }
}

/// The "Prior Conversation Context" block for `message` from context rows (with
/// `lastUpdated`) at `options.now` (RFC 3339; the current time when absent). Pure.
#[napi(
    ts_args_type = "message: string, rows: ContextEntry[], options?: { now?: string | null } | null",
    ts_return_type = "PriorContext"
)]
pub fn format_prior_context(
    Arg(message): Arg<String>,
    Json(rows): Json,
    options: Option<Json>,
) -> Outcome<Value> {
    let options = options.map(|o| o.0);
    guard(|| {
        Ok(record(&memory::prior_context_value(
            &message, rows, options, Camel, "options",
        )?))
    })
}

/// Plans the compaction of a conversation view (messages, each with an optional `seq` and
/// `tokens`). Pure.
#[napi(
    ts_args_type = "messages: PlanMessage[], options?: PlanOptions | null",
    ts_return_type = "CompactionPlan"
)]
pub fn plan_compaction(Json(messages): Json, options: Option<Json>) -> Outcome<Value> {
    let options = options.map(|o| o.0);
    guard(|| {
        Ok(record(&memory::plan_value(
            messages, options, Camel, "options",
        )?))
    })
}

/// The `options.limit` (default 10) best of `facts` for `query` at `options.now` (RFC 3339):
/// what `recall` returns for the same facts. Pure.
#[napi(
    ts_args_type = "query: string, facts: RankFactInput[], options?: { now?: string | null, limit?: number | null } | null",
    ts_return_type = "RecalledFact[]"
)]
pub fn rank_facts(
    Arg(query): Arg<String>,
    Json(facts): Json,
    options: Option<Json>,
) -> Outcome<Value> {
    let mut options = match options.map(|o| o.0) {
        Some(Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    options.insert("facts".into(), facts);
    guard(|| {
        Ok(record(&memory::rank_facts_value(
            &query,
            Some(Value::Object(options)),
            Camel,
            "",
        )?))
    })
}

/// Reads a model's fact-extraction answer strictly: `options.seqs` (the turns it read) and
/// `options.known` (how many known facts it was shown). Pure.
#[napi(
    ts_args_type = "answer: string, options?: { seqs?: number[] | null, known?: number | null } | null",
    ts_return_type = "ExtractionReading"
)]
pub fn read_fact_extraction(Arg(answer): Arg<String>, options: Option<Json>) -> Outcome<Value> {
    let options = options.map(|o| o.0);
    guard(|| {
        Ok(record(&memory::read_extraction_value(
            &answer, options, Camel, "options",
        )?))
    })
}

/// The store on `keel` (behind `Keel.conversations`).
pub fn open_store(keel: &keel::Keel) -> ConversationStore {
    ConversationStore {
        inner: memory::ConversationStore::open(keel),
    }
}
