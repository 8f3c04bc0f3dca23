//! `Keel.conversations`, `ConversationStore`, `planCompaction`, and the `Summarizer` and
//! `EntityResolver` callbacks (core: `keel::memory`). Messages, options and results are JSON text (camelCase: Node's
//! `Message`, `CompactOptions`, `Compacted`, `CompactionPlan`).

use std::sync::Arc;

use futures_util::future::BoxFuture;
use keel::llm::{Summary, SummaryRequest};
use keel::memory::{self, EntityKind, EntityLinker};
use keel::options::Case::Camel;
use serde_json::Value;

use crate::error::KeelError;
use crate::json::{record, value};
use crate::llm::Llm;
use crate::runtime::{on_own_thread, run};
use crate::store::Keel;

/// Plans the compaction of a conversation view (`messagesJson`: messages, each with an
/// optional `seq` and `tokens`; `optionsJson`: Node's `PlanOptions`); the plan as JSON. Pure.
///
/// # Errors
/// `invalid_input` naming the field at fault.
#[uniffi::export(default(options_json = None))]
pub fn plan_compaction(
    messages_json: String,
    options_json: Option<String>,
) -> Result<String, KeelError> {
    let messages = value(Some(&messages_json), "messages")?.unwrap_or_default();
    let options = value(options_json.as_deref(), "options")?;
    Ok(record(&memory::plan_value(
        messages, options, Camel, "options",
    )?))
}

/// Writes compaction summaries in the host (a Kotlin or Swift function, say over the
/// platform's own model client). Called on a thread of its own: it may block.
#[uniffi::export(with_foreign)]
pub trait Summarizer: Send + Sync {
    /// A summary of `text` keeping what `instructions` asks for.
    ///
    /// # Errors
    /// Any exception: the compaction then trims the middle instead, its note saying why (as
    /// when the summary takes longer than `summaryTimeoutMs`).
    fn summarize(&self, text: String, instructions: Option<String>) -> Result<String, KeelError>;
}

/// A host summarizer as core calls one.
struct Host(Arc<dyn Summarizer>);

impl keel::llm::Summarizer for Host {
    fn summarize<'a>(
        &'a self,
        request: &'a SummaryRequest,
    ) -> BoxFuture<'a, keel::Result<Summary>> {
        let (host, text) = (self.0.clone(), request.text.clone());
        let instructions = request.instructions.clone();
        Box::pin(async move {
            // Core's note names the summarizer ("the summarizer failed: …").
            let text = on_own_thread(move || host.summarize(text, instructions))
                .await
                .map_err(keel::Error::Internal)?;
            Ok(Summary {
                // Blank text is no summary (core reads a host's answer once).
                text: keel::llm::read_summary(&Value::String(text))?,
                completion: None,
            })
        })
    }
}

/// Finds the platform's id of a deal, contact or company a fact names (a Kotlin or Swift
/// lookup over the platform's own tables). Called on a thread of its own: it may block.
#[uniffi::export(with_foreign)]
pub trait EntityResolver: Send + Sync {
    /// The id of the `kind` (`deal`, `contact`, `company`) named `name` that `user_id` of
    /// `org_id` may see, or null.
    ///
    /// # Errors
    /// Any exception: the facts are then refused (`invalid_input` on `link`), none stored.
    fn resolve(
        &self,
        org_id: String,
        user_id: String,
        kind: String,
        name: String,
    ) -> Result<Option<String>, KeelError>;
}

/// A host resolver as core calls one.
pub(crate) struct HostLinker(pub(crate) Arc<dyn EntityResolver>);

impl EntityLinker for HostLinker {
    fn link<'a>(
        &'a self,
        org: uuid::Uuid,
        user: &'a str,
        kind: EntityKind,
        name: &'a str,
    ) -> BoxFuture<'a, keel::Result<Option<String>>> {
        let (host, user, name) = (self.0.clone(), user.to_owned(), name.to_owned());
        Box::pin(async move {
            let kind = kind.as_str().to_owned();
            on_own_thread(move || host.resolve(org.to_string(), user, kind, name))
                .await
                .map_err(|e| {
                    keel::Error::invalid_input("link", format!("the resolver failed: {e}"))
                })
        })
    }
}

/// Conversations, their messages and compactions; make it with `keel.conversations()`.
#[derive(uniffi::Object)]
pub struct ConversationStore {
    pub(crate) inner: memory::ConversationStore,
}

#[uniffi::export]
impl Keel {
    /// The conversation store.
    pub fn conversations(&self) -> Arc<ConversationStore> {
        Arc::new(ConversationStore {
            inner: memory::ConversationStore::open(&self.inner),
        })
    }
}

#[uniffi::export]
impl ConversationStore {
    /// Opens the conversation of `keyJson` (`orgId`, `userId`, `channel`, `channelRef`), or
    /// returns the one already open; as JSON.
    ///
    /// # Errors
    /// `invalid_input` naming the field at fault; storage errors.
    pub async fn start(&self, key_json: String) -> Result<String, KeelError> {
        let store = self.inner.clone();
        run(async move {
            let key = value(Some(&key_json), "key")?;
            Ok(record(&store.start_value(key, Camel, "key").await?))
        })
        .await
    }

