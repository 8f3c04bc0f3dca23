//! Fact extraction applied: the turns of a conversation (by default those the latest
//! compaction left to facts) read by a model through a [`Summarizer`] with the extraction
//! prompt, its answer read strictly ([`read_extraction`]), the entities linked, and the facts
//! stored once per key, superseding the known facts the model says they replace.

use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, json};
use uuid::Uuid;

use super::extract::{
    EXTRACTION_MAX_TOKENS, KnownFact, MAX_KNOWN_FACTS, RejectedFact, extraction_input,
    extraction_prompt, read_extraction,
};
use super::fact::{Fact, NewFact};
use super::fact_store::link_all;
use super::link::EntityLinker;
use super::recall_store::RecallQuery;
use super::store::{ConversationStore, MessageQuery};
use crate::error::{Error, Result};
use crate::llm::{CallRequest, Summarizer, SummaryRequest};
use crate::models::{Feature, Tier};

/// How [`ConversationStore::extract_facts`] runs.
#[derive(Debug, Clone)]
pub struct ExtractOptions {
    /// The first and last seq read (default: the latest compaction's fact range, else the
    /// whole conversation).
    pub range: Option<[u64; 2]>,
    /// Stores once per key (default `facts:<conversation>:<first>-<last>`).
    pub idempotency_key: Option<String>,
    /// The call: feature or model, tier (default copilot, low tier); reply limit 2,048.
    pub call: CallRequest,
    /// The most tokens of turns the model reads (four bytes a token; default 16,000).
    pub input_tokens: u64,
    /// How long the model may take (default 60 s).
    pub timeout: Duration,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        Self {
            range: None,
            idempotency_key: None,
            call: CallRequest {
                feature: Some(Feature::Copilot),
                tier: Some(Tier::Low),
                ..CallRequest::default()
            },
            input_tokens: 16_000,
            timeout: Duration::from_secs(60),
        }
    }
}

/// What an extraction did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Extracted {
    /// True when this call stored the facts; false when the key had been used (its facts).
    pub applied: bool,
    /// The key.
    pub idempotency_key: String,
    /// The turns read, first and last seq (none: the conversation had none).
    pub range: Option<[u64; 2]>,
    /// The facts stored.
    pub facts: Vec<Fact>,
    /// The known facts the new ones replaced.
    pub superseded: Vec<Uuid>,
    /// Items of the answer refused, and why.
    pub rejected: Vec<RejectedFact>,
    /// Items dropped for a confidence under 0.5.
    pub below_confidence: usize,
}

