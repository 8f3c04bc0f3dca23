//! Compaction applied: the conversation's view read from the store, planned
//! ([`super::plan()`]), summarised through a [`Summarizer`] (or trimmed deterministically when
//! there is none, it fails, times out or runs long), and recorded as one row of
//! `conversation_compactions`. The transcript is never touched: a compaction is a view over it.
//!
//! Two instances compacting the same state both try to insert the conversation's next
//! compaction number; the primary key lets one win and the other returns the winner's row. A
//! retry with the same idempotency key returns the row it wrote the first time.

use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, json};
use uuid::Uuid;

use super::plan::{
    COMPACTION_INSTRUCTIONS, Plan, PlanAction, PlanOptions, head, mask_all, plan, transcript,
};
use super::store::{ConversationStore, count, no_conversation, rfc3339};
use super::view::{apply, trim_text};
use crate::error::Result;
use crate::llm::{CallRequest, Summarizer, SummaryRequest};
use crate::models::{Feature, Tier};
use crate::store::{Dialect, on_pool};

/// How a compaction is made.
#[derive(Debug, Clone)]
pub struct CompactOptions {
    /// The budgets (the threshold is the model's, see [`super::CompactionThreshold`]).
    pub plan: PlanOptions,
    /// Compacts once per key; by default the conversation's state (its next compaction number
    /// and newest seq), so two instances compacting the same state make one compaction.
    pub idempotency_key: Option<String>,
    /// The summary call: feature or model, tier, limits (default: copilot, low tier). Its org
    /// is the conversation's and its reply limit `plan.summary_tokens`; its `traceparent` (or
    /// `trace_id`) places the compaction's `memory.compact` span, which the call nests under.
    pub summary_call: CallRequest,
    /// How long the summarizer may take before the compaction trims instead (default 60 s).
    pub summary_timeout: Duration,
}

impl Default for CompactOptions {
    fn default() -> Self {
        Self {
            plan: PlanOptions::default(),
            idempotency_key: None,
            summary_call: CallRequest {
                feature: Some(Feature::Copilot),
                tier: Some(Tier::Low),
                ..CallRequest::default()
            },
            summary_timeout: Duration::from_secs(60),
        }
    }
}

/// How a compaction shortened the view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CompactionMethod {
    /// Old tool results became stubs; no summary.
    Mask,
    /// The middle turns were summarised.
    Summary,
    /// The middle turns were dropped with a note saying so (no summarizer, or it failed).
    Trim,
}

impl CompactionMethod {
    /// The name as stored and serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            CompactionMethod::Mask => "mask",
            CompactionMethod::Summary => "summary",
            CompactionMethod::Trim => "trim",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "summary" => CompactionMethod::Summary,
            "trim" => CompactionMethod::Trim,
            _ => CompactionMethod::Mask,
        }
    }
}

/// A stored compaction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Compaction {
    /// The conversation.
    pub conversation_id: Uuid,
    /// Its place among the conversation's compactions, from 1.
    pub number: u64,
    /// The key it was made under.
    pub idempotency_key: String,
    /// How it shortened the view.
    pub method: CompactionMethod,
    /// Every turn up to this seq but system turns is represented by `summary` (0: none).
    pub covered_through: u64,
    /// The text standing for the covered turns (a summary, or a trim note after any earlier
    /// summary).
    pub summary: Option<String>,
    /// Every message whose tool results are stubs, this compaction's and earlier ones'.
    pub masked: Vec<u64>,
    /// The first and last seq this compaction summarised.
    pub summarized: Option<[u64; 2]>,
    /// The first and last seq left to fact extraction.
    pub facts: Option<[u64; 2]>,
    /// The view's tokens before.
    pub tokens_before: u64,
    /// The view's tokens after.
    pub tokens_after: u64,
    /// Why the compaction trimmed instead of summarising.
    pub note: Option<String>,
    /// When it was made (RFC 3339).
    pub created_at: String,
}

/// What [`ConversationStore::compact`] did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Compacted {
    /// True when this call stored `compaction`; false when the view fitted (no compaction), or
    /// an earlier call with the key or another instance had compacted this state (theirs).
    pub applied: bool,
    /// The compaction.
    pub compaction: Option<Compaction>,
    /// The plan this call made.
    pub plan: Plan,
}

/// A compaction row: number, key, method, covered, summary, masked, summarized from/through,
/// facts from/through, tokens before/after, note, created in epoch milliseconds.
type CompactionRow = (
    i64,
    String,
    String,
    i64,
    Option<String>,
    String,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    i64,
    i64,
    Option<String>,
    i64,
);

fn compaction_columns(dialect: Dialect) -> String {
    format!(
        "number, idempotency_key, method, covered_through, summary, masked::text,
         summarized_from, summarized_through, facts_from, facts_through, tokens_before,
         tokens_after, note, {}",
        dialect.epoch_ms("created_at")
    )
}

fn range(from: Option<i64>, through: Option<i64>) -> Option<[u64; 2]> {
    Some([count(from?), count(through?)])
}

