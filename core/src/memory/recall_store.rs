//! Recall from the store: the best facts of a user for a text, without reading every fact.
//!
//! 1. The query's distinct terms ([`query_terms`]) and, in one statement, their document
//!    frequencies and the user's totals from `memory_term_stats`.
//! 2. Candidates: the live facts holding the rarest terms, taken while their frequencies add
//!    up to at most [`CANDIDATE_LIMIT`] (always the rarest one), read through the postings
//!    with only what scoring needs, at most [`CANDIDATE_LIMIT`] rows (the newest when more).
//! 3. Scoring in Rust ([`super::recall::score`], the same function as [`rank_facts`]); the
//!    ranking is `exact` when no fact outside the candidates could reach the k-th score
//!    ([`unseen_bound`]) and the candidate read was not cut short.
//! 4. The top k read in full; when access is recorded, by one
//!    `UPDATE … SET access_count = access_count + 1, last_accessed_at = now() … RETURNING`.
//!
//! [`rank_facts`]: super::recall::rank_facts

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, json};
use uuid::Uuid;

use super::fact::{Fact, FactCategory, memories_block};
use super::fact_store::check_user;
use super::recall::{
    Corpus, DEFAULT_RECALL_LIMIT, MAX_RECALL_LIMIT, RecalledFact, Score, Signals, best_first,
    query_terms, score, unseen_bound,
};
use super::store::{ConversationStore, count};
use crate::error::{Error, Result};
use crate::store::{Dialect, on_pool};
use crate::telemetry::LoggerOptions;

/// The most candidate facts a recall scores.
pub const CANDIDATE_LIMIT: u64 = 2_000;

/// What [`ConversationStore::recall`] looks for.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecallQuery {
    /// At most this many facts, 1 to 100 (default 10).
    pub limit: u32,
    /// Only these categories (default: all).
    pub categories: Vec<FactCategory>,
    /// Counts the recall in each returned fact's `access_count` and `last_accessed_at`
    /// (default true).
    pub record_access: bool,
}

impl Default for RecallQuery {
    fn default() -> Self {
        Self {
            limit: DEFAULT_RECALL_LIMIT,
            categories: Vec::new(),
            record_access: true,
        }
    }
}

/// What a recall found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recall {
    /// The best facts, best first.
    pub facts: Vec<RecalledFact>,
    /// The query's distinct terms.
    pub terms: Vec<String>,
    /// Facts scored.
    pub candidates: u64,
    /// True when no fact left unscored could have ranked among these.
    pub exact: bool,
    /// The "## Relevant Memories" block of the facts, for a prompt (empty for none).
    pub block: String,
}

/// A candidate row: id, terms (JSON), length, confidence, observed, access count, last access.
type CandidateRow = (String, String, i64, f64, i64, i64, Option<i64>);

impl ConversationStore {
    /// The facts of `user` that best match `text`, by BM25 × recency × confidence × a fading
    /// access boost (see [`super::recall`]); superseded and expired facts are skipped. Logged
    /// as a `memory.recall` span (`gen_ai.operation.name` `search_memory`).
    ///
    /// # Errors
    /// [`Error::InvalidInput`]: an empty user, a limit outside 1 to 100, a text over 32 KB;
    /// storage errors.
    pub async fn recall(
        &self,
        org: Uuid,
        user: &str,
        text: &str,
        query: &RecallQuery,
    ) -> Result<Recall> {
        check_user(user)?;
        if !(1..=MAX_RECALL_LIMIT).contains(&query.limit) {
            return Err(Error::invalid_input(
                "limit",
                format!("must be 1 to {MAX_RECALL_LIMIT}"),
            ));
        }
        if text.len() > crate::routing::text::MAX_MESSAGE_BYTES {
            return Err(Error::invalid_input("text", "is over 32 KB"));
        }
        let logger = self.keel.logger(
            "memory",
            LoggerOptions {
                org_id: Some(org.to_string()),
                ..LoggerOptions::default()
            },
        );
        let mut fields = Map::new();
        fields.insert("gen_ai.operation.name".into(), json!("search_memory"));
        let span = logger.span("memory.recall", fields, None);
        let outcome = self.ranked(org, user, text, query).await;
        match &outcome {
            Ok(r) => span.stop(Map::from_iter([
                ("facts".into(), json!(r.facts.len())),
                ("candidates".into(), json!(r.candidates)),
                ("exact".into(), json!(r.exact)),
            ])),
            Err(e) => span.fail(&e.to_string(), Map::new()),
        };
        outcome
    }

