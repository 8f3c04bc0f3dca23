//! Facts' calls as a binding makes them: ids as text, facts, queries and options as JSON whose
//! keys are spelt in the caller's [`Case`], errors naming the field as the caller spells it.
//! The pure functions behind the vectors ([`rank_facts_value`], [`read_extraction_value`]) are
//! here too, so every language ranks and reads the same way.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::calls::{explicit_model, spelt};
use super::extract::{ExtractionReading, read_extraction};
use super::extraction::{ExtractOptions, Extracted};
use super::fact::{Fact, FactCategory, NewFact};
use super::fact_store::FactQuery;
use super::link::{EntityLinker, EntitySql, SqlLinker};
use super::recall::{DEFAULT_RECALL_LIMIT, RecalledFact, rank_facts};
use super::recall_store::{Recall, RecallQuery};
use super::store::{ConversationStore, parse_time};
use crate::error::Result;
use crate::llm::{Llm, Summarizer};
use crate::options::{Case, from_value, require_uuid};

/// The options of [`ConversationStore::add_facts_value`].
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct AddOptions {
    facts: Vec<NewFact>,
    idempotency_key: Option<String>,
    entity_sql: Option<EntitySql>,
}

/// The options of [`ConversationStore::extract_facts_value`].
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ExtractValue {
    /// `[first, last]` seqs.
    range: Option<[u64; 2]>,
    idempotency_key: Option<String>,
    /// An explicit model with `provider` (else the router's copilot model, low tier).
    provider: Option<String>,
    model: Option<String>,
    input_tokens: Option<u64>,
    timeout_ms: Option<u64>,
    entity_sql: Option<EntitySql>,
}

/// The linker a binding asked for: its callback, else SQL statements, else none.
pub(crate) fn linker<'a>(
    store: &ConversationStore,
    callback: Option<&'a dyn EntityLinker>,
    sql: Option<EntitySql>,
    owned: &'a mut Option<SqlLinker>,
) -> Option<&'a dyn EntityLinker> {
    if callback.is_some() {
        return callback;
    }
    *owned = sql.map(|sql| SqlLinker::new(&store.keel, sql));
    owned.as_ref().map(|l| l as &dyn EntityLinker)
}

impl ConversationStore {
    /// [`ConversationStore::add_facts`] as a binding calls it: `options` holds `facts` (a list
    /// of [`NewFact`] objects), `idempotency_key` and `entity_sql` ([`EntitySql`]), used when
    /// there is no `callback` linker.
    ///
    /// # Errors
    /// As `add_facts`, and [`Error::InvalidInput`] for ids that are not UUIDs or options that
    /// do not deserialize (`facts[0].category`).
    pub async fn add_facts_value(
        &self,
        org_id: &str,
        user_id: &str,
        options: Option<Value>,
        callback: Option<&dyn EntityLinker>,
        case: Case,
        root: &str,
    ) -> Result<Vec<Fact>> {
        let call = async {
            let org = require_uuid("org_id", org_id)?;
            let options: AddOptions = from_value(options, case, root)?;
            let mut owned = None;
            let linker = linker(self, callback, options.entity_sql, &mut owned);
            self.add_facts(
                org,
                user_id,
                &options.facts,
                options.idempotency_key.as_deref(),
                linker,
            )
            .await
        };
        call.await.map_err(|e| spelt(e, case))
    }

    /// [`ConversationStore::facts`] with the query as JSON ([`FactQuery`]).
    ///
    /// # Errors
    /// As `facts`, and [`Error::InvalidInput`] for an org id that is not a UUID or a query
    /// that does not deserialize.
    pub async fn facts_value(
        &self,
        org_id: &str,
        user_id: &str,
        query: Option<Value>,
        case: Case,
        root: &str,
    ) -> Result<Vec<Fact>> {
        let call = async {
            let org = require_uuid("org_id", org_id)?;
            let query: FactQuery = from_value(query, case, root)?;
            self.facts(org, user_id, &query).await
        };
        call.await.map_err(|e| spelt(e, case))
    }

    /// [`ConversationStore::recall`] with the query as JSON ([`RecallQuery`]).
    ///
    /// # Errors
    /// As `recall`, and [`Error::InvalidInput`] for an org id that is not a UUID or a query
    /// that does not deserialize.
    pub async fn recall_value(
        &self,
        org_id: &str,
        user_id: &str,
        text: &str,
        query: Option<Value>,
        case: Case,
        root: &str,
    ) -> Result<Recall> {
        let call = async {
            let org = require_uuid("org_id", org_id)?;
            let query: RecallQuery = from_value(query, case, root)?;
            self.recall(org, user_id, text, &query).await
        };
        call.await.map_err(|e| spelt(e, case))
    }

