//! Recall from the store: the best facts of a user for a text, without reading every fact.
//!
//! 1. The query's distinct terms ([`query_terms`]) and, in one statement, their document
//!    frequencies and the user's totals from `memory_term_stats`.
//! 2. Candidates: the live facts holding the rarest terms, taken while their frequencies add
//!    up to at most [`CANDIDATE_LIMIT`] (always the rarest one): their ids from the postings
//!    (at most [`CANDIDATE_LIMIT`], the newest when more), then those facts with only what
//!    scoring needs.
//! 3. Scoring in Rust ([`super::recall::score`], the same function as [`rank_facts`]); the
//!    ranking is `exact` when no fact outside the candidates could reach the k-th score
//!    ([`unseen_bound`]) and the candidate read was not cut short.
//! 4. The top k read in full; when access is recorded, by one
//!    `UPDATE … SET access_count = access_count + 1, last_accessed_at = now() … RETURNING`.
//!
//! [`rank_facts`]: super::recall::rank_facts

use std::borrow::Cow;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, json};
use uuid::Uuid;

use super::fact::{FactCategory, memories_block};
use super::fact_store::{check_user, json};
use super::recall::{
    Corpus, DEFAULT_RECALL_LIMIT, MAX_RECALL_LIMIT, RecalledFact, Score, Signals, query_terms,
    score, unseen_bound,
};
use super::store::{ConversationStore, count};
use crate::error::{Error, Result};
use crate::store::{Dialect, on_pool};

/// The most candidate facts a recall scores.
pub const CANDIDATE_LIMIT: u64 = 500;

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
        let (_logger, span) = self.span(org, None, "memory.recall", "search_memory", None);
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
        let mut recall = Recall {
            facts: Vec::new(),
            terms: query_terms(text),
            candidates: 0,
            exact: true,
            block: String::new(),
        };
        if recall.terms.is_empty() {
            return Ok(recall);
        }
        let corpus = self.corpus(org, user, &recall.terms).await?;
        // Rarest first, while the candidates they bring stay under the limit.
        let mut present: Vec<&String> = recall
            .terms
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
        let (rows, capped) = self
            .candidates(org, user, selected, &query.categories)
            .await?;
        recall.candidates = rows.len() as u64;
        let now_ms = chrono::Utc::now().timestamp_millis();
        // (score, observed, id): best first is the highest score, then the newer, then the
        // smaller id, as `best_first` orders full facts.
        let mut scored: Vec<(Score, i64, Uuid)> = rows
            .into_iter()
            .filter_map(
                |(id, terms, len, confidence, observed, accesses, accessed)| {
                    let terms: Vec<(Cow<'_, str>, u32)> = serde_json::from_str(&terms).ok()?;
                    let signals = Signals {
                        confidence,
                        observed_ms: observed,
                        access_count: count(accesses),
                        last_access_ms: accessed,
                    };
                    let s = score(&recall.terms, &terms, count(len), signals, &corpus, now_ms);
                    Some((s, observed, Uuid::try_parse(&id).ok()?))
                },
            )
            .filter(|(s, _, _)| s.score > 0.0)
            .collect();
        scored.sort_by(|a, b| {
            b.0.score
                .total_cmp(&a.0.score)
                .then(b.1.cmp(&a.1))
                .then(a.2.cmp(&b.2))
        });
        let limit = query.limit as usize;
        let kth = scored.get(limit - 1).map_or(0.0, |s| s.0.score);
        recall.exact = !capped && (unseen.is_empty() || kth >= unseen_bound(unseen, &corpus));
        scored.truncate(limit);
        let ids: Vec<Uuid> = scored.iter().map(|s| s.2).collect();
        let facts = if query.record_access {
            self.count_access(org, &ids).await?
        } else {
            self.facts_by_id(org, &ids).await?
        };
        let scores: HashMap<Uuid, Score> = scored.into_iter().map(|(s, _, id)| (id, s)).collect();
        let ranked: Vec<RecalledFact> = facts
            .into_iter()
            .filter_map(|fact| {
                let score = *scores.get(&fact.id)?;
                Some(RecalledFact { fact, score })
            })
            .collect();
        recall.block = memories_block(ranked.iter().map(|r| &r.fact));
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
                .bind(json(terms))
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

    /// The live facts holding any of `terms`, at most [`CANDIDATE_LIMIT`] (the newest stored
    /// when more, and then true). Two statements, each driven by a primary key so the plan
    /// cannot start from the user's whole history: the fact ids from the postings (fact ids
    /// are UUIDv7, so the largest are the newest), then those facts.
    async fn candidates(
        &self,
        org: Uuid,
        user: &str,
        terms: &[&String],
        categories: &[FactCategory],
    ) -> Result<(Vec<CandidateRow>, bool)> {
        let pool = self.keel.pool()?;
        let dialect = Dialect::of(pool);
        // Materialized: the postings of these terms first, however small the limit (a plan
        // walking every posting in fact id order to stop at the limit is what it prevents).
        let postings = format!(
            "WITH hits AS MATERIALIZED (
                 SELECT t.fact_id FROM memory_fact_terms t
                 WHERE t.org_id = $1::uuid AND t.user_id = $2 AND t.term IN ({}))
             SELECT DISTINCT fact_id::text FROM hits ORDER BY 1 DESC LIMIT $4",
            dialect.json_strings("$3"),
        );
        let ids: Vec<(String,)> = on_pool!(pool, |conn, sql| {
            sqlx::query_as(&sql(&postings))
                .bind(org.to_string())
                .bind(user)
                .bind(json(terms))
                .bind(CANDIDATE_LIMIT as i64)
                .fetch_all(conn)
                .await?
        });
        if ids.is_empty() {
            return Ok((Vec::new(), false));
        }
        let capped = ids.len() as u64 >= CANDIDATE_LIMIT;
        let facts = format!(
            "SELECT f.id::text, f.terms::text, f.doc_len, {}, {}, f.access_count, {}
             FROM memory_facts f
             WHERE f.org_id = $1::uuid AND f.id IN ({}) AND f.superseded_at IS NULL
               AND (f.expires_at IS NULL OR NOT ({}))
               AND ($3 = '[]' OR f.category IN ({}))",
            dialect.float("f.confidence"),
            dialect.epoch_ms("f.observed_at"),
            dialect.epoch_ms("f.last_accessed_at"),
            dialect.json_uuids("$2"),
            dialect.is_past("f.expires_at"),
            dialect.json_strings("$3"),
        );
        let ids: Vec<&str> = ids.iter().map(|(id,)| id.as_str()).collect();
        let categories: Vec<&str> = categories.iter().map(|c| c.as_str()).collect();
        let rows: Vec<CandidateRow> = on_pool!(pool, |conn, sql| {
            sqlx::query_as(&sql(&facts))
                .bind(org.to_string())
                .bind(json(&ids))
                .bind(json(&categories))
                .fetch_all(conn)
                .await?
        });
        Ok((rows, capped))
    }
}
