//! The fact tables on both backends: writing facts with their recall index, superseding, and
//! listing. See `migrations/postgres/0010_memory_facts.sql` for the layout.
//!
//! A write is one transaction. It first takes the user's statistics row (term `''`), so
//! writers of one user queue instead of deadlocking; then, per fact, marks the fact it
//! supersedes (`UPDATE … WHERE superseded_at IS NULL RETURNING`, so a fact is superseded
//! once) and takes that fact's terms out of the statistics; then inserts the facts, their
//! postings and the statistics increments in three statements. Document frequencies move
//! only inside `UPDATE`s and upserts (`df = df + n`), never from a value the client read.

use std::collections::BTreeMap;

use serde::Deserialize;
use uuid::Uuid;

use super::compact::signed;
use super::fact::{Fact, FactCategory, NewFact, check_facts};
use super::link::{EntityKind, EntityLinker};
use super::recall::fact_terms;
use super::store::{ConversationStore, count, parse_time, rfc3339};
use crate::error::{Error, Result};
use crate::store::{Dialect, in_transaction, on_pool, storable_text};

/// Which facts [`ConversationStore::facts`] lists.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FactQuery {
    /// Only this category.
    pub category: Option<FactCategory>,
    /// Superseded facts too (default false).
    pub include_superseded: bool,
    /// At most this many, 1 to 1,000 (default 100), newest first.
    pub limit: u32,
}

impl Default for FactQuery {
    fn default() -> Self {
        Self {
            category: None,
            include_superseded: false,
            limit: 100,
        }
    }
}

/// A fact row as selected by [`fact_columns`].
#[derive(Debug, sqlx::FromRow)]
struct FactRow {
    id: String,
    org_id: String,
    user_id: String,
    category: String,
    subject: String,
    content: String,
    confidence: f64,
    conversation_id: Option<String>,
    source_seqs: String,
    deal_name: Option<String>,
    contact_name: Option<String>,
    company_name: Option<String>,
    deal_id: Option<String>,
    contact_id: Option<String>,
    company_id: Option<String>,
    observed_ms: i64,
    created_ms: i64,
    expires_ms: Option<i64>,
    superseded_by: Option<String>,
    superseded_ms: Option<i64>,
    access_count: i64,
    accessed_ms: Option<i64>,
}

/// The columns of a [`FactRow`], from table alias `f`.
fn fact_columns(dialect: Dialect) -> String {
    columns_of(dialect, "f.")
}

/// The columns of a [`FactRow`], each column name prefixed with `t` (`"f."`, or `""` in a
/// `RETURNING` list, where SQLite takes no alias).
fn columns_of(dialect: Dialect, t: &str) -> String {
    format!(
        "{t}id::text AS id, {t}org_id::text AS org_id, {t}user_id, {t}category, {t}subject,
         {t}content, {} AS confidence, {t}conversation_id::text AS conversation_id,
         {t}source_seqs::text AS source_seqs, {t}deal_name, {t}contact_name, {t}company_name,
         {t}deal_id, {t}contact_id, {t}company_id, {} AS observed_ms, {} AS created_ms,
         {} AS expires_ms, {t}superseded_by::text AS superseded_by, {} AS superseded_ms,
         {t}access_count, {} AS accessed_ms",
        dialect.float(&format!("{t}confidence")),
        dialect.epoch_ms(&format!("{t}observed_at")),
        dialect.epoch_ms(&format!("{t}created_at")),
        dialect.epoch_ms(&format!("{t}expires_at")),
        dialect.epoch_ms(&format!("{t}superseded_at")),
        dialect.epoch_ms(&format!("{t}last_accessed_at")),
    )
}

fn uuid(text: &str) -> Uuid {
    Uuid::try_parse(text).unwrap_or_default()
}

