//! Thread context extraction applied: a thread's messages since the last summary read by a
//! model through a [`Summarizer`] (the router's `enrichment` model, low tier), its answer read
//! strictly, its entities resolved through the caller's [`EntityLinker`], the summary written
//! to `conversation_context` once per resolved entity, and the watermark moved. A failure
//! (the summarizer down, an unreadable answer, a linker error) keeps the watermark, counts an
//! attempt and moves the due time back (1 minute, doubling, at most an hour), so the next
//! sweep tries again and nothing is lost.
//!
//! [`ThreadStore::sweep`] claims due threads (`FOR UPDATE SKIP LOCKED` on PostgreSQL, a
//! lease on the due time), so instances sweeping at once never extract a thread twice.

use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, json};
use uuid::Uuid;

use super::extract::{
    THREAD_CONTEXT_INSTRUCTIONS, THREAD_SUMMARY_MAX_TOKENS, TRANSCRIPT_TOKENS, TranscriptMessage,
    read_thread_context, thread_transcript,
};
use super::record::Thread;
use super::store::ThreadStore;
use crate::error::{Error, Result};
use crate::fault::FailureKind;
use crate::llm::{CallRequest, Message, Part, Role, Summarizer, SummaryRequest};
use crate::memory::{ContextEntry, ConversationChannel, EntityKind, EntityLinker, EntityType};
use crate::models::{Feature, Tier};
use crate::store::{Dialect, on_pool};

/// The first retry after a failure; each further failure doubles it.
pub const RETRY_BASE_MS: u64 = 60_000;
/// The longest wait between retries.
pub const RETRY_MAX_MS: u64 = 3_600_000;
/// The most messages an extraction reads back from the store before the token budget.
const MESSAGES_READ: i64 = 500;

/// How an extraction runs.
#[derive(Debug, Clone)]
pub struct ExtractThreadOptions {
    /// The call: feature or model, tier (default enrichment, low tier); reply limit 512.
    pub call: CallRequest,
    /// The most tokens of messages the model reads (default 3,000).
    pub transcript_tokens: u64,
    /// How long the model may take (default 60 s).
    pub timeout: Duration,
}

impl Default for ExtractThreadOptions {
    fn default() -> Self {
        Self {
            call: CallRequest {
                feature: Some(Feature::Enrichment),
                tier: Some(Tier::Low),
                ..CallRequest::default()
            },
            transcript_tokens: TRANSCRIPT_TOKENS,
            timeout: Duration::from_secs(60),
        }
    }
}

/// How a sweep runs.
#[derive(Debug, Clone)]
pub struct SweepOptions {
    /// The most threads one sweep extracts (default 100).
    pub limit: u32,
    /// How long a claimed thread is left to this sweep before another may take it
    /// (default 5 minutes).
    pub lease_ms: u64,
    /// How each extraction runs.
    pub extract: ExtractThreadOptions,
}

impl Default for SweepOptions {
    fn default() -> Self {
        Self {
            limit: 100,
            lease_ms: 300_000,
            extract: ExtractThreadOptions::default(),
        }
    }
}

/// What an extraction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExtractionStatus {
    /// The summary was written and the watermark moved.
    Extracted,
    /// No message past the watermark.
    NothingNew,
    /// It failed; the watermark stayed and it is due again later.
    Failed,
}

/// An entity of an extraction, resolved or not.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThreadEntity {
    /// What it is.
    pub entity_type: EntityKind,
    /// The name the thread uses.
    pub name: String,
    /// The platform's id, when the linker found it.
    pub entity_id: Option<Uuid>,
}

/// One thread's extraction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThreadExtraction {
    /// The thread.
    pub thread_id: Uuid,
    /// What happened.
    pub status: ExtractionStatus,
    /// The seqs read, first and last.
    pub range: Option<[u64; 2]>,
    /// The watermark after it.
    pub extracted_through: u64,
    /// The summary written.
    pub summary: Option<String>,
    /// The entities named, resolved or not.
    pub entities: Vec<ThreadEntity>,
    /// `conversation_context` rows written (one per resolved entity).
    pub contexts_written: usize,
    /// Why it failed.
    pub error: Option<String>,
}

/// What a sweep did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ThreadSweep {
    /// Threads claimed.
    pub claimed: usize,
    /// Extracted.
    pub extracted: usize,
    /// Nothing new.
    pub nothing_new: usize,
    /// Failed (due again later).
    pub failed: usize,
    /// Each thread's extraction.
    pub threads: Vec<ThreadExtraction>,
}

