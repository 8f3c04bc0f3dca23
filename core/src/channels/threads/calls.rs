//! Threads' calls as a binding makes them: arguments as one JSON object in the caller's
//! [`Case`], records back as JSON in that case, errors naming the field as the caller spells
//! it.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::extract::{ThreadReading, TranscriptMessage, read_thread_context, thread_transcript};
use super::record::{
    ActiveEntities, ThreadAppend, ThreadKey, ThreadMessage, ThreadOptions, ThreadTurn,
};
use super::store::ThreadStore;
use super::sweep::{ExtractThreadOptions, SweepOptions};
use crate::Keel;
use crate::channels::slack::{Ingested, SkippedEvent, ingest};
use crate::error::{Error, Result};
use crate::llm::{Llm, Summarizer};
use crate::memory::{EntityLinker, EntitySql};
use crate::options::{Calls, Case, de, from_value, rooted, spelt};
use crate::record::to_value;

/// The calls [`ThreadStore::call_value`] answers.
pub const THREAD_CALLS: [&str; 7] = [
    "get_or_create",
    "get",
    "add_messages",
    "ingest",
    "record_turn",
    "set_active",
    "history",
];

/// What [`ThreadStore::ingest`] did: the messages stored, and what the payload held that
/// was not a new message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThreadIngest {
    /// The thread.
    pub thread_id: Uuid,
    /// Messages stored now.
    pub added: u64,
    /// Messages whose `ts` the thread already had, skipped.
    pub duplicates: u64,
    /// The seqs the stored ones took, first and last.
    pub seqs: Option<[u64; 2]>,
    /// The thread's Slack messages now.
    pub message_count: u64,
    /// True when extraction is due now.
    pub extraction_due: bool,
    /// When extraction is due.
    pub extraction_due_at: Option<String>,
    /// Slack `ts` of deleted messages (the transcript keeps what was said).
    pub deleted: Vec<String>,
    /// Edits applied to messages of the payload before storing.
    pub edits: usize,
    /// Events that were not messages, and why.
    pub skipped: Vec<SkippedEvent>,
}

/// The org and thread every call but `get_or_create` names.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThreadRef {
    #[serde(deserialize_with = "de::uuid")]
    org_id: Uuid,
    #[serde(deserialize_with = "de::uuid")]
    thread_id: Uuid,
}

/// A call's arguments: the org and thread, and the call's own (each struct lists them, since
/// serde cannot refuse unknown fields through `flatten`).
macro_rules! thread_args {
    ($name:ident { $($field:ident: $ty:ty),* $(,)? }) => {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct $name {
            #[serde(deserialize_with = "de::uuid")]
            org_id: Uuid,
            #[serde(deserialize_with = "de::uuid")]
            thread_id: Uuid,
            $(#[serde(default)] $field: $ty,)*
        }
    };
}

thread_args!(AddArgs { messages: Vec<ThreadMessage> });
thread_args!(IngestArgs { payload: Value, bot_user_id: Option<String> });
thread_args!(TurnArgs { intent: Option<String>, credits: f64, action: Option<Value> });
thread_args!(ActiveArgs {
    deal_id: Option<String>,
    contact_id: Option<String>,
    company_id: Option<String>,
    meeting_id: Option<String>,
    loaded_context: Option<Value>,
});
thread_args!(HistoryArgs { limit: Option<u32> });

/// An optional id argument.
fn opt_uuid(field: &str, id: Option<String>) -> Result<Option<Uuid>> {
    id.map(|id| crate::options::require_uuid(field, &id))
        .transpose()
}

/// The options of an extraction or a sweep as a binding passes them.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ExtractArgs {
    #[serde(deserialize_with = "de::opt_uuid")]
    org_id: Option<Uuid>,
    #[serde(deserialize_with = "de::opt_uuid")]
    thread_id: Option<Uuid>,
    /// An explicit model with `provider` (else the router's enrichment model, low tier).
    provider: Option<String>,
    model: Option<String>,
    transcript_tokens: Option<u64>,
    timeout_ms: Option<u64>,
    limit: Option<u32>,
    lease_ms: Option<u64>,
    entity_sql: Option<EntitySql>,
}

/// What [`thread_transcript_value`] returns.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThreadTranscript {
    /// The text the model reads.
    pub text: String,
    /// The seqs read, first and last.
    pub range: Option<[u64; 2]>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TranscriptInput {
    seq: u64,
    role: crate::llm::Role,
    text: String,
    tokens: u64,
}

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct TranscriptOptions {
    previous: Option<String>,
    budget: u64,
}