impl From<FactRow> for Fact {
    fn from(r: FactRow) -> Self {
        Fact {
            id: uuid(&r.id),
            org_id: uuid(&r.org_id),
            user_id: r.user_id,
            category: FactCategory::parse(&r.category).unwrap_or(FactCategory::Fact),
            subject: r.subject,
            content: r.content,
            confidence: r.confidence,
            conversation_id: r.conversation_id.as_deref().map(uuid),
            source_seqs: serde_json::from_str(&r.source_seqs).unwrap_or_default(),
            deal_name: r.deal_name,
            contact_name: r.contact_name,
            company_name: r.company_name,
            deal_id: r.deal_id,
            contact_id: r.contact_id,
            company_id: r.company_id,
            observed_at: rfc3339(r.observed_ms),
            created_at: rfc3339(r.created_ms),
            expires_at: r.expires_ms.map(rfc3339),
            superseded_by: r.superseded_by.as_deref().map(uuid),
            superseded_at: r.superseded_ms.map(rfc3339),
            access_count: count(r.access_count),
            last_accessed_at: r.accessed_ms.map(rfc3339),
        }
    }
}

/// Checks a user id: non-empty, at most 200 characters.
pub(super) fn check_user(user: &str) -> Result<()> {
    crate::idents::short_name("user_id", user)
}

/// Fills the ids of the entities each fact names and does not already carry, through `linker`.
pub(super) async fn link_all(
    org: Uuid,
    user: &str,
    facts: &mut [NewFact],
    linker: Option<&dyn EntityLinker>,
) -> Result<()> {
    let Some(linker) = linker else {
        return Ok(());
    };
    for fact in facts {
        for (kind, name, id) in [
            (EntityKind::Deal, &fact.deal_name, &mut fact.deal_id),
            (
                EntityKind::Contact,
                &fact.contact_name,
                &mut fact.contact_id,
            ),
            (
                EntityKind::Company,
                &fact.company_name,
                &mut fact.company_id,
            ),
        ] {
            if let (Some(name), None) = (name, &id) {
                *id = linker.link(org, user, kind, name).await?;
            }
        }
    }
    Ok(())
}

/// A fact ready to insert: its id, checked input, terms and length.
struct Prepared<'a> {
    id: Uuid,
    fact: &'a NewFact,
    terms: Vec<(String, u32)>,
    len: u64,
}

impl ConversationStore {
    /// Stores facts for `user` of `org` in one transaction, linking the entities they name
    /// through `linker` (ids already given are kept); a fact with `supersedes` marks that live
    /// fact superseded (both kept). With `key`, stores once per key: a second call returns
    /// the facts the first stored. Returns the stored facts in order.
    ///
    /// # Errors
    /// [`Error::InvalidInput`]: an empty user, a batch [`check_facts`] refuses, a `key` that is
    /// blank, over 255 characters or holds a NUL (`idempotency_key`), a `supersedes`
    /// that is not a live fact of the user (`facts[i].supersedes`); the linker's errors;
    /// storage errors.
    pub async fn add_facts(
        &self,
        org: Uuid,
        user: &str,
        facts: &[NewFact],
        key: Option<&str>,
        linker: Option<&dyn EntityLinker>,
    ) -> Result<Vec<Fact>> {
        check_user(user)?;
        check_facts(facts)?;
        if let Some(key) = key {
            crate::idents::idempotency_key("idempotency_key", key)?;
        }
        if let Some(key) = key
            && let Some(ids) = self.extraction(org, key).await?
        {
            return self.facts_by_id(org, &ids).await;
        }
        let mut facts = facts.to_vec();
        link_all(org, user, &mut facts, linker).await?;
        let (ids, _) = self.write_facts(org, user, &facts, key).await?;
        self.facts_by_id(org, &ids).await
    }