/// The wait before retrying after `attempts` failures.
pub fn retry_delay_ms(attempts: u32) -> u64 {
    RETRY_BASE_MS
        .saturating_mul(1u64 << attempts.min(20))
        .min(RETRY_MAX_MS)
}

impl ThreadStore {
    /// Extracts the thread's context now (see the module docs). Logged as a
    /// `channels.thread_extract` span.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `thread_id`; storage errors. A summarizer or linker failure
    /// is not an error: it is recorded on the thread and reported as
    /// [`ExtractionStatus::Failed`].
    pub async fn extract(
        &self,
        org: Uuid,
        thread: Uuid,
        options: &ExtractThreadOptions,
        summarizer: &dyn Summarizer,
        linker: Option<&dyn EntityLinker>,
    ) -> Result<ThreadExtraction> {
        let thread = self.get(org, thread).await?;
        let convo = self.conversations.get(org, thread.conversation_id).await?;
        let mut report = ThreadExtraction {
            thread_id: thread.id,
            status: ExtractionStatus::NothingNew,
            range: None,
            extracted_through: thread.extracted_through,
            summary: None,
            entities: Vec::new(),
            contexts_written: 0,
            error: None,
        };
        let through = convo.message_count;
        if through <= thread.extracted_through {
            self.settle(&thread, None).await?;
            return Ok(report);
        }
        let logger = self.keel.logger(
            "channels",
            crate::telemetry::LoggerOptions {
                trace_id: options.call.trace_id.map(|t| t.to_string()),
                org_id: Some(org.to_string()),
                ..crate::telemetry::LoggerOptions::default()
            },
        );
        let fields = Map::from_iter([
            ("thread_id".into(), json!(thread.id)),
            ("through".into(), json!(through)),
        ]);
        let span = logger.span("channels.thread_extract", fields, None);
        match self
            .summarise(
                &thread, through, options, summarizer, linker, &logger, &span,
            )
            .await
        {
            Ok((range, summary, entities)) => {
                let written = self.write_contexts(&thread, &summary, &entities).await?;
                let context = json!({
                    "summary": summary,
                    "entities": entities,
                    "through": through,
                });
                self.settle(&thread, Some((through, &context))).await?;
                span.stop(Map::from_iter([
                    ("entities".into(), json!(entities.len())),
                    ("contexts_written".into(), json!(written)),
                ]));
                report.status = ExtractionStatus::Extracted;
                report.range = range;
                report.extracted_through = through;
                report.summary = Some(summary);
                report.entities = entities;
                report.contexts_written = written;
            }
            Err(e) => {
                let message = e.to_string();
                self.record_failure(&thread, &message).await?;
                span.fail(&message, Map::new());
                report.status = ExtractionStatus::Failed;
                report.error = Some(message);
            }
        }
        Ok(report)
    }

    /// Claims up to `options.limit` threads whose extraction is due and extracts each.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `limit` (0 or over 1,000) or `lease_ms` (0); storage
    /// errors.
    pub async fn sweep(
        &self,
        options: &SweepOptions,
        summarizer: &dyn Summarizer,
        linker: Option<&dyn EntityLinker>,
    ) -> Result<ThreadSweep> {
        self.sweep_with_progress(options, summarizer, linker, &mut |_, _| {})
            .await
    }

    /// [`ThreadStore::sweep`], calling `progress(done, claimed)` before the first thread and
    /// after each.
    ///
    /// # Errors
    /// As [`ThreadStore::sweep`].
    pub async fn sweep_with_progress(
        &self,
        options: &SweepOptions,
        summarizer: &dyn Summarizer,
        linker: Option<&dyn EntityLinker>,
        progress: &mut (dyn FnMut(usize, usize) + Send),
    ) -> Result<ThreadSweep> {
        if !(1..=1_000).contains(&options.limit) {
            return Err(Error::invalid_input("limit", "must be 1 to 1,000"));
        }
        if options.lease_ms == 0 {
            return Err(Error::invalid_input("lease_ms", "must be at least 1"));
        }
        let pool = self.keel.pool()?;
        let d = Dialect::of(pool);
        let statement = format!(
            "UPDATE slack_copilot_threads SET extraction_due_at = {}
             WHERE id IN (SELECT id FROM slack_copilot_threads
                          WHERE extraction_due_at IS NOT NULL AND {}
                          ORDER BY extraction_due_at LIMIT $2 {})
             RETURNING id::text, org_id::text",
            d.now_plus_ms("$1"),
            d.is_past("extraction_due_at"),
            d.skip_locked()
        );
        let claimed: Vec<(String, String)> = on_pool!(pool, |conn, sql| {
            sqlx::query_as(&sql(&statement))
                .bind(i64::try_from(options.lease_ms).unwrap_or(i64::MAX))
                .bind(i64::from(options.limit))
                .fetch_all(conn)
                .await?
        });
        let mut sweep = ThreadSweep {
            claimed: claimed.len(),
            ..ThreadSweep::default()
        };
        progress(0, sweep.claimed);
        for (thread, org) in claimed {
            let (thread, org) = (stored(&thread)?, stored(&org)?);
            let done = self
                .extract(org, thread, &options.extract, summarizer, linker)
                .await?;
            match done.status {
                ExtractionStatus::Extracted => sweep.extracted += 1,
                ExtractionStatus::NothingNew => sweep.nothing_new += 1,
                ExtractionStatus::Failed => sweep.failed += 1,
            }
            sweep.threads.push(done);
            progress(sweep.threads.len(), sweep.claimed);
        }
        Ok(sweep)
    }

