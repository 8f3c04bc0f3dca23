//! Memory's calls as a binding makes them (conversations, thresholds, plans, compaction and
//! the context window; cross-channel context's are in `context_calls`, facts' in
//! `fact_calls`): ids as text, keys, messages, queries and options as JSON whose keys are
//! spelt in the caller's [`Case`]. Every error names its field as the
//! caller spells it (`conversationId`, `messages[0].content[0].callId` in JavaScript), so the
//! bindings only convert types.

use std::sync::Arc;

use serde_json::Value;
use uuid::Uuid;

use super::compact::{CompactOptions, Compacted};
use super::conversation::{Appended, Conversation, StoredMessage, messages_from_value};
use super::plan::{Plan, PlanOptions, check_view, plan};
use super::store::ConversationStore;
use super::threshold::CompactionThreshold;
use super::view::ContextWindow;
use crate::error::{Error, Result};
use crate::llm::{Llm, Summarizer, TaskModel};
use crate::models::ModelRouter;
use crate::options::{Case, from_value, require_uuid};
use crate::tokens::stored_message_tokens;

pub(super) use crate::options::spelt;

/// The org and conversation ids.
fn ids(org_id: &str, conversation_id: &str) -> Result<(Uuid, Uuid)> {
    Ok((
        require_uuid("org_id", org_id)?,
        require_uuid("conversation_id", conversation_id)?,
    ))
}

impl ConversationStore {
    /// [`ConversationStore::start`] with the key as JSON (`root` names it in errors: `"key"`,
    /// or `""` for keyword arguments).
    ///
    /// # Errors
    /// As `start`, and [`Error::InvalidInput`] for a key that does not deserialize.
    pub async fn start_value(
        &self,
        key: Option<Value>,
        case: Case,
        root: &str,
    ) -> Result<Conversation> {
        let key = from_value(key, case, root)?;
        self.start(&key).await.map_err(|e| spelt(e, case))
    }

    /// [`ConversationStore::get`] with the ids as text.
    ///
    /// # Errors
    /// As `get`, and [`Error::InvalidInput`] for an id that is not a UUID.
    pub async fn get_value(
        &self,
        org_id: &str,
        conversation_id: &str,
        case: Case,
    ) -> Result<Conversation> {
        let call = async {
            let (org, conversation) = ids(org_id, conversation_id)?;
            self.get(org, conversation).await
        };
        call.await.map_err(|e| spelt(e, case))
    }

    /// [`ConversationStore::append`] with the ids as text and the messages as a JSON list.
    ///
    /// # Errors
    /// As `append`, and [`Error::InvalidInput`] for an id that is not a UUID or messages that
    /// do not deserialize (naming the message and field).
    pub async fn append_value(
        &self,
        org_id: &str,
        conversation_id: &str,
        messages: Value,
        case: Case,
    ) -> Result<Appended> {
        let call = async {
            let (org, conversation) = ids(org_id, conversation_id)?;
            let messages = messages_from_value(messages, case)?;
            self.append(org, conversation, &messages).await
        };
        call.await.map_err(|e| spelt(e, case))
    }

    /// [`ConversationStore::messages`] with the ids as text and the query as JSON (`root`
    /// names it in errors).
    ///
    /// # Errors
    /// As `messages`, and [`Error::InvalidInput`] for an id that is not a UUID or a query that
    /// does not deserialize.
    pub async fn messages_value(
        &self,
        org_id: &str,
        conversation_id: &str,
        query: Option<Value>,
        case: Case,
        root: &str,
    ) -> Result<Vec<StoredMessage>> {
        let query = from_value(query, case, root)?;
        let call = async {
            let (org, conversation) = ids(org_id, conversation_id)?;
            self.messages(org, conversation, &query).await
        };
        call.await.map_err(|e| spelt(e, case))
    }
}

impl CompactionThreshold {
    /// [`ModelRouter::compaction_threshold`] with the options as JSON (`root` names them in
    /// errors: `"options"`, or `""` for keyword arguments).
    ///
    /// # Errors
    /// As `compaction_threshold`, and [`Error::InvalidInput`] for options that do not
    /// deserialize.
    pub fn of_value(
        router: &ModelRouter,
        model: &str,
        options: Option<Value>,
        case: Case,
        root: &str,
    ) -> Result<Self> {
        let options = from_value(options, case, root)?;
        router
            .compaction_threshold(model, &options)
            .map_err(|e| spelt(e, case))
    }
}

/// A count a binding passed: a non-negative integer, or absent.
fn take_count(
    object: &mut serde_json::Map<String, Value>,
    key: &str,
    field: &str,
) -> Result<Option<u64>> {
    match object.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_u64()
            .map(Some)
            .ok_or_else(|| Error::invalid_input(field, "must be a non-negative integer")),
    }
}