impl Default for TranscriptOptions {
    fn default() -> Self {
        Self {
            previous: None,
            budget: super::extract::TRANSCRIPT_TOKENS,
        }
    }
}

/// [`read_thread_context`] as a binding calls it. Pure.
///
/// # Errors
/// [`Error::InvalidInput`] on `answer` when it is unusable as a whole (why, in the message).
pub fn read_thread_context_value(answer: &str) -> Result<ThreadReading> {
    read_thread_context(answer).map_err(|why| Error::invalid_input("answer", why))
}

/// [`thread_transcript`] as a binding calls it: `messages` (each `seq`, `role`, `text`,
/// `tokens`, oldest first), `options` `previous` (the summary so far) and `budget` (tokens,
/// default 3,000). Pure.
///
/// # Errors
/// [`Error::InvalidInput`] for messages or options that do not deserialize, or `budget` 0.
pub fn thread_transcript_value(
    messages: Value,
    options: Option<Value>,
    case: Case,
    root: &str,
) -> Result<ThreadTranscript> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Messages {
        messages: Vec<TranscriptInput>,
    }
    let call = || {
        let options: TranscriptOptions = from_value(options, case, root)?;
        if options.budget == 0 {
            return Err(rooted(
                Error::invalid_input("budget", "must be at least 1"),
                root,
            ));
        }
        let wrapped = Some(serde_json::json!({ "messages": messages }));
        let Messages { messages } = from_value(wrapped, case, "")?;
        let messages: Vec<TranscriptMessage> = messages
            .into_iter()
            .map(|m| TranscriptMessage {
                seq: m.seq,
                role: m.role,
                text: m.text,
                tokens: m.tokens,
            })
            .collect();
        let (text, range) =
            thread_transcript(options.previous.as_deref(), &messages, options.budget);
        Ok(ThreadTranscript { text, range })
    };
    call().map_err(|e| spelt(e, case))
}

impl ThreadStore {
    /// A store over `keel` with its options as JSON ([`ThreadOptions`]).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the option.
    pub fn open_value(keel: &Keel, options: Option<Value>, case: Case, root: &str) -> Result<Self> {
        let options: ThreadOptions = from_value(options, case, root)?;
        ThreadStore::open(keel, options).map_err(|e| spelt(rooted(e, root), case))
    }

    /// Ingests a Slack payload ([`ingest`]: a `conversations.replies` page, message objects
    /// or Events API payloads) into the thread: its messages are added, each `ts` once.
    ///
    /// # Errors
    /// As [`ingest`] and [`ThreadStore::add_messages`].
    pub async fn ingest(
        &self,
        org: Uuid,
        thread: Uuid,
        payload: &Value,
        bot_user_id: Option<&str>,
    ) -> Result<ThreadIngest> {
        let Ingested {
            messages,
            deleted,
            edits,
            skipped,
        } = ingest(payload, bot_user_id)?;
        let messages: Vec<ThreadMessage> = messages.iter().map(ThreadMessage::from_slack).collect();
        let mut append = ThreadAppend {
            thread_id: thread,
            added: 0,
            duplicates: 0,
            seqs: None,
            message_count: 0,
            extraction_due: false,
            extraction_due_at: None,
        };
        for chunk in messages.chunks(super::record::MAX_THREAD_BATCH).chain(
            // An empty payload still checks the thread.
            messages.is_empty().then_some(&[][..]),
        ) {
            let done = self.add_messages(org, thread, chunk).await?;
            append = ThreadAppend {
                added: append.added + done.added,
                duplicates: append.duplicates + done.duplicates,
                seqs: match (append.seqs, done.seqs) {
                    (Some([a, _]), Some([_, b])) => Some([a, b]),
                    (a, b) => b.or(a),
                },
                ..done
            };
        }
        Ok(ThreadIngest {
            thread_id: thread,
            added: append.added,
            duplicates: append.duplicates,
            seqs: append.seqs,
            message_count: append.message_count,
            extraction_due: append.extraction_due,
            extraction_due_at: append.extraction_due_at,
            deleted,
            edits,
            skipped,
        })
    }

