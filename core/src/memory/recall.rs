//! Recall's ranking, as pure functions: BM25 over a fact's subject and content, times its
//! recency, its confidence and a small access boost that fades.
//!
//! - Terms are routing's ([`crate::routing::text`]): Unicode word boundaries, case folded,
//!   stop words dropped, Snowball-stemmed. A query term counts once however often it is
//!   repeated. Subject terms count [`SUBJECT_WEIGHT`] times (BM25F-style).
//! - BM25 with `k1` [`K1`] and `b` [`B`]; `idf = ln(1 + (N − df + 0.5) / (df + 0.5))` over the
//!   user's live facts.
//! - Recency: [`RECENCY_FLOOR`] plus the rest halving every [`RECENCY_HALF_LIFE_DAYS`] of the
//!   fact's age (from when it was said), so an old fact keeps half its weight.
//! - Access: `1 + ACCESS_WEIGHT × saturation × fade`, where saturation is
//!   `ln(1 + count) / ln(1 + ACCESS_SATURATION)` (at most 1) and fade halves every
//!   [`ACCESS_HALF_LIFE_DAYS`] since the last recall. The boost is at most 20 %, and it fades
//!   unless the fact keeps matching what users ask, so recall does not feed on itself (the
//!   original's starved every memory not accessed lately).
//!
//! The store ([`super::ConversationStore::recall`]) reads candidates from the per-user index,
//! rarest terms first, and [`unseen_bound`] says whether a fact outside them could still
//! outrank the k-th: when not, the ranking is exact.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::fact::Fact;
use super::store::parse_time;
use crate::routing::text::{canonical, terms};

/// BM25's term-frequency saturation.
pub const K1: f64 = 1.2;
/// BM25's length normalisation.
pub const B: f64 = 0.75;
/// How many times a subject term counts against a content term.
pub const SUBJECT_WEIGHT: u32 = 2;
/// The share of its weight an old fact keeps.
pub const RECENCY_FLOOR: f64 = 0.5;
/// The age at which a fact's recency is halfway to the floor, in days.
pub const RECENCY_HALF_LIFE_DAYS: f64 = 30.0;
/// The largest access boost (0.2: 20 %).
pub const ACCESS_WEIGHT: f64 = 0.2;
/// The access count at which the boost saturates.
pub const ACCESS_SATURATION: f64 = 20.0;
/// The days after the last recall at which the boost halves.
pub const ACCESS_HALF_LIFE_DAYS: f64 = 14.0;
/// The most distinct query terms read (the first ones).
pub const MAX_QUERY_TERMS: usize = 64;
/// The default and largest number of facts a recall returns.
pub const DEFAULT_RECALL_LIMIT: u32 = 10;
/// The largest recall limit.
pub const MAX_RECALL_LIMIT: u32 = 100;

const DAY_MS: f64 = 86_400_000.0;

/// A fact's terms: (stem, weighted count), sorted by stem, and their total (its length).
pub fn fact_terms(subject: &str, content: &str) -> (Vec<(String, u32)>, u64) {
    let mut counts: HashMap<String, u32> = HashMap::new();
    for term in terms(&canonical(subject)) {
        *counts.entry(term).or_default() += SUBJECT_WEIGHT;
    }
    for term in terms(&canonical(content)) {
        *counts.entry(term).or_default() += 1;
    }
    let mut out: Vec<(String, u32)> = counts.into_iter().collect();
    out.sort_unstable();
    let len = out.iter().map(|(_, n)| u64::from(*n)).sum();
    (out, len)
}

/// The distinct terms of a query, in order of first use, at most [`MAX_QUERY_TERMS`].
pub fn query_terms(query: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for term in terms(&canonical(query)) {
        if out.len() == MAX_QUERY_TERMS {
            break;
        }
        if !out.contains(&term) {
            out.push(term);
        }
    }
    out
}

/// The statistics BM25 reads: the user's live facts, their total length, and the document
/// frequency of each query term.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Corpus {
    /// Live facts.
    pub facts: u64,
    /// The sum of their lengths.
    pub total_len: u64,
    /// How many live facts hold each term (absent: none).
    pub df: HashMap<String, u64>,
}