/// An options object a binding passed (`None` or `null` for none); `root` names it in errors.
fn options_object(options: Option<Value>, root: &str) -> Result<serde_json::Map<String, Value>> {
    match options {
        None | Some(Value::Null) => Ok(serde_json::Map::new()),
        Some(Value::Object(object)) => Ok(object),
        Some(_) => Err(Error::invalid_input(
            if root.is_empty() { "options" } else { root },
            "must be an object",
        )),
    }
}

/// [`plan()`] as a binding calls it: the view as a JSON list of messages (each with an
/// optional `seq`, its place from 1 by default, and `tokens`, counted as the store counts them when absent), and the
/// options as JSON ([`PlanOptions`] and `earlier_summary_tokens`, the tokens of the summary
/// the view already has; `root` names them in errors).
///
/// # Errors
/// [`Error::InvalidInput`] naming the field as `case` spells it: a message that does not
/// deserialize, seqs that do not rise, a tool result without its call, options
/// [`PlanOptions::from_value`] refuses.
pub fn plan_value(messages: Value, options: Option<Value>, case: Case, root: &str) -> Result<Plan> {
    let call = || {
        let Value::Array(items) = messages else {
            return Err(Error::invalid_input(
                "messages",
                "must be a list of messages",
            ));
        };
        let mut counts = Vec::with_capacity(items.len());
        let mut turns = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let Value::Object(mut object) = item else {
                return Err(Error::invalid_input(
                    format!("messages[{i}]"),
                    "must be an object",
                ));
            };
            let seq = take_count(&mut object, "seq", &format!("messages[{i}].seq"))?;
            let tokens = take_count(&mut object, "tokens", &format!("messages[{i}].tokens"))?;
            counts.push((seq.unwrap_or(i as u64 + 1), tokens));
            turns.push(Value::Object(object));
        }
        let view: Vec<StoredMessage> = messages_from_value(Value::Array(turns), case)?
            .into_iter()
            .zip(counts)
            .map(|(m, (seq, tokens))| StoredMessage {
                seq,
                tokens: tokens.unwrap_or_else(|| stored_message_tokens(&m).0),
                tokens_exact: false,
                role: m.role,
                content: m.content,
                created_at: String::new(),
            })
            .collect();
        check_view(&view)?;
        let mut options = options_object(options, root)?;
        let key = case.spell("earlier_summary_tokens");
        let earlier = take_count(&mut options, &key, "earlier_summary_tokens")?.unwrap_or(0);
        let options = PlanOptions::from_value(Some(Value::Object(options)), case, root)?;
        Ok(plan(&view, earlier, &options))
    };
    call().map_err(|e| spelt(e, case))
}

/// The options object of [`ConversationStore::compact_value`] and `context_value`: the
/// [`PlanOptions`] fields, or `model` for the threshold the model matrix gives it (through
/// `llm`'s router); `idempotency_key`, `summary_timeout_ms`, and `summary_provider` with
/// `summary_model` for an explicit summary model (else the router's copilot model, low tier).
fn compact_options(
    options: Option<Value>,
    llm: Option<&Llm>,
    case: Case,
    root: &str,
) -> Result<CompactOptions> {
    let mut object = options_object(options, root)?;
    let field = |key: &str| match root {
        "" => key.to_owned(),
        root => format!("{root}.{key}"),
    };
    let mut string = |key: &str| match object.remove(&case.spell(key)) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Error::invalid_input(field(key), "must be a string")),
    };
    let model = string("model")?;
    let idempotency_key = string("idempotency_key")?;
    let summary_provider = string("summary_provider")?;
    let summary_model = string("summary_model")?;
    let timeout = take_count(
        &mut object,
        &case.spell("summary_timeout_ms"),
        &field("summary_timeout_ms"),
    )?;
    if let Some(model) = model {
        if object.contains_key(&case.spell("threshold")) {
            return Err(Error::invalid_input(
                field("threshold"),
                "give model or threshold, not both",
            ));
        }
        let llm = llm.ok_or_else(|| {
            Error::invalid_input(
                field("model"),
                "needs an Llm to read the model matrix; or give threshold",
            )
        })?;
        let threshold = llm
            .router()
            .compaction_threshold(&model, &Default::default())
            .map_err(|e| match e {
                Error::InvalidInput { message, .. } => {
                    Error::invalid_input(field("model"), message)
                }
                other => other,
            })?;
        object.insert(case.spell("threshold"), threshold.threshold.into());
    }
    let mut compact = CompactOptions {
        plan: PlanOptions::from_value(Some(Value::Object(object)), case, root)?,
        idempotency_key,
        ..CompactOptions::default()
    };
    explicit_model(
        &mut compact.summary_call,
        (summary_provider, summary_model),
        ["summary_provider", "summary_model"],
        field,
    )?;
    if let Some(ms) = timeout {
        compact.summary_timeout = std::time::Duration::from_millis(ms.max(1));
    }
    Ok(compact)
}