    /// [`ConversationStore::extract_facts`] through `llm`, with the options as JSON: `range`
    /// (`[first, last]`), `idempotency_key`, `provider` with `model`, `input_tokens`,
    /// `timeout_ms`, `entity_sql` (used when there is no `callback` linker).
    ///
    /// # Errors
    /// As `extract_facts`, and [`Error::InvalidInput`] for ids that are not UUIDs, options
    /// that do not deserialize, `provider` without `model` or the other way round.
    #[allow(clippy::too_many_arguments)]
    pub async fn extract_facts_value(
        &self,
        org_id: &str,
        conversation_id: &str,
        options: Option<Value>,
        llm: &Llm,
        callback: Option<&dyn EntityLinker>,
        case: Case,
        root: &str,
    ) -> Result<Extracted> {
        let call = async {
            let org = require_uuid("org_id", org_id)?;
            let conversation = require_uuid("conversation_id", conversation_id)?;
            let value: ExtractValue = from_value(options, case, root)?;
            let mut options = ExtractOptions {
                range: value.range,
                idempotency_key: value.idempotency_key,
                ..ExtractOptions::default()
            };
            explicit_model(
                &mut options.call,
                (value.provider, value.model),
                ["provider", "model"],
                str::to_owned,
            )?;
            if let Some(tokens) = value.input_tokens {
                options.input_tokens = tokens.max(1);
            }
            if let Some(ms) = value.timeout_ms {
                options.timeout = Duration::from_millis(ms.max(1));
            }
            let mut owned = None;
            let linker = linker(self, callback, value.entity_sql, &mut owned);
            self.extract_facts(org, conversation, &options, llm as &dyn Summarizer, linker)
                .await
        };
        call.await.map_err(|e| spelt(e, case))
    }
}

/// A fact as [`rank_facts_value`] reads it: what ranking needs. The other fields of a stored
/// [`Fact`] are ignored, so stored facts can be ranked as they are.
#[derive(Debug, Deserialize)]
struct RankInput {
    id: Uuid,
    category: FactCategory,
    subject: String,
    content: String,
    #[serde(default = "certain")]
    confidence: f64,
    observed_at: String,
    #[serde(default)]
    access_count: u64,
    #[serde(default)]
    last_accessed_at: Option<String>,
    #[serde(default)]
    superseded_at: Option<String>,
    #[serde(default)]
    expires_at: Option<String>,
}

fn certain() -> f64 {
    1.0
}

/// The options of [`rank_facts_value`].
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RankOptions {
    facts: Vec<RankInput>,
    /// RFC 3339 (default: now).
    now: Option<String>,
    limit: u32,
}

impl Default for RankOptions {
    fn default() -> Self {
        Self {
            facts: Vec::new(),
            now: None,
            limit: DEFAULT_RECALL_LIMIT,
        }
    }
}

/// [`rank_facts`] as a binding calls it: `options` holds `facts` (each with `id`, `category`,
/// `subject`, `content`, `observed_at`, and optionally `confidence`, `access_count`,
/// `last_accessed_at`, `superseded_at`, `expires_at`), `now` (RFC 3339) and `limit`
/// (default 10). Pure.
///
/// # Errors
/// [`Error::InvalidInput`] naming the field: options that do not deserialize, a time that is
/// not RFC 3339.
pub fn rank_facts_value(
    query: &str,
    options: Option<Value>,
    case: Case,
    root: &str,
) -> Result<Vec<RecalledFact>> {
    let call = || {
        let options: RankOptions = from_value(options, case, root)?;
        let now = match &options.now {
            Some(text) => parse_time("now", text)?,
            None => chrono::Utc::now(),
        };
        let mut facts = Vec::with_capacity(options.facts.len());
        for (i, f) in options.facts.into_iter().enumerate() {
            let time = |name: &str, text: &Option<String>| -> Result<Option<String>> {
                match text {
                    None => Ok(None),
                    Some(t) => {
                        parse_time(&format!("facts[{i}].{name}"), t).map(|_| Some(t.clone()))
                    }
                }
            };
            parse_time(&format!("facts[{i}].observed_at"), &f.observed_at)?;
            facts.push(Fact {
                id: f.id,
                org_id: Uuid::nil(),
                user_id: String::new(),
                category: f.category,
                subject: f.subject,
                content: f.content,
                confidence: f.confidence,
                conversation_id: None,
                source_seqs: Vec::new(),
                deal_name: None,
                contact_name: None,
                company_name: None,
                deal_id: None,
                contact_id: None,
                company_id: None,
                created_at: f.observed_at.clone(),
                observed_at: f.observed_at,
                expires_at: time("expires_at", &f.expires_at)?,
                superseded_by: None,
                superseded_at: time("superseded_at", &f.superseded_at)?,
                access_count: f.access_count,
                last_accessed_at: time("last_accessed_at", &f.last_accessed_at)?,
            });
        }
        Ok(rank_facts(query, &facts, now, options.limit as usize))
    };
    call().map_err(|e| spelt(e, case))
}

/// The options of [`read_extraction_value`].
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
struct ReadOptions {
    /// The seqs of the turns the model read.
    seqs: Vec<u64>,
    /// How many known facts it was shown.
    known: usize,
}

/// [`read_extraction`] as a binding calls it: `options` holds `seqs` (the turns read) and
/// `known` (the number of known facts shown). Pure.
///
/// # Errors
/// [`Error::InvalidInput`] for options that do not deserialize.
pub fn read_extraction_value(
    answer: &str,
    options: Option<Value>,
    case: Case,
    root: &str,
) -> Result<ExtractionReading> {
    let options: ReadOptions = from_value(options, case, root).map_err(|e| spelt(e, case))?;
    Ok(read_extraction(answer, &options.seqs, options.known))
}