    /// [`ThreadStore::extract`] (`op` `extract`, with `org_id` and `thread_id`) or
    /// [`ThreadStore::sweep`] (`op` `sweep`) through `llm`, with the options as JSON:
    /// `provider` with `model`, `transcript_tokens`, `timeout_ms`, `limit`, `lease_ms`,
    /// `entity_sql` (used when there is no `callback` linker).
    ///
    /// # Errors
    /// As the call, and [`Error::InvalidInput`] for options that do not deserialize, a missing
    /// `org_id` or `thread_id` for `extract`, `provider` without `model`, an unknown `op`.
    pub async fn extract_value(
        &self,
        op: &str,
        args: Option<Value>,
        llm: &Llm,
        callback: Option<&dyn EntityLinker>,
        case: Case,
    ) -> Result<Value> {
        let call = async {
            let a: ExtractArgs = from_value(args, case, "")?;
            let mut extract = ExtractThreadOptions::default();
            crate::memory::explicit_model(
                &mut extract.call,
                (a.provider, a.model),
                ["provider", "model"],
                str::to_owned,
            )?;
            if let Some(tokens) = a.transcript_tokens {
                extract.transcript_tokens = tokens.max(1);
            }
            if let Some(ms) = a.timeout_ms {
                extract.timeout = Duration::from_millis(ms.max(1));
            }
            let mut owned = None;
            let linker =
                crate::memory::linker(&self.conversations, callback, a.entity_sql, &mut owned);
            let summarizer = llm as &dyn Summarizer;
            match op {
                "extract" => {
                    let org = a
                        .org_id
                        .ok_or_else(|| Error::invalid_input("org_id", "is required"))?;
                    let thread = a
                        .thread_id
                        .ok_or_else(|| Error::invalid_input("thread_id", "is required"))?;
                    let done = self
                        .extract(org, thread, &extract, summarizer, linker)
                        .await?;
                    Ok(to_value(&done, case))
                }
                "sweep" => {
                    let mut options = SweepOptions {
                        extract,
                        ..SweepOptions::default()
                    };
                    options.limit = a.limit.unwrap_or(options.limit);
                    options.lease_ms = a.lease_ms.unwrap_or(options.lease_ms);
                    let done = self.sweep(&options, summarizer, linker).await?;
                    Ok(to_value(&done, case))
                }
                other => Err(Error::invalid_input(
                    "op",
                    format!("unknown extraction call {other}; extract or sweep"),
                )),
            }
        };
        call.await.map_err(|e| spelt(e, case))
    }
}

impl Calls for ThreadStore {
    /// Runs the thread call `op` (one of [`THREAD_CALLS`]) on `args` and returns its result as
    /// JSON in `case`.
    ///
    /// # Errors
    /// As the call; [`Error::InvalidInput`] naming the argument, or `op` when unknown.
    async fn call_op(&self, op: &str, args: Option<Value>, case: Case) -> Result<Value> {
        Ok(match op {
            "get_or_create" => {
                let key: ThreadKey = from_value(args, case, "")?;
                to_value(&self.get_or_create(&key).await?, case)
            }
            "get" => {
                let a: ThreadRef = from_value(args, case, "")?;
                to_value(&self.get(a.org_id, a.thread_id).await?, case)
            }
            "add_messages" => {
                let a: AddArgs = from_value(args, case, "")?;
                let done = self
                    .add_messages(a.org_id, a.thread_id, &a.messages)
                    .await?;
                to_value(&done, case)
            }
            "ingest" => {
                let a: IngestArgs = from_value(args, case, "")?;
                let done = self
                    .ingest(a.org_id, a.thread_id, &a.payload, a.bot_user_id.as_deref())
                    .await?;
                to_value(&done, case)
            }
            "record_turn" => {
                let a: TurnArgs = from_value(args, case, "")?;
                let turn = ThreadTurn {
                    intent: a.intent,
                    credits: a.credits,
                    action: a.action,
                };
                let thread = self.record_turn(a.org_id, a.thread_id, &turn).await?;
                to_value(&thread, case)
            }
            "set_active" => {
                let a: ActiveArgs = from_value(args, case, "")?;
                let active = ActiveEntities {
                    deal_id: opt_uuid("deal_id", a.deal_id)?,
                    contact_id: opt_uuid("contact_id", a.contact_id)?,
                    company_id: opt_uuid("company_id", a.company_id)?,
                    meeting_id: opt_uuid("meeting_id", a.meeting_id)?,
                };
                let thread = self
                    .set_active(a.org_id, a.thread_id, &active, a.loaded_context.as_ref())
                    .await?;
                to_value(&thread, case)
            }
            "history" => {
                let a: HistoryArgs = from_value(args, case, "")?;
                let items = self
                    .history(a.org_id, a.thread_id, a.limit.unwrap_or(10))
                    .await?;
                to_value(&items, case)
            }
            other => {
                return Err(Error::invalid_input(
                    "op",
                    format!(
                        "unknown thread call {other}; one of {}",
                        THREAD_CALLS.join(", ")
                    ),
                ));
            }
        })
    }
}