/// Points `call` at an explicit model when the options name both its provider and the model
/// (the router's feature and tier then no longer choose); `keys` are the two options' names
/// and `field` spells them in errors.
///
/// # Errors
/// [`Error::InvalidInput`]: a provider the router does not know (on the first key), one of
/// the two without the other (on the second).
pub(crate) fn explicit_model(
    call: &mut crate::llm::CallRequest,
    (provider, model): (Option<String>, Option<String>),
    keys: [&str; 2],
    field: impl Fn(&str) -> String,
) -> Result<()> {
    match (provider, model) {
        (Some(provider), Some(model)) => {
            let provider = crate::models::canonical_provider(&provider)
                .map_err(|e| Error::invalid_input(field(keys[0]), e.to_string()))?;
            call.provider = Some(provider);
            call.model = Some(model);
            (call.feature, call.tier) = (None, None);
            Ok(())
        }
        (None, None) => Ok(()),
        _ => Err(Error::invalid_input(
            field(keys[1]),
            format!("{} and {} come together", keys[0], keys[1]),
        )),
    }
}

impl ConversationStore {
    /// [`ConversationStore::compact`] with the ids as text and the options as JSON (see
    /// `compact_options`), summarised by `llm` when given (else trimmed).
    ///
    /// # Errors
    /// As `compact`, and [`Error::InvalidInput`] for an id that is not a UUID, options that
    /// do not deserialize, a model the matrix does not know.
    pub async fn compact_value(
        &self,
        org_id: &str,
        conversation_id: &str,
        options: Option<Value>,
        llm: Option<Llm>,
        case: Case,
        root: &str,
    ) -> Result<Compacted> {
        self.compact_value_with(org_id, conversation_id, options, llm, None, case, root)
            .await
    }

    /// [`ConversationStore::compact_value`] summarised by the host's `summarizer` (a Kotlin
    /// or Swift callback) instead of a model client; `model` is not an option then (it
    /// needs the client's matrix).
    ///
    /// # Errors
    /// As `compact_value`.
    pub async fn compact_value_by(
        &self,
        org_id: &str,
        conversation_id: &str,
        options: Option<Value>,
        summarizer: &dyn Summarizer,
        case: Case,
        root: &str,
    ) -> Result<Compacted> {
        let ids = (org_id, conversation_id);
        self.compact_call(ids, options, None, Some(summarizer), case, root)
            .await
    }

    /// [`ConversationStore::compact_value`] with the summary written by `summarizer` when
    /// given (Keel's client, or the host's own function), else by `llm`; `llm` resolves the
    /// `model` option either way.
    ///
    /// # Errors
    /// As `compact_value`.
    #[allow(clippy::too_many_arguments)]
    pub async fn compact_value_with(
        &self,
        org_id: &str,
        conversation_id: &str,
        options: Option<Value>,
        llm: Option<Llm>,
        summarizer: Option<TaskModel>,
        case: Case,
        root: &str,
    ) -> Result<Compacted> {
        let summarizer = match summarizer {
            Some(model) => Some(model.summarizer()),
            None => llm.clone().map(|l| Arc::new(l) as Arc<dyn Summarizer>),
        };
        let ids = (org_id, conversation_id);
        self.compact_call(
            ids,
            options,
            llm.as_ref(),
            summarizer.as_deref(),
            case,
            root,
        )
        .await
    }

    /// `compact_value` and `compact_value_by`: the ids and options parsed (`llm` resolves the
    /// `model` option), then [`ConversationStore::compact`] with `summarizer`.
    async fn compact_call(
        &self,
        (org_id, conversation_id): (&str, &str),
        options: Option<Value>,
        llm: Option<&Llm>,
        summarizer: Option<&dyn Summarizer>,
        case: Case,
        root: &str,
    ) -> Result<Compacted> {
        let call = async {
            let (org, conversation) = ids(org_id, conversation_id)?;
            let options = compact_options(options, llm, case, root)?;
            self.compact(org, conversation, &options, summarizer).await
        };
        call.await.map_err(|e| spelt(e, case))
    }

    /// [`ConversationStore::context`] with the ids as text and the options as JSON
    /// (`threshold`, or `model` with `llm`).
    ///
    /// # Errors
    /// As `context`, and [`Error::InvalidInput`] as `compact_value`.
    pub async fn context_value(
        &self,
        org_id: &str,
        conversation_id: &str,
        options: Option<Value>,
        llm: Option<Llm>,
        case: Case,
        root: &str,
    ) -> Result<ContextWindow> {
        let call = async {
            let (org, conversation) = ids(org_id, conversation_id)?;
            let options = compact_options(options, llm.as_ref(), case, root)?;
            self.context(org, conversation, options.plan.threshold)
                .await
        };
        call.await.map_err(|e| spelt(e, case))
    }
}