    /// The model's summary of the thread through `through`, and its entities resolved.
    #[allow(clippy::too_many_arguments)]
    async fn summarise(
        &self,
        thread: &Thread,
        through: u64,
        options: &ExtractThreadOptions,
        summarizer: &dyn Summarizer,
        linker: Option<&dyn EntityLinker>,
        logger: &crate::telemetry::Logger,
        span: &crate::telemetry::Span,
    ) -> Result<(Option<[u64; 2]>, String, Vec<ThreadEntity>)> {
        let messages = self.transcript_messages(thread, through).await?;
        let previous = thread.context.get("summary").and_then(|s| s.as_str());
        let (text, range) = thread_transcript(previous, &messages, options.transcript_tokens);
        let request = SummaryRequest {
            text,
            instructions: Some(THREAD_CONTEXT_INSTRUCTIONS.to_owned()),
            call: CallRequest {
                org_id: Some(thread.org_id),
                user_id: Some(thread.user_id),
                trace_id: Some(logger.trace_id()),
                traceparent: Some(span.traceparent()),
                idempotency_key: Some(format!("thread-context:{}:{through}", thread.id)),
                max_tokens: Some(THREAD_SUMMARY_MAX_TOKENS),
                ..options.call.clone()
            },
        };
        let answer = tokio::time::timeout(options.timeout, summarizer.summarize(&request))
            .await
            .map_err(|_| Error::Timeout {
                operation: "thread context extraction".into(),
                after_ms: u64::try_from(options.timeout.as_millis()).unwrap_or(u64::MAX),
            })??;
        let reading = read_thread_context(&answer.text).map_err(|error| Error::Service {
            service: "model",
            method: "thread context extraction".into(),
            error,
            kind: FailureKind::ServerError,
            retry_after_ms: None,
        })?;
        let mut entities = Vec::with_capacity(reading.entities.len());
        for e in reading.entities {
            let id = match linker {
                Some(linker) => {
                    let user = thread.user_id.to_string();
                    linker
                        .link(thread.org_id, &user, e.entity_type, &e.name)
                        .await?
                        .and_then(|id| Uuid::parse_str(id.trim()).ok())
                }
                None => None,
            };
            entities.push(ThreadEntity {
                entity_type: e.entity_type,
                name: e.name,
                entity_id: id,
            });
        }
        Ok((range, reading.summary, entities))
    }