    /// The fact ids stored under `key`, if it was used.
    pub(super) async fn extraction(&self, org: Uuid, key: &str) -> Result<Option<Vec<Uuid>>> {
        let pool = self.keel.pool()?;
        let row: Option<(String,)> = on_pool!(pool, |conn, sql| {
            sqlx::query_as(&sql(
                "SELECT fact_ids::text FROM memory_extractions WHERE org_id = $1::uuid AND key = $2",
            ))
            .bind(org.to_string())
            .bind(key)
            .fetch_optional(conn)
            .await?
        });
        Ok(row.map(|r| serde_json::from_str(&r.0).unwrap_or_default()))
    }

    /// Inserts checked, linked facts and their index in one transaction (see the module
    /// docs); with `key`, once: when the key is taken, nothing is written and the ids stored
    /// under it are returned. The ids, and true when this call wrote them.
    pub(super) async fn write_facts(
        &self,
        org: Uuid,
        user: &str,
        facts: &[NewFact],
        key: Option<&str>,
    ) -> Result<(Vec<Uuid>, bool)> {
        let pool = self.keel.pool()?;
        let dialect = Dialect::of(pool);
        let prepared: Vec<Prepared<'_>> = facts
            .iter()
            .map(|fact| {
                let (terms, len) = fact_terms(&fact.subject, &fact.content);
                Prepared {
                    id: Uuid::now_v7(),
                    fact,
                    terms,
                    len,
                }
            })
            .collect();
        let ids: Vec<Uuid> = prepared.iter().map(|p| p.id).collect();
        let ids_json = json(&ids);
        let postings: Vec<(&str, String)> = prepared
            .iter()
            .flat_map(|p| {
                p.terms
                    .iter()
                    .map(move |(t, _)| (t.as_str(), p.id.to_string()))
            })
            .collect();
        let mut df: BTreeMap<&str, u64> = BTreeMap::new();
        for (term, _) in &postings {
            *df.entry(term).or_default() += 1;
        }
        let df: Vec<(&str, u64)> = df.into_iter().collect();
        let total_len: u64 = prepared.iter().map(|p| p.len).sum();
        let insert_fact = format!(
            "INSERT INTO memory_facts
                 (id, org_id, user_id, category, subject, content, confidence, conversation_id,
                  source_seqs, deal_name, contact_name, company_name, deal_id, contact_id,
                  company_id, observed_at, expires_at, terms, doc_len)
             VALUES ($1::uuid, $2::uuid, $3, $4, $5, $6, $7, $8::uuid, {}, $10, $11, $12, $13,
                     $14, $15, coalesce({}, now()), {}, {}, $19)",
            dialect.json("$9"),
            dialect.from_epoch_ms("$16"),
            dialect.from_epoch_ms("$17"),
            dialect.json("$18"),
        );
        let insert_postings = format!(
            "INSERT INTO memory_fact_terms (org_id, user_id, term, fact_id)
             SELECT $1::uuid, $2, a, b::uuid FROM ({}) AS p WHERE true",
            dialect.json_pairs("$3")
        );
        let add_df = format!(
            "INSERT INTO memory_term_stats (org_id, user_id, term, df)
             SELECT $1::uuid, $2, a, b::int8 FROM ({}) AS p WHERE true
             ON CONFLICT (org_id, user_id, term) DO UPDATE SET df = memory_term_stats.df + excluded.df",
            dialect.json_pairs("$3")
        );
        let remove_df = format!(
            "UPDATE memory_term_stats SET df = df - 1
             WHERE org_id = $1::uuid AND user_id = $2 AND term IN ({})",
            dialect.json_strings("$3")
        );
        let time = |field: &str, text: &Option<String>| -> Result<Option<f64>> {
            text.as_deref()
                .map(|t| parse_time(field, t).map(|t| t.timestamp_millis() as f64))
                .transpose()
        };
        let written: Option<Vec<Uuid>> = in_transaction!(pool, None::<&str>, |tx, sql| {
            // The user's row first: writers of one user queue here.
            sqlx::query(&sql(
                "INSERT INTO memory_term_stats (org_id, user_id, term, df, total_len)
                 VALUES ($1::uuid, $2, '', 0, 0)
                 ON CONFLICT (org_id, user_id, term) DO UPDATE SET df = memory_term_stats.df",
            ))
            .bind(org.to_string())
            .bind(user)
            .execute(&mut *tx)
            .await?;
            let taken = match key {
                None => false,
                Some(key) => {
                    sqlx::query(&sql(&format!(
                        "INSERT INTO memory_extractions (org_id, key, fact_ids)
                     VALUES ($1::uuid, $2, {}) ON CONFLICT DO NOTHING",
                        dialect.json("$3")
                    )))
                    .bind(org.to_string())
                    .bind(key)
                    .bind(&ids_json)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                        == 0
                }
            };
            if taken {
                None
            } else {
                for (i, p) in prepared.iter().enumerate() {
                    let at = format!("facts[{i}]");
                    let fact = p.fact;
                    if let Some(old) = fact.supersedes {
                        let marked: Option<(String, i64)> = sqlx::query_as(&sql(
                            "UPDATE memory_facts SET superseded_by = $4::uuid, superseded_at = now()
                             WHERE id = $3::uuid AND org_id = $1::uuid AND user_id = $2
                               AND superseded_at IS NULL
                             RETURNING terms::text, doc_len",
                        ))
                        .bind(org.to_string())
                        .bind(user)
                        .bind(old.to_string())
                        .bind(p.id.to_string())
                        .fetch_optional(&mut *tx)
                        .await?;
                        let Some((terms, len)) = marked else {
                            return Err(Error::invalid_input(
                                format!("{at}.supersedes"),
                                format!("{old} is not a live fact of this user"),
                            ));
                        };
                        let terms: Vec<(String, u32)> =
                            serde_json::from_str(&terms).unwrap_or_default();
                        let names: Vec<&str> = terms.iter().map(|(t, _)| t.as_str()).collect();
                        sqlx::query(&sql(&remove_df))
                            .bind(org.to_string())
                            .bind(user)
                            .bind(json(&names))
                            .execute(&mut *tx)
                            .await?;
                        sqlx::query(&sql(
                            "UPDATE memory_term_stats SET df = df - 1, total_len = total_len - $3
                             WHERE org_id = $1::uuid AND user_id = $2 AND term = ''",
                        ))
                        .bind(org.to_string())
                        .bind(user)
                        .bind(len)
                        .execute(&mut *tx)
                        .await?;
                    }
                    sqlx::query(&sql(&insert_fact))
                        .bind(p.id.to_string())
                        .bind(org.to_string())
                        .bind(user)
                        .bind(fact.category.as_str())
                        .bind(storable_text(fact.subject.trim()))
                        .bind(storable_text(fact.content.trim()))
                        .bind(fact.confidence)
                        .bind(fact.conversation_id.map(|c| c.to_string()))
                        .bind(json(&fact.source_seqs))
                        .bind(fact.deal_name.as_deref().map(storable_text))
                        .bind(fact.contact_name.as_deref().map(storable_text))
                        .bind(fact.company_name.as_deref().map(storable_text))
                        .bind(&fact.deal_id)
                        .bind(&fact.contact_id)
                        .bind(&fact.company_id)
                        .bind(time(&format!("{at}.observed_at"), &fact.observed_at)?)
                        .bind(time(&format!("{at}.expires_at"), &fact.expires_at)?)
                        .bind(json(&p.terms))
                        .bind(signed(p.len))
                        .execute(&mut *tx)
                        .await?;
                }
                for (statement, rows) in [(&insert_postings, json(&postings)), (&add_df, json(&df))]
                {
                    sqlx::query(&sql(statement))
                        .bind(org.to_string())
                        .bind(user)
                        .bind(rows)
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query(&sql(
                    "UPDATE memory_term_stats SET df = df + $3, total_len = total_len + $4
                     WHERE org_id = $1::uuid AND user_id = $2 AND term = ''",
                ))
                .bind(org.to_string())
                .bind(user)
                .bind(signed(prepared.len() as u64))
                .bind(signed(total_len))
                .execute(&mut *tx)
                .await?;
                Some(ids.clone())
            }
        });
        match (written, key) {
            (Some(ids), _) => Ok((ids, true)),
            (None, Some(key)) => Ok((self.extraction(org, key).await?.unwrap_or_default(), false)),
            (None, None) => Ok((Vec::new(), false)),
        }
    }

    /// The facts with these ids in that order (missing ones left out).
    pub(super) async fn facts_by_id(&self, org: Uuid, ids: &[Uuid]) -> Result<Vec<Fact>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let pool = self.keel.pool()?;
        let dialect = Dialect::of(pool);
        let statement = format!(
            "SELECT {} FROM memory_facts f WHERE f.org_id = $1::uuid AND f.id IN ({})",
            fact_columns(dialect),
            dialect.json_uuids("$2")
        );
        let ids_json = json(ids);
        let rows: Vec<FactRow> = on_pool!(pool, |conn, sql| {
            sqlx::query_as(&sql(&statement))
                .bind(org.to_string())
                .bind(&ids_json)
                .fetch_all(conn)
                .await?
        });
        Ok(in_order(rows, ids))
    }