impl Corpus {
    /// The inverse document frequency of `term`.
    pub fn idf(&self, term: &str) -> f64 {
        let n = self.facts as f64;
        let df = self.df.get(term).copied().unwrap_or(0) as f64;
        (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
    }

    fn avg_len(&self) -> f64 {
        if self.facts == 0 {
            1.0
        } else {
            (self.total_len as f64 / self.facts as f64).max(1.0)
        }
    }
}

/// What besides its words ranks a fact.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Signals {
    /// The writer's confidence, 0 to 1.
    pub confidence: f64,
    /// When it was said, epoch milliseconds.
    pub observed_ms: i64,
    /// How many recalls returned it.
    pub access_count: u64,
    /// When a recall last returned it, epoch milliseconds.
    pub last_access_ms: Option<i64>,
}

/// A fact's score and its factors.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// The product of the factors below and the confidence.
    pub score: f64,
    /// BM25 of the query against the fact.
    pub bm25: f64,
    /// The recency factor, [`RECENCY_FLOOR`] to 1.
    pub recency: f64,
    /// The access factor, 1 to 1 + [`ACCESS_WEIGHT`].
    pub access: f64,
}

/// `0.5 ^ (ms / half_life)`, with future times counted as now.
fn halve(ms: i64, half_life_days: f64) -> f64 {
    0.5f64.powf((ms.max(0) as f64 / DAY_MS) / half_life_days)
}

/// The score of a fact with `terms` (sorted, as [`fact_terms`] makes them) and length
/// `doc_len` for the distinct `query` terms.
pub fn score<T: AsRef<str>>(
    query: &[String],
    terms: &[(T, u32)],
    doc_len: u64,
    signals: Signals,
    corpus: &Corpus,
    now_ms: i64,
) -> Score {
    let norm = K1 * (1.0 - B + B * doc_len as f64 / corpus.avg_len());
    let bm25: f64 = query
        .iter()
        .filter_map(|q| {
            let i = terms.binary_search_by(|(t, _)| t.as_ref().cmp(q)).ok()?;
            let tf = f64::from(terms[i].1);
            Some(corpus.idf(q) * tf * (K1 + 1.0) / (tf + norm))
        })
        .sum();
    let recency = RECENCY_FLOOR
        + (1.0 - RECENCY_FLOOR) * halve(now_ms - signals.observed_ms, RECENCY_HALF_LIFE_DAYS);
    let saturation =
        ((1.0 + signals.access_count as f64).ln() / (1.0 + ACCESS_SATURATION).ln()).min(1.0);
    let fade = signals
        .last_access_ms
        .map_or(0.0, |at| halve(now_ms - at, ACCESS_HALF_LIFE_DAYS));
    let access = 1.0 + ACCESS_WEIGHT * saturation * fade;
    Score {
        score: bm25 * recency * access * signals.confidence.clamp(0.0, 1.0),
        bm25,
        recency,
        access,
    }
}

/// The highest score a fact could reach holding only `terms` of the query: what a fact the
/// candidates left out could score.
pub fn unseen_bound<T: AsRef<str>>(terms: &[T], corpus: &Corpus) -> f64 {
    let bm25: f64 = terms
        .iter()
        .map(|t| corpus.idf(t.as_ref()) * (K1 + 1.0))
        .sum();
    bm25 * (1.0 + ACCESS_WEIGHT)
}

/// A recalled fact and its score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecalledFact {
    /// The fact.
    pub fact: Fact,
    /// Its score.
    #[serde(flatten)]
    pub score: Score,
}

/// Best first: by score, then the newer, then the smaller id.
fn best_first(a: &RecalledFact, b: &RecalledFact) -> std::cmp::Ordering {
    b.score
        .score
        .total_cmp(&a.score.score)
        .then_with(|| b.fact.observed_at.cmp(&a.fact.observed_at))
        .then_with(|| a.fact.id.cmp(&b.fact.id))
}

fn ms(text: &str) -> i64 {
    parse_time("", text).map_or(0, |t| t.timestamp_millis())
}

/// The signals of a stored fact.
fn signals(fact: &Fact) -> Signals {
    Signals {
        confidence: fact.confidence,
        observed_ms: ms(&fact.observed_at),
        access_count: fact.access_count,
        last_access_ms: fact.last_accessed_at.as_deref().map(ms),
    }
}

/// True when `fact` is recalled at `now`: not superseded, not expired.
fn live(fact: &Fact, now: DateTime<Utc>) -> bool {
    fact.superseded_at.is_none()
        && fact
            .expires_at
            .as_deref()
            .is_none_or(|e| ms(e) > now.timestamp_millis())
}