fn compaction(conversation_id: Uuid, r: CompactionRow) -> Compaction {
    Compaction {
        conversation_id,
        number: count(r.0),
        idempotency_key: r.1,
        method: CompactionMethod::parse(&r.2),
        covered_through: count(r.3),
        summary: r.4,
        masked: serde_json::from_str(&r.5).unwrap_or_default(),
        summarized: range(r.6, r.7),
        facts: range(r.8, r.9),
        tokens_before: count(r.10),
        tokens_after: count(r.11),
        note: r.12,
        created_at: rfc3339(r.13),
    }
}

pub(super) fn signed(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl ConversationStore {
    /// The conversation's newest compaction (`key`: the one made under that key instead).
    pub(super) async fn compaction(
        &self,
        org: Uuid,
        conversation: Uuid,
        key: Option<&str>,
    ) -> Result<Option<Compaction>> {
        let pool = self.keel.pool()?;
        let statement = format!(
            "SELECT {} FROM conversation_compactions
             WHERE conversation_id = $1::uuid AND org_id = $2::uuid
               AND ($3 IS NULL OR idempotency_key = $3)
             ORDER BY number DESC LIMIT 1",
            compaction_columns(Dialect::of(pool))
        );
        let row: Option<CompactionRow> = on_pool!(pool, |conn, sql| {
            sqlx::query_as(&sql(&statement))
                .bind(conversation.to_string())
                .bind(org.to_string())
                .bind(key)
                .fetch_optional(conn)
                .await?
        });
        Ok(row.map(|r| compaction(conversation, r)))
    }

    /// Compacts the conversation when its view is over `options.plan.threshold`: masks old
    /// tool results, and if that is not enough, replaces the middle turns with a summary from
    /// `summarizer` (a deterministic trim note when there is none, or it fails, times out or
    /// writes more than `summary_tokens`). Recorded as one row, once per idempotency key and
    /// once per state across instances (see the module docs), and as a `memory.compact` span.
    ///
    /// # Errors
    /// [`Error::InvalidInput`]: no such conversation (`conversation_id`), budgets
    /// [`PlanOptions::check`] refuses, an `idempotency_key` that is blank, over 255 characters
    /// or holds a NUL; storage errors.
    pub async fn compact(
        &self,
        org: Uuid,
        conversation: Uuid,
        options: &CompactOptions,
        summarizer: Option<&dyn Summarizer>,
    ) -> Result<Compacted> {
        options.plan.check()?;
        if let Some(key) = &options.idempotency_key {
            crate::idents::idempotency_key("idempotency_key", key)?;
        }
        let mut view = self.view(org, conversation).await?;
        let number = view.latest.as_ref().map_or(0, |c| c.number) + 1;
        let newest = view.messages.iter().map(|m| m.seq).max().unwrap_or(0);
        let key = options
            .idempotency_key
            .clone()
            .unwrap_or_else(|| format!("compaction-{number}-at-{newest}"));
        let plan = plan(&view.messages, view.summary_tokens(), &options.plan);
        if let Some(done) = self.compaction(org, conversation, Some(&key)).await? {
            return Ok(Compacted {
                applied: false,
                compaction: Some(done),
                plan,
            });
        }
        if plan.action == PlanAction::None {
            return Ok(Compacted {
                applied: false,
                compaction: None,
                plan,
            });
        }
        let (logger, span) = self.span(
            org,
            Some(&options.summary_call),
            "memory.compact",
            "update_memory",
            Some(conversation),
        );
        let tokens_before = view.tokens();
        let earlier = view.summary().map(|(s, _)| s.to_owned());
        let budget = options.plan.summary_tokens;
        // The new masks, once: the summarizer reads the stubs, and `apply` cuts after them.
        mask_all(&mut view.messages, &plan.masked);
        let (mut method, mut text, mut note) = match plan.summarize {
            None => (CompactionMethod::Mask, earlier.clone(), None),
            Some(range) => {
                // The summarizer reads at most its input budget (four bytes a token): a single
                // turn over it is cut short.
                let text = transcript(&view.messages, earlier.as_deref(), range);
                let cap = usize::try_from(options.plan.summary_input_tokens.saturating_mul(4))
                    .unwrap_or(usize::MAX);
                let request = SummaryRequest {
                    text: head(&text, cap).to_owned(),
                    instructions: Some(COMPACTION_INSTRUCTIONS.to_owned()),
                    call: CallRequest {
                        org_id: Some(org),
                        trace_id: Some(logger.trace_id()),
                        traceparent: Some(span.traceparent()),
                        idempotency_key: Some(crate::idents::derived_key(format!(
                            "{conversation}:{key}"
                        ))),
                        max_tokens: u32::try_from(budget).ok(),
                        ..options.summary_call.clone()
                    },
                };
                // What the view holds and the caller is told is what is stored: a NUL from a
                // host summarizer as U+FFFD.
                let stored = |text: String| crate::store::storable_text(&text).into_owned();
                match summarize(summarizer, &request, options)
                    .await
                    .map_err(stored)
                {
                    Ok(summary) => (CompactionMethod::Summary, Some(stored(summary)), None),
                    Err(reason) => {
                        let text = trim_text(earlier.as_deref(), &plan, &reason, budget);
                        (CompactionMethod::Trim, text, Some(reason))
                    }
                }
            }
        };
        let covered = apply(&mut view, &plan, text.clone());
        let mut tokens_after = view.tokens();
        if method == CompactionMethod::Summary && tokens_after > options.plan.threshold {
            // The summary ran long: trim instead, so the view fits.
            let reason = "the summary was longer than summary_tokens".to_owned();
            text = trim_text(earlier.as_deref(), &plan, &reason, budget);
            if let Some(latest) = view.latest.as_mut() {
                latest.summary.clone_from(&text);
            }
            tokens_after = view.tokens();
            (method, note) = (CompactionMethod::Trim, Some(reason));
        }
        let masked = view
            .latest
            .as_ref()
            .map(|l| l.masked.clone())
            .unwrap_or_default();
        let record = Compaction {
            conversation_id: conversation,
            number,
            idempotency_key: key,
            method,
            covered_through: covered,
            summary: text,
            masked,
            summarized: plan.summarize,
            facts: plan.facts,
            tokens_before,
            tokens_after,
            note,
            created_at: String::new(),
        };
        let stored = self.insert(org, &record).await;
        let mut outcome = Map::new();
        outcome.insert("method".into(), json!(method.as_str()));
        outcome.insert("tokens_before".into(), json!(tokens_before));
        outcome.insert("tokens_after".into(), json!(tokens_after));
        match &stored {
            Ok(Some(_)) => span.stop(outcome),
            Ok(None) => {
                outcome.insert("applied".into(), json!(false));
                span.stop(outcome)
            }
            Err(e) => span.fail(&e.to_string(), outcome),
        };
        match stored? {
            Some(created_at) => Ok(Compacted {
                applied: true,
                compaction: Some(Compaction {
                    created_at,
                    ..record
                }),
                plan,
            }),
            None => {
                // Another instance compacted this state first, or the key was taken meanwhile.
                let theirs = match self
                    .compaction(org, conversation, Some(&record.idempotency_key))
                    .await?
                {
                    Some(c) => Some(c),
                    None => self.compaction(org, conversation, None).await?,
                };
                Ok(Compacted {
                    applied: false,
                    compaction: theirs,
                    plan,
                })
            }
        }
    }

    /// Inserts `record` unless its number or key is taken; its creation time, or `None`.
    async fn insert(&self, org: Uuid, record: &Compaction) -> Result<Option<String>> {
        let pool = self.keel.pool()?;
        let dialect = Dialect::of(pool);
        let statement = format!(
            "INSERT INTO conversation_compactions
                 (conversation_id, number, org_id, idempotency_key, method, covered_through,
                  summary, masked, summarized_from, summarized_through, facts_from, facts_through,
                  tokens_before, tokens_after, note)
             VALUES ($1::uuid, $2, $3::uuid, $4, $5, $6, $7, {}, $9, $10, $11, $12, $13, $14, $15)
             ON CONFLICT DO NOTHING
             RETURNING {}",
            dialect.json("$8"),
            dialect.epoch_ms("created_at")
        );
        let at = |r: Option<[u64; 2]>, i: usize| r.map(|r| signed(r[i]));
        let row: Option<(i64,)> = on_pool!(pool, |conn, sql| {
            sqlx::query_as(&sql(&statement))
                .bind(record.conversation_id.to_string())
                .bind(signed(record.number))
                .bind(org.to_string())
                .bind(&record.idempotency_key)
                .bind(record.method.as_str())
                .bind(signed(record.covered_through))
                // The summary and the note are storable text already (see `compact`).
                .bind(record.summary.as_deref())
                .bind(crate::store::storable_json(&record.masked))
                .bind(at(record.summarized, 0))
                .bind(at(record.summarized, 1))
                .bind(at(record.facts, 0))
                .bind(at(record.facts, 1))
                .bind(signed(record.tokens_before))
                .bind(signed(record.tokens_after))
                .bind(record.note.as_deref())
                .fetch_optional(conn)
                .await
                .map_err(|e| match e {
                    sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
                        no_conversation(record.conversation_id)
                    }
                    other => other.into(),
                })?
        });
        Ok(row.map(|r| rfc3339(r.0)))
    }
}

/// The summary, or why there is none.
async fn summarize(
    summarizer: Option<&dyn Summarizer>,
    request: &SummaryRequest,
    options: &CompactOptions,
) -> std::result::Result<String, String> {
    let summarizer = summarizer.ok_or_else(|| "no summarizer".to_owned())?;
    match tokio::time::timeout(options.summary_timeout, summarizer.summarize(request)).await {
        Err(_) => Err(format!(
            "the summarizer took more than {} ms",
            options.summary_timeout.as_millis()
        )),
        Ok(Err(e)) => Err(format!("the summarizer failed: {e}")),
        Ok(Ok(s)) if s.text.trim().is_empty() => Err("the summary was empty".to_owned()),
        Ok(Ok(s)) => Ok(s.text.trim().to_owned()),
    }
}