impl ConversationStore {
    /// Extracts facts from a conversation's turns for its user (see the module docs), linking
    /// entities through `linker`. Logged as a `memory.extract` span (`update_memory`).
    ///
    /// # Errors
    /// [`Error::InvalidInput`]: no such conversation, a range whose first seq is 0 or after its
    /// last, an `idempotency_key` that is blank, over 255 characters or holds a NUL;
    /// [`Error::Timeout`] when the model runs over `timeout`; the summarizer's, the
    /// linker's and storage errors. Nothing is stored when it fails.
    pub async fn extract_facts(
        &self,
        org: Uuid,
        conversation: Uuid,
        options: &ExtractOptions,
        summarizer: &dyn Summarizer,
        linker: Option<&dyn EntityLinker>,
    ) -> Result<Extracted> {
        if let Some(key) = &options.idempotency_key {
            crate::idents::idempotency_key("idempotency_key", key)?;
        }
        let convo = self.get(org, conversation).await?;
        let range = match options.range {
            Some([from, through]) if from == 0 || from > through => {
                return Err(Error::invalid_input(
                    "range",
                    "must be [first, last] seqs from 1",
                ));
            }
            Some(range) => Some(range),
            None => match self.compaction(org, conversation, None).await? {
                Some(c) if c.facts.is_some() => c.facts,
                _ => (convo.message_count > 0).then_some([1, convo.message_count]),
            },
        };
        let key = options
            .idempotency_key
            .clone()
            .unwrap_or_else(|| match range {
                Some([a, b]) => format!("facts:{conversation}:{a}-{b}"),
                None => format!("facts:{conversation}:none"),
            });
        let mut done = Extracted {
            applied: false,
            idempotency_key: key.clone(),
            range,
            facts: Vec::new(),
            superseded: Vec::new(),
            rejected: Vec::new(),
            below_confidence: 0,
        };
        if let Some(ids) = self.extraction(org, &key).await? {
            done.facts = self.facts_by_id(org, &ids).await?;
            return Ok(done);
        }
        let Some([from, through]) = range else {
            return Ok(done);
        };
        let mut turns = Vec::new();
        let mut after = from - 1;
        while after < through {
            let page = self
                .messages(
                    org,
                    conversation,
                    &MessageQuery {
                        after_seq: after,
                        limit: 1_000,
                    },
                )
                .await?;
            let Some(last) = page.last().map(|m| m.seq) else {
                break;
            };
            turns.extend(page.into_iter().filter(|m| m.seq <= through));
            after = last;
        }
        let cap = usize::try_from(options.input_tokens.saturating_mul(4)).unwrap_or(usize::MAX);
        let (logger, span) = self.span(
            org,
            Some(&options.call),
            "memory.extract",
            "update_memory",
            Some(conversation),
        );
        let (probe, _) = extraction_input(&[], &turns, 4_096);
        let known = self
            .recall(
                org,
                &convo.user_id,
                super::plan::head(&probe, 8_192),
                &RecallQuery {
                    limit: MAX_KNOWN_FACTS as u32,
                    record_access: false,
                    ..RecallQuery::default()
                },
            )
            .await?
            .facts;
        let labels: Vec<KnownFact> = known
            .iter()
            .enumerate()
            .map(|(i, k)| KnownFact {
                label: format!("F{}", i + 1),
                text: format!(
                    "[{}] {}: {}",
                    k.fact.category.as_str(),
                    k.fact.subject,
                    k.fact.content
                ),
            })
            .collect();
        let (input, seqs) = extraction_input(&labels, &turns, cap);
        let request = SummaryRequest {
            text: input,
            instructions: Some(extraction_prompt()),
            call: CallRequest {
                org_id: Some(org),
                trace_id: Some(logger.trace_id()),
                traceparent: Some(span.traceparent()),
                idempotency_key: Some(crate::idents::derived_key(format!("{org}:{key}"))),
                max_tokens: Some(EXTRACTION_MAX_TOKENS),
                ..options.call.clone()
            },
        };
        let answer =
            match tokio::time::timeout(options.timeout, summarizer.summarize(&request)).await {
                Err(_) => Err(Error::Timeout {
                    operation: "fact extraction".into(),
                    after_ms: u64::try_from(options.timeout.as_millis()).unwrap_or(u64::MAX),
                }),
                Ok(answer) => answer,
            };
        let answer = match answer {
            Ok(a) => a,
            Err(e) => {
                span.fail(&e.to_string(), Map::new());
                return Err(e);
            }
        };
        let reading = read_extraction(&answer.text, &seqs, known.len());
        let time_of = |seqs: &[u64]| {
            turns
                .iter()
                .filter(|t| seqs.contains(&t.seq))
                .map(|t| t.created_at.clone())
                .max()
        };
        let mut facts: Vec<NewFact> = reading
            .facts
            .iter()
            .map(|f| NewFact {
                category: f.category,
                subject: f.subject.clone(),
                content: f.content.clone(),
                confidence: f.confidence,
                conversation_id: Some(conversation),
                source_seqs: f.source_seqs.clone(),
                deal_name: f.deal_name.clone(),
                contact_name: f.contact_name.clone(),
                company_name: f.company_name.clone(),
                deal_id: None,
                contact_id: None,
                company_id: None,
                observed_at: time_of(&f.source_seqs),
                expires_at: None,
                supersedes: f.supersedes.map(|i| known[i].fact.id),
            })
            .collect();
        // Two new facts replacing one known fact: the first replaces it.
        let mut claimed = Vec::new();
        for fact in &mut facts {
            if let Some(old) = fact.supersedes {
                if claimed.contains(&old) {
                    fact.supersedes = None;
                } else {
                    claimed.push(old);
                }
            }
        }
        let stored = async {
            link_all(org, &convo.user_id, &mut facts, linker).await?;
            let (ids, mine) = self
                .write_facts(org, &convo.user_id, &facts, Some(&key))
                .await?;
            Ok::<_, Error>((self.facts_by_id(org, &ids).await?, mine))
        };
        let stored = stored.await;
        let outcome = Map::from_iter([
            ("facts".into(), json!(facts.len())),
            ("rejected".into(), json!(reading.rejected.len())),
        ]);
        match stored {
            Err(e) => {
                span.fail(&e.to_string(), outcome);
                Err(e)
            }
            Ok((stored, mine)) => {
                span.stop(outcome);
                done.applied = mine;
                if mine {
                    done.superseded = claimed;
                    done.rejected = reading.rejected;
                    done.below_confidence = reading.below_confidence;
                }
                done.facts = stored;
                Ok(done)
            }
        }
    }
}