    async fn ranked(
        &self,
        org: Uuid,
        user: &str,
        text: &str,
        query: &RecallQuery,
    ) -> Result<Recall> {
        let terms = query_terms(text);
        let mut recall = Recall {
            facts: Vec::new(),
            terms: terms.clone(),
            candidates: 0,
            exact: true,
            block: String::new(),
        };
        if terms.is_empty() {
            return Ok(recall);
        }
        let corpus = self.corpus(org, user, &terms).await?;
        // Rarest first, while the candidates they bring stay under the limit.
        let mut present: Vec<&String> = terms
            .iter()
            .filter(|t| corpus.df.contains_key(*t))
            .collect();
        present.sort_by_key(|t| corpus.df[*t]);
        let mut taken = 0;
        let mut sum = 0;
        for term in &present {
            if taken > 0 && sum + corpus.df[*term] > CANDIDATE_LIMIT {
                break;
            }
            sum += corpus.df[*term];
            taken += 1;
        }
        if taken == 0 {
            return Ok(recall);
        }
        let (selected, unseen) = present.split_at(taken);
        let rows = self
            .candidates(org, user, selected, &query.categories)
            .await?;
        recall.candidates = rows.len() as u64;
        let now_ms = chrono::Utc::now().timestamp_millis();
        let mut scored: Vec<(Score, String)> = rows
            .into_iter()
            .map(
                |(id, terms, len, confidence, observed, accesses, accessed)| {
                    let terms: Vec<(String, u32)> =
                        serde_json::from_str(&terms).unwrap_or_default();
                    let signals = Signals {
                        confidence,
                        observed_ms: observed,
                        access_count: count(accesses),
                        last_access_ms: accessed,
                    };
                    (
                        score(&recall.terms, &terms, count(len), signals, &corpus, now_ms),
                        id,
                    )
                },
            )
            .filter(|(s, _)| s.score > 0.0)
            .collect();
        scored.sort_by(|a, b| b.0.score.total_cmp(&a.0.score));
        let limit = query.limit as usize;
        let kth = scored.get(limit - 1).map_or(0.0, |s| s.0.score);
        let unseen: Vec<String> = unseen.iter().map(|t| (*t).clone()).collect();
        recall.exact = recall.candidates < CANDIDATE_LIMIT
            && (unseen.is_empty() || kth >= unseen_bound(&unseen, &corpus));
        // Ties at the k-th place are broken by the full rows (newer first, then the id).
        let cut = scored.get(limit - 1).map_or(0.0, |s| s.0.score);
        scored.retain(|(s, _)| s.score >= cut);
        scored.truncate(limit * 4);
        let scores: HashMap<Uuid, Score> = scored
            .into_iter()
            .filter_map(|(s, id)| Some((Uuid::try_parse(&id).ok()?, s)))
            .collect();
        let ids: Vec<Uuid> = scores.keys().copied().collect();
        let facts = self.facts_by_id(org, &ids).await?;
        let mut ranked: Vec<RecalledFact> = facts
            .into_iter()
            .filter_map(|fact| {
                let score = *scores.get(&fact.id)?;
                Some(RecalledFact { fact, score })
            })
            .collect();
        ranked.sort_by(best_first);
        ranked.truncate(limit);
        if query.record_access {
            let ids: Vec<Uuid> = ranked.iter().map(|r| r.fact.id).collect();
            let mut counted: HashMap<Uuid, Fact> = self
                .record_access(org, &ids)
                .await?
                .into_iter()
                .map(|f| (f.id, f))
                .collect();
            for r in &mut ranked {
                if let Some(fact) = counted.remove(&r.fact.id) {
                    r.fact = fact;
                }
            }
        }
        recall.block = memories_block(&ranked.iter().map(|r| r.fact.clone()).collect::<Vec<_>>());
        recall.facts = ranked;
        Ok(recall)
    }