/// A fact with its terms and length.
type Analysed<'a> = (&'a Fact, Vec<(String, u32)>, u64);

/// The `limit` best of `facts` for `query` at `now`, over the statistics of the live ones:
/// what the store's recall returns for the same facts. Pure.
pub fn rank_facts(
    query: &str,
    facts: &[Fact],
    now: DateTime<Utc>,
    limit: usize,
) -> Vec<RecalledFact> {
    let query = query_terms(query);
    let live: Vec<Analysed<'_>> = facts
        .iter()
        .filter(|f| live(f, now))
        .map(|f| {
            let (terms, len) = fact_terms(&f.subject, &f.content);
            (f, terms, len)
        })
        .collect();
    let mut corpus = Corpus {
        facts: live.len() as u64,
        ..Corpus::default()
    };
    for (_, terms, len) in &live {
        corpus.total_len += len;
        for (term, _) in terms {
            *corpus.df.entry(term.clone()).or_default() += 1;
        }
    }
    let now_ms = now.timestamp_millis();
    let mut out: Vec<RecalledFact> = live
        .iter()
        .map(|(fact, terms, len)| RecalledFact {
            fact: (*fact).clone(),
            score: score(&query, terms, *len, signals(fact), &corpus, now_ms),
        })
        .filter(|r| r.score.bm25 > 0.0)
        .collect();
    out.sort_by(best_first);
    out.truncate(limit);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus(facts: u64, df: &[(&str, u64)]) -> Corpus {
        Corpus {
            facts,
            total_len: facts * 8,
            df: df.iter().map(|(t, n)| ((*t).to_owned(), *n)).collect(),
        }
    }

    const SIGNALS: Signals = Signals {
        confidence: 1.0,
        observed_ms: 0,
        access_count: 0,
        last_access_ms: None,
    };

    #[test]
    fn subject_terms_weigh_double_and_sort() {
        let (terms, len) = fact_terms("Acme pricing", "Acme wants a discount");
        assert_eq!(
            terms,
            [
                ("acm".to_owned(), 3),
                ("discount".to_owned(), 1),
                ("price".to_owned(), 2),
                ("want".to_owned(), 1)
            ]
        );
        assert_eq!(len, 7);
    }

    #[test]
    fn query_terms_count_once() {
        assert_eq!(
            query_terms("pricing PRICING prices of Acme"),
            ["price", "acm"]
        );
    }

    #[test]
    fn rarer_terms_score_higher() {
        let c = corpus(100, &[("acm", 2), ("price", 60)]);
        let doc = [("acm".to_owned(), 1), ("price".to_owned(), 1)];
        let rare = score(&["acm".into()], &doc, 8, SIGNALS, &c, 0);
        let common = score(&["price".into()], &doc, 8, SIGNALS, &c, 0);
        assert!(rare.bm25 > 3.0 * common.bm25, "{rare:?} {common:?}");
    }

    #[test]
    fn recency_halves_towards_the_floor_and_access_fades() {
        let c = corpus(10, &[("acm", 1)]);
        let doc = [("acm".to_owned(), 1)];
        let q = ["acm".to_owned()];
        let day = DAY_MS as i64;
        let old = score(&q, &doc, 8, SIGNALS, &c, 30 * day);
        assert!((old.recency - 0.75).abs() < 1e-9);
        let used = Signals {
            access_count: 20,
            last_access_ms: Some(30 * day),
            ..SIGNALS
        };
        assert!((score(&q, &doc, 8, used, &c, 30 * day).access - 1.2).abs() < 1e-9);
        assert!((score(&q, &doc, 8, used, &c, 44 * day).access - 1.1).abs() < 1e-9);
        let never = score(&q, &doc, 8, SIGNALS, &c, 0);
        assert_eq!(never.access, 1.0);
    }

    #[test]
    fn the_bound_is_above_any_score_of_those_terms() {
        let c = corpus(1000, &[("acm", 900)]);
        let doc = [("acm".to_owned(), 50)];
        let best = Signals {
            access_count: 1000,
            last_access_ms: Some(0),
            ..SIGNALS
        };
        let s = score(&["acm".into()], &doc, 50, best, &c, 0);
        assert!(s.score < unseen_bound(&["acm"], &c));
    }
}