    /// The conversation's messages through `through`, newest [`MESSAGES_READ`] at most,
    /// oldest first.
    async fn transcript_messages(
        &self,
        thread: &Thread,
        through: u64,
    ) -> Result<Vec<TranscriptMessage>> {
        let pool = self.keel.pool()?;
        let statement = "SELECT seq, role, content::text, tokens FROM conversation_messages
             WHERE conversation_id = $1::uuid AND seq <= $2 ORDER BY seq DESC LIMIT $3";
        let rows: Vec<(i64, String, String, i64)> = on_pool!(pool, |conn, sql| {
            sqlx::query_as(&sql(statement))
                .bind(thread.conversation_id.to_string())
                .bind(i64::try_from(through).unwrap_or(i64::MAX))
                .bind(MESSAGES_READ)
                .fetch_all(conn)
                .await?
        });
        let mut out = rows
            .into_iter()
            .map(|(seq, role, content, tokens)| {
                let content: Vec<Part> = serde_json::from_str(&content)
                    .map_err(|e| Error::Internal(format!("stored content: {e}")))?;
                let role = Role::parse(&role)?;
                Ok(TranscriptMessage {
                    seq: u64::try_from(seq).unwrap_or(0),
                    role,
                    text: Message { role, content }.text(),
                    tokens: u64::try_from(tokens).unwrap_or(0),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        out.reverse();
        Ok(out)
    }

    /// One `conversation_context` row per resolved entity: the thread's user, channel
    /// `slack_copilot`, the thread's reference.
    async fn write_contexts(
        &self,
        thread: &Thread,
        summary: &str,
        entities: &[ThreadEntity],
    ) -> Result<usize> {
        let mut written = 0;
        for e in entities {
            let Some(entity_id) = e.entity_id else {
                continue;
            };
            let entry = ContextEntry {
                org_id: thread.org_id,
                user_id: thread.user_id,
                channel: ConversationChannel::Slack,
                channel_ref: Some(format!(
                    "{}/{}/{}",
                    thread.slack_team_id, thread.slack_channel_id, thread.slack_thread_ts
                )),
                entity_type: EntityType::from(e.entity_type),
                entity_id,
                summary: summary.to_owned(),
                entity_name: Some(e.name.clone()),
                agent_name: None,
                last_updated: String::new(),
            };
            self.conversations.upsert_context(&entry).await?;
            written += 1;
        }
        Ok(written)
    }

    /// Moves the watermark to `done.0` with the context `done.1` (or, with `None`, only
    /// settles the due time), and sets the next due time from the messages still waiting.
    async fn settle(&self, thread: &Thread, done: Option<(u64, &serde_json::Value)>) -> Result<()> {
        let pool = self.keel.pool()?;
        let d = Dialect::of(pool);
        let waiting = "(SELECT c.message_count FROM conversations c
                        WHERE c.id = slack_copilot_threads.conversation_id)";
        let after = self.options.extract_after_messages;
        let quiet_at = d.from_epoch_ms(&format!(
            "({} + {})",
            d.epoch_ms("last_message_at"),
            self.options.quiet_ms
        ));
        let statement = format!(
            "UPDATE slack_copilot_threads SET
                 extracted_through = {greatest}(extracted_through, $3),
                 context = CASE WHEN $4 IS NULL THEN context ELSE {ctx} END,
                 extracted_at = CASE WHEN $4 IS NULL THEN extracted_at ELSE now() END,
                 extraction_attempts = 0, extraction_error = NULL, updated_at = now(),
                 extraction_due_at = CASE
                     WHEN {waiting} <= {greatest}(extracted_through, $3) THEN NULL
                     WHEN {waiting} - {greatest}(extracted_through, $3) >= {after} THEN now()
                     ELSE {quiet_at} END
             WHERE id = $1::uuid AND org_id = $2::uuid",
            greatest = d.greatest(),
            ctx = d.json("$4"),
        );
        let (through, context) = match done {
            Some((through, context)) => (through, Some(context.to_string())),
            None => (thread.extracted_through, None),
        };
        on_pool!(pool, |conn, sql| {
            sqlx::query(&sql(&statement))
                .bind(thread.id.to_string())
                .bind(thread.org_id.to_string())
                .bind(i64::try_from(through).unwrap_or(i64::MAX))
                .bind(context)
                .execute(conn)
                .await?
                .rows_affected()
        });
        Ok(())
    }

    /// Counts a failed attempt, keeps its reason and moves the due time back.
    async fn record_failure(&self, thread: &Thread, error: &str) -> Result<()> {
        let pool = self.keel.pool()?;
        let statement = format!(
            "UPDATE slack_copilot_threads SET extraction_attempts = extraction_attempts + 1,
                 extraction_error = $3, extraction_due_at = {}, updated_at = now()
             WHERE id = $1::uuid AND org_id = $2::uuid",
            Dialect::of(pool).now_plus_ms("$4")
        );
        let delay = retry_delay_ms(thread.extraction_attempts);
        let error: String = error.chars().take(1_000).collect();
        on_pool!(pool, |conn, sql| {
            sqlx::query(&sql(&statement))
                .bind(thread.id.to_string())
                .bind(thread.org_id.to_string())
                .bind(&error)
                .bind(i64::try_from(delay).unwrap_or(i64::MAX))
                .execute(conn)
                .await?
                .rows_affected()
        });
        Ok(())
    }
}

fn stored(text: &str) -> Result<Uuid> {
    Uuid::parse_str(text).map_err(|e| Error::Internal(format!("a stored id: {e}")))
}