    /// Appends `messagesJson` (a `Message[]`) in one transaction; as JSON (`Appended`).
    ///
    /// # Errors
    /// `invalid_input` naming the message at fault; storage errors.
    pub async fn append(
        &self,
        org_id: String,
        conversation_id: String,
        messages_json: String,
    ) -> Result<String, KeelError> {
        let store = self.inner.clone();
        run(async move {
            let messages = value(Some(&messages_json), "messages")?.unwrap_or_default();
            let appended = store.append_value(&org_id, &conversation_id, messages, Camel);
            Ok(record(&appended.await?))
        })
        .await
    }

    /// The messages in order (`queryJson`: `afterSeq`, default 0; `limit`, default 100).
    ///
    /// # Errors
    /// `invalid_input` naming the argument; storage errors.
    #[uniffi::method(default(query_json = None))]
    pub async fn messages(
        &self,
        org_id: String,
        conversation_id: String,
        query_json: Option<String>,
    ) -> Result<String, KeelError> {
        let store = self.inner.clone();
        run(async move {
            let query = value(query_json.as_deref(), "query")?;
            let found = store.messages_value(&org_id, &conversation_id, query, Camel, "query");
            Ok(record(&found.await?))
        })
        .await
    }

    /// Compacts the conversation when its view is over the threshold (`optionsJson`: Node's
    /// `CompactOptions`). `llm` writes the summary (without it, the middle is trimmed);
    /// `model` needs it. As JSON (`Compacted`).
    ///
    /// # Errors
    /// `invalid_input` naming the option; the summary call's failure.
    #[uniffi::method(default(llm = None, options_json = None))]
    pub async fn compact(
        &self,
        org_id: String,
        conversation_id: String,
        llm: Option<Arc<Llm>>,
        options_json: Option<String>,
    ) -> Result<String, KeelError> {
        let (store, llm) = (self.inner.clone(), llm.map(|l| l.inner.clone()));
        run(async move {
            let options = value(options_json.as_deref(), "options")?;
            let done =
                store.compact_value(&org_id, &conversation_id, options, llm, Camel, "options");
            Ok(record(&done.await?))
        })
        .await
    }

    /// `compact`, with the summary written by the host's `summarizer`.
    ///
    /// # Errors
    /// As `compact`. A summarizer that throws does not fail the call: the compaction trims
    /// instead, its note saying why.
    #[uniffi::method(default(options_json = None))]
    pub async fn compact_with(
        &self,
        org_id: String,
        conversation_id: String,
        summarizer: Arc<dyn Summarizer>,
        options_json: Option<String>,
    ) -> Result<String, KeelError> {
        let store = self.inner.clone();
        run(async move {
            let options = value(options_json.as_deref(), "options")?;
            let host = Host(summarizer);
            let done =
                store.compact_value_by(&org_id, &conversation_id, options, &host, Camel, "options");
            Ok(record(&done.await?))
        })
        .await
    }

    /// Stores `factsJson` (a `NewFact[]`) for the user in one transaction; `resolver` turns
    /// the deal, contact and company names they carry into the platform's ids (or give
    /// `entitySql` in `optionsJson`); `idempotencyKey` stores once. The facts as JSON.
    ///
    /// # Errors
    /// `invalid_input` naming the fact and field at fault (`facts[0].category`), or `link`
    /// when the resolver throws; nothing is stored then.
    #[uniffi::method(default(resolver = None, options_json = None))]
    pub async fn add_facts(
        &self,
        org_id: String,
        user_id: String,
        facts_json: String,
        resolver: Option<Arc<dyn EntityResolver>>,
        options_json: Option<String>,
    ) -> Result<String, KeelError> {
        let store = self.inner.clone();
        run(async move {
            let facts = value(Some(&facts_json), "facts")?.unwrap_or_default();
            let mut options = match value(options_json.as_deref(), "options")? {
                Some(Value::Object(map)) => map,
                _ => serde_json::Map::new(),
            };
            options.insert("facts".into(), facts);
            let linker = resolver.map(HostLinker);
            let linker = linker.as_ref().map(|l| l as &dyn EntityLinker);
            // The facts are an argument of their own: their errors name `facts[0]…`.
            let options = Some(Value::Object(options));
            let stored = store.add_facts_value(&org_id, &user_id, options, linker, Camel, "");
            Ok(record(&stored.await?))
        })
        .await
    }

    /// The user's facts best matching `text` (`queryJson`: `limit`, …), as JSON (`Recall`).
    ///
    /// # Errors
    /// `invalid_input` naming the argument; storage errors.
    #[uniffi::method(default(query_json = None))]
    pub async fn recall(
        &self,
        org_id: String,
        user_id: String,
        text: String,
        query_json: Option<String>,
    ) -> Result<String, KeelError> {
        let store = self.inner.clone();
        run(async move {
            let query = value(query_json.as_deref(), "query")?;
            let found = store.recall_value(&org_id, &user_id, &text, query, Camel, "query");
            Ok(record(&found.await?))
        })
        .await
    }

    /// The messages to send, under `optionsJson.threshold` (or `model`'s, with `llm`); as
    /// JSON (`ContextWindow`).
    ///
    /// # Errors
    /// As `compact`.
    #[uniffi::method(default(llm = None, options_json = None))]
    pub async fn context(
        &self,
        org_id: String,
        conversation_id: String,
        llm: Option<Arc<Llm>>,
        options_json: Option<String>,
    ) -> Result<String, KeelError> {
        let (store, llm) = (self.inner.clone(), llm.map(|l| l.inner.clone()));
        run(async move {
            let options = value(options_json.as_deref(), "options")?;
            let window =
                store.context_value(&org_id, &conversation_id, options, llm, Camel, "options");
            Ok(record(&window.await?))
        })
        .await
    }
}