    /// The user's totals and the document frequency of each of `terms` (absent: none).
    async fn corpus(&self, org: Uuid, user: &str, terms: &[String]) -> Result<Corpus> {
        let pool = self.keel.pool()?;
        let statement = format!(
            "SELECT term, df, total_len FROM memory_term_stats
             WHERE org_id = $1::uuid AND user_id = $2 AND (term = '' OR term IN ({}))",
            Dialect::of(pool).json_strings("$3")
        );
        let rows: Vec<(String, i64, i64)> = on_pool!(pool, |conn, sql| {
            sqlx::query_as(&sql(&statement))
                .bind(org.to_string())
                .bind(user)
                .bind(serde_json::to_string(terms).unwrap_or_default())
                .fetch_all(conn)
                .await?
        });
        let mut corpus = Corpus::default();
        for (term, df, total_len) in rows {
            if term.is_empty() {
                (corpus.facts, corpus.total_len) = (count(df), count(total_len));
            } else if df > 0 {
                corpus.df.insert(term, count(df));
            }
        }
        Ok(corpus)
    }

    /// The live facts holding any of `terms`, newest first, at most [`CANDIDATE_LIMIT`].
    async fn candidates(
        &self,
        org: Uuid,
        user: &str,
        terms: &[&String],
        categories: &[FactCategory],
    ) -> Result<Vec<CandidateRow>> {
        let pool = self.keel.pool()?;
        let dialect = Dialect::of(pool);
        let statement = format!(
            "SELECT f.id::text, f.terms::text, f.doc_len, {}, {}, f.access_count, {}
             FROM memory_facts f
             WHERE f.org_id = $1::uuid AND f.user_id = $2 AND f.superseded_at IS NULL
               AND (f.expires_at IS NULL OR NOT ({}))
               AND ($4 = '[]' OR f.category IN ({}))
               AND f.id IN (SELECT t.fact_id FROM memory_fact_terms t
                            WHERE t.org_id = $1::uuid AND t.user_id = $2 AND t.term IN ({}))
             ORDER BY f.observed_at DESC LIMIT $5",
            dialect.float("f.confidence"),
            dialect.epoch_ms("f.observed_at"),
            dialect.epoch_ms("f.last_accessed_at"),
            dialect.is_past("f.expires_at"),
            dialect.json_strings("$4"),
            dialect.json_strings("$3"),
        );
        let categories: Vec<&str> = categories.iter().map(|c| c.as_str()).collect();
        let rows: Vec<CandidateRow> = on_pool!(pool, |conn, sql| {
            sqlx::query_as(&sql(&statement))
                .bind(org.to_string())
                .bind(user)
                .bind(serde_json::to_string(terms).unwrap_or_default())
                .bind(serde_json::to_string(&categories).unwrap_or_default())
                .bind(CANDIDATE_LIMIT as i64)
                .fetch_all(conn)
                .await?
        });
        Ok(rows)
    }

    /// Counts a recall in the facts with `ids` (one `UPDATE`, `access_count + 1`): the facts
    /// as counted.
    async fn record_access(&self, org: Uuid, ids: &[Uuid]) -> Result<Vec<Fact>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let pool = self.keel.pool()?;
        let statement = format!(
            "UPDATE memory_facts SET access_count = access_count + 1, last_accessed_at = now()
             WHERE org_id = $1::uuid AND id IN ({})",
            Dialect::of(pool).json_uuids("$2")
        );
        on_pool!(pool, |conn, sql| {
            sqlx::query(&sql(&statement))
                .bind(org.to_string())
                .bind(serde_json::to_string(ids).unwrap_or_default())
                .execute(conn)
                .await?
                .rows_affected()
        });
        self.facts_by_id(org, ids).await
    }
}