    /// Counts a recall in the facts with `ids` (one `UPDATE … access_count + 1 … RETURNING`):
    /// the facts as counted, in the order of `ids`.
    pub(super) async fn count_access(&self, org: Uuid, ids: &[Uuid]) -> Result<Vec<Fact>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let pool = self.keel.pool()?;
        let dialect = Dialect::of(pool);
        let statement = format!(
            "UPDATE memory_facts SET access_count = access_count + 1, last_accessed_at = now()
             WHERE org_id = $1::uuid AND id IN ({})
             RETURNING {}",
            dialect.json_uuids("$2"),
            columns_of(dialect, "")
        );
        let rows: Vec<FactRow> = on_pool!(pool, |conn, sql| {
            sqlx::query_as(&sql(&statement))
                .bind(org.to_string())
                .bind(json(ids))
                .fetch_all(conn)
                .await?
        });
        Ok(in_order(rows, ids))
    }

    /// The facts of `user`, newest first (by when they were said).
    ///
    /// # Errors
    /// [`Error::InvalidInput`]: an empty user, a limit outside 1 to 1,000; storage errors.
    pub async fn facts(&self, org: Uuid, user: &str, query: &FactQuery) -> Result<Vec<Fact>> {
        check_user(user)?;
        if !(1..=1_000).contains(&query.limit) {
            return Err(Error::invalid_input("limit", "must be 1 to 1,000"));
        }
        let pool = self.keel.pool()?;
        let statement = format!(
            "SELECT {} FROM memory_facts f
             WHERE f.org_id = $1::uuid AND f.user_id = $2 AND ($3 IS NULL OR f.category = $3)
               AND ($4 OR f.superseded_at IS NULL)
             ORDER BY f.observed_at DESC, f.id LIMIT $5",
            fact_columns(Dialect::of(pool))
        );
        let rows: Vec<FactRow> = on_pool!(pool, |conn, sql| {
            sqlx::query_as(&sql(&statement))
                .bind(org.to_string())
                .bind(user)
                .bind(query.category.map(FactCategory::as_str))
                .bind(query.include_superseded)
                .bind(i64::from(query.limit))
                .fetch_all(conn)
                .await?
        });
        Ok(rows.into_iter().map(Fact::from).collect())
    }
}

/// The facts of `rows` in the order of `ids`.
fn in_order(rows: Vec<FactRow>, ids: &[Uuid]) -> Vec<Fact> {
    let mut facts: Vec<Fact> = rows.into_iter().map(Fact::from).collect();
    facts.sort_by_key(|f| ids.iter().position(|id| *id == f.id));
    facts
}

/// The JSON text of a value bound as a parameter (these values always serialize).
pub(super) fn json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    crate::store::storable_json(value)
}
