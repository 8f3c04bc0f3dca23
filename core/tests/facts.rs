//! Facts on both backends: stored with provenance, listed, superseded, recalled in the order
//! the pure ranking gives, extracted by a model (a scripted one) with entities linked through
//! a callback and through SQL, once per key; and written by four OS processes at once with the
//! recall index exact.

mod common;

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::future::BoxFuture;
use serde_json::json;
use uuid::Uuid;

use common::{fresh_url, on_each_backend};
use keel::llm::{Message, Summarizer, Summary, SummaryRequest};
use keel::memory::{
    ConversationChannel, ConversationKey, ConversationStore, EntityKind, EntityLinker, EntitySql,
    ExtractOptions, Fact, FactCategory, FactQuery, NewFact, RecallQuery, SqlLinker, rank_facts,
};
use keel::store::Backend;
use keel::{Keel, Result};

fn fact(category: &str, subject: &str, content: &str) -> NewFact {
    serde_json::from_value(json!({"category": category, "subject": subject, "content": content}))
        .unwrap()
}

/// Forty facts about a few accounts, said over the last 60 days.
fn accounts() -> Vec<NewFact> {
    let companies = ["Acme", "Globex", "Initech", "Umbrella", "Hooli"];
    let topics = [
        (
            "deal",
            "pricing",
            "asked for a 10% discount on the annual plan",
        ),
        (
            "relationship",
            "champion",
            "the VP of Sales champions the rollout",
        ),
        (
            "commitment",
            "demo",
            "we promised a security review before Friday",
        ),
        (
            "deal",
            "renewal",
            "renewal is due next quarter with a procurement review",
        ),
        (
            "preference",
            "reports",
            "wants pipeline reports as a weekly email",
        ),
        ("fact", "office", "moved headquarters to Austin"),
        (
            "deal",
            "objection",
            "worried about the integration timeline",
        ),
        (
            "relationship",
            "contact",
            "Sarah in procurement prefers short calls",
        ),
    ];
    let now = chrono::Utc::now();
    let mut out = Vec::new();
    for (i, company) in companies.iter().enumerate() {
        for (j, (category, topic, content)) in topics.iter().enumerate() {
            let mut f = fact(
                category,
                &format!("{company} {topic}"),
                &format!("{company} {content}"),
            );
            f.confidence = 0.6 + 0.05 * ((i + j) % 8) as f64;
            let age = chrono::Duration::days(((i * 8 + j) * 3 % 60) as i64);
            f.observed_at = Some((now - age).to_rfc3339());
            f.company_name = Some((*company).to_owned());
            out.push(f);
        }
    }
    out
}

fn ids(facts: &[Fact]) -> Vec<Uuid> {
    facts.iter().map(|f| f.id).collect()
}

#[tokio::test]
async fn recall_ranks_as_the_pure_ranking_and_counts_access() {
    on_each_backend(|backend, keel| async move {
        let store = ConversationStore::open(&keel);
        let org = Uuid::new_v4();
        let stored = store
            .add_facts(org, "u1", &accounts(), None, None)
            .await
            .unwrap();
        assert_eq!(stored.len(), 40);
        assert_eq!(stored[0].company_name.as_deref(), Some("Acme"));
        // Another user's facts never show.
        store
            .add_facts(
                org,
                "u2",
                &[fact("deal", "Acme pricing", "Acme pricing pricing")],
                None,
                None,
            )
            .await
            .unwrap();
        for query in [
            "What did Acme say about pricing?",
            "renewal procurement review",
            "Who prefers short calls?",
            "security review demo Friday for Globex",
        ] {
            let all = store.facts(org, "u1", &FactQuery::default()).await.unwrap();
            let expected = rank_facts(query, &all, chrono::Utc::now(), 5);
            let got = store
                .recall(
                    org,
                    "u1",
                    query,
                    &RecallQuery {
                        limit: 5,
                        record_access: false,
                        ..RecallQuery::default()
                    },
                )
                .await
                .unwrap();
            assert!(got.exact, "{backend:?} {query}");
            assert_eq!(
                got.facts.iter().map(|r| r.fact.id).collect::<Vec<_>>(),
                expected.iter().map(|r| r.fact.id).collect::<Vec<_>>(),
                "{backend:?} {query}"
            );
            for (g, e) in got.facts.iter().zip(&expected) {
                assert!((g.score.score - e.score.score).abs() < 1e-6);
            }
        }
        let first = store
            .recall(org, "u1", "Acme pricing discount", &RecallQuery::default())
            .await
            .unwrap();
        assert_eq!(first.facts[0].fact.subject, "Acme pricing");
        assert!(
            first
                .block
                .starts_with("## Relevant Memories\n- **Acme pricing** (deal): ")
        );
        assert_eq!(first.facts[0].fact.access_count, 1);
        assert!(first.facts[0].fact.last_accessed_at.is_some());
        let again = store
            .recall(org, "u1", "Acme pricing discount", &RecallQuery::default())
            .await
            .unwrap();
        assert_eq!(again.facts[0].fact.access_count, 2);
        // Categories filter; stop words alone find nothing.
        let prefs = store
            .recall(
                org,
                "u1",
                "Acme",
                &RecallQuery {
                    categories: vec![FactCategory::Preference],
                    ..RecallQuery::default()
                },
            )
            .await
            .unwrap();
        assert!(
            prefs
                .facts
                .iter()
                .all(|r| r.fact.category == FactCategory::Preference)
        );
        assert_eq!(prefs.facts.len(), 1);
        let none = store
            .recall(org, "u1", "is it the", &RecallQuery::default())
            .await
            .unwrap();
        assert!(none.facts.is_empty() && none.terms.is_empty());
    })
    .await;
}

#[tokio::test]
async fn a_newer_fact_supersedes_an_older_one_and_both_are_kept() {
    on_each_backend(|backend, keel| async move {
        let store = ConversationStore::open(&keel);
        let org = Uuid::new_v4();
        let old = store
            .add_facts(
                org,
                "u1",
                &[fact("deal", "Acme budget", "Acme budget is 50k")],
                None,
                None,
            )
            .await
            .unwrap()
            .remove(0);
        let mut newer = fact("deal", "Acme budget", "Acme budget grew to 80k");
        newer.supersedes = Some(old.id);
        let new = store
            .add_facts(org, "u1", &[newer.clone()], None, None)
            .await
            .unwrap()
            .remove(0);
        let all = store
            .facts(
                org,
                "u1",
                &FactQuery {
                    include_superseded: true,
                    ..FactQuery::default()
                },
            )
            .await
            .unwrap();
        let kept = all.iter().find(|f| f.id == old.id).unwrap();
        assert_eq!(kept.superseded_by, Some(new.id), "{backend:?}");
        assert!(kept.superseded_at.is_some());
        let live = store.facts(org, "u1", &FactQuery::default()).await.unwrap();
        assert_eq!(ids(&live), [new.id]);
        let recalled = store
            .recall(org, "u1", "Acme budget", &RecallQuery::default())
            .await
            .unwrap();
        assert_eq!(recalled.facts.len(), 1);
        assert_eq!(recalled.facts[0].fact.id, new.id);
        // A fact is superseded once; the refused batch stores nothing.
        let err = store
            .add_facts(org, "u1", &[fact("fact", "x", "y"), newer], None, None)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "invalid_input");
        assert_eq!(err.field(), Some("facts[1].supersedes"));
        assert_eq!(
            store
                .facts(org, "u1", &FactQuery::default())
                .await
                .unwrap()
                .len(),
            1
        );
    })
    .await;
}

#[tokio::test]
async fn bad_input_names_the_field() {
    on_each_backend(|_, keel| async move {
        let store = ConversationStore::open(&keel);
        let org = Uuid::new_v4();
        let mut bad = fact("deal", "Acme", "x");
        bad.confidence = 1.5;
        let err = store
            .add_facts(org, "u1", &[bad], None, None)
            .await
            .unwrap_err();
        assert_eq!(err.field(), Some("facts[0].confidence"));
        let err = store
            .add_facts(org, " ", &[fact("deal", "a", "b")], None, None)
            .await
            .unwrap_err();
        assert_eq!(err.field(), Some("user_id"));
        let err = store
            .add_facts(org, "u1", &[], None, None)
            .await
            .unwrap_err();
        assert_eq!(err.field(), Some("facts"));
        let err = store
            .recall(
                org,
                "u1",
                "x",
                &RecallQuery {
                    limit: 0,
                    ..RecallQuery::default()
                },
            )
            .await
            .unwrap_err();
        assert_eq!(err.field(), Some("limit"));
    })
    .await;
}

/// A model that answers with `answer` and counts its calls.
struct Scripted {
    answer: String,
    calls: AtomicUsize,
    seen: Mutex<String>,
}

impl Summarizer for Scripted {
    fn summarize<'a>(&'a self, request: &'a SummaryRequest) -> BoxFuture<'a, Result<Summary>> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            *self.seen.lock().unwrap() = request.text.clone();
            assert!(
                request
                    .instructions
                    .as_deref()
                    .unwrap()
                    .contains("- commitment: ")
            );
            Ok(Summary {
                text: self.answer.clone(),
                completion: None,
            })
        })
    }
}

/// Links every contact named Sarah to `contact-1`.
struct Contacts;

impl EntityLinker for Contacts {
    fn link<'a>(
        &'a self,
        _org: Uuid,
        _user: &'a str,
        kind: EntityKind,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>>> {
        Box::pin(async move {
            Ok((kind == EntityKind::Contact && name.contains("Sarah"))
                .then(|| "contact-1".to_owned()))
        })
    }
}

#[tokio::test]
async fn extraction_stores_facts_with_provenance_once_per_key() {
    on_each_backend(|backend, keel| async move {
        let store = ConversationStore::open(&keel);
        let org = Uuid::new_v4();
        let old = store
            .add_facts(org, "u1", &[fact("commitment", "Acme demo", "Acme demo is on Thursday")], None, None)
            .await
            .unwrap()
            .remove(0);
        let c = store
            .start(&ConversationKey {
                org_id: org,
                user_id: "u1".into(),
                channel: ConversationChannel::Web,
                channel_ref: None,
                title: None,
            })
            .await
            .unwrap();
        let turns = [
            "Sarah Lee from Acme moved the demo to Friday.",
            "Noted: the Acme demo is now on Friday.",
            "Also, the 50%_off promo deal is closing.",
        ];
        let messages: Vec<Message> = turns
            .iter()
            .enumerate()
            .map(|(i, t)| if i % 2 == 0 { Message::user(*t) } else { Message::assistant(*t) })
            .collect();
        store.append(org, c.id, &messages).await.unwrap();
        let answer = json!([
            {"category": "commitment", "subject": "Acme demo", "content": "The Acme demo moved to Friday",
             "confidence": 0.9, "source": [1, 2], "contact_name": "Sarah Lee", "company_name": "Acme",
             "supersedes": "F1"},
            {"category": "deal", "subject": "Promo deal", "content": "The 50%_off promo deal is closing",
             "confidence": 0.8, "source": [3], "deal_name": "50%_off promo"},
            {"category": "fact", "subject": "Weather", "content": "It rained", "confidence": 0.2},
            {"category": "rumour", "subject": "x", "content": "y", "confidence": 0.9}
        ]);
        let model = Scripted {
            answer: format!("```json\n{answer}\n```"),
            calls: AtomicUsize::new(0),
            seen: Mutex::new(String::new()),
        };
        // The platform's deals table, one name holding LIKE's metacharacters and one that a
        // pattern without escapes would also match.
        let pool = keel.pool().unwrap();
        let setup = [
            "CREATE TABLE app_deals (id text, owner text, name text)",
            "INSERT INTO app_deals VALUES ('d-wrong', 'u1', '50 percent off promo')",
            "INSERT INTO app_deals VALUES ('d-1', 'u1', 'The 50%_off promo')",
        ];
        for statement in setup {
            match pool {
                keel::Pool::Postgres(pg) => { sqlx::query(statement).execute(pg).await.unwrap(); }
                keel::Pool::Sqlite(lite) => { sqlx::query(statement).execute(lite).await.unwrap(); }
            }
        }
        let sql = SqlLinker::new(
            &keel,
            EntitySql {
                deal: Some(
                    "SELECT id FROM app_deals WHERE owner = $2 AND name LIKE $3 ESCAPE '\\' \
                     ORDER BY lower(name) = lower($4) DESC LIMIT 1"
                        .into(),
                ),
                ..EntitySql::default()
            },
        );
        let options = ExtractOptions::default();
        let out = store.extract_facts(org, c.id, &options, &model, Some(&sql)).await.unwrap();
        assert!(out.applied, "{backend:?}");
        assert_eq!(out.range, Some([1, 3]));
        assert_eq!(out.facts.len(), 2);
        assert_eq!(out.below_confidence, 1);
        assert_eq!(out.rejected.len(), 1);
        assert_eq!(out.rejected[0].field, "category");
        assert_eq!(out.superseded, [old.id]);
        let demo = &out.facts[0];
        assert_eq!(demo.conversation_id, Some(c.id));
        assert_eq!(demo.source_seqs, [1, 2]);
        assert_eq!(demo.company_name.as_deref(), Some("Acme"));
        assert_eq!(out.facts[1].deal_id.as_deref(), Some("d-1"), "{backend:?}");
        assert!(model.seen.lock().unwrap().contains("F1: [commitment] Acme demo: Acme demo is on Thursday"));
        assert!(model.seen.lock().unwrap().contains("[#3 user]: Also"));
        let live = store.facts(org, "u1", &FactQuery::default()).await.unwrap();
        assert!(!live.iter().any(|f| f.id == old.id));
        // Again with the same key: the stored facts, no model call.
        let again = store.extract_facts(org, c.id, &options, &model, Some(&Contacts)).await.unwrap();
        assert!(!again.applied);
        assert_eq!(ids(&again.facts), ids(&out.facts));
        assert_eq!(model.calls.load(Ordering::SeqCst), 1);
        // A callback linker, on a new range.
        let fresh = ExtractOptions { range: Some([1, 1]), ..ExtractOptions::default() };
        let model = Scripted {
            answer: json!([{"category": "relationship", "subject": "Sarah Lee", "content": "Sarah Lee runs the Acme demo",
                            "confidence": 0.7, "contact_name": "Sarah Lee"}]).to_string(),
            calls: AtomicUsize::new(0),
            seen: Mutex::new(String::new()),
        };
        let linked = store.extract_facts(org, c.id, &fresh, &model, Some(&Contacts)).await.unwrap();
        assert_eq!(linked.facts[0].contact_id.as_deref(), Some("contact-1"));
        assert_eq!(linked.facts[0].source_seqs, [1]);
    })
    .await;
}

/// The child side of [`four_processes_writing_facts_keep_the_index_exact`].
async fn write_as_child(url: &str) {
    let org: Uuid = std::env::var("KEEL_CHILD_ORG").unwrap().parse().unwrap();
    let me = std::env::var("KEEL_CHILD_INDEX").unwrap();
    let keel = Keel::connect(url).await.unwrap();
    let store = ConversationStore::open(&keel);
    common::wait_for_start().await;
    let tasks: Vec<_> = (0..4)
        .map(|j| {
            let store = store.clone();
            let facts = vec![
                fact(
                    "deal",
                    &format!("Acme item {me}-{j}"),
                    "Acme pricing and renewal",
                ),
                fact("fact", &format!("Globex item {me}-{j}"), "Globex renewal"),
            ];
            tokio::spawn(async move { store.add_facts(org, "u1", &facts, None, None).await })
        })
        .collect();
    let mut written = 0;
    for task in tasks {
        written += task.await.unwrap().unwrap().len();
    }
    println!("KEEL_CHILD written={written}");
    keel.close().await;
}

/// Four OS processes, four writers each, adding facts for one user at once: every fact is
/// stored, and recall's statistics match the facts (the store's ranking equals the pure one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_writing_facts_keep_the_index_exact() {
    if let Ok(url) = std::env::var("KEEL_CHILD_URL") {
        return write_as_child(&url).await;
    }
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let url = fresh_url(backend).await;
        let keel = Keel::connect(&url).await.unwrap();
        let store = ConversationStore::open(&keel);
        let org = Uuid::new_v4();
        let reports = common::run_children(
            "four_processes_writing_facts_keep_the_index_exact",
            4,
            &[
                ("KEEL_CHILD_URL", url.clone()),
                ("KEEL_CHILD_ORG", org.to_string()),
            ],
        );
        assert!(reports.iter().all(|r| r == "written=8"), "{reports:?}");
        let all = store.facts(org, "u1", &FactQuery::default()).await.unwrap();
        assert_eq!(all.len(), 32, "{backend:?}");
        for query in ["Acme pricing", "Globex renewal", "renewal"] {
            let expected = rank_facts(query, &all, chrono::Utc::now(), 10);
            let got = store
                .recall(
                    org,
                    "u1",
                    query,
                    &RecallQuery {
                        record_access: false,
                        ..RecallQuery::default()
                    },
                )
                .await
                .unwrap();
            for (g, e) in got.facts.iter().zip(&expected) {
                assert!(
                    (g.score.bm25 - e.score.bm25).abs() < 1e-9,
                    "{backend:?} {query}"
                );
            }
            assert_eq!(got.facts.len(), expected.len());
        }
        keel.close().await;
    }
}

/// As a Supabase client with one org's claims on PostgreSQL: that org's facts and index rows
/// only, and no writes.
#[tokio::test]
async fn rls_shows_each_org_its_own_facts() {
    let keel = Keel::connect(&fresh_url(Backend::Postgres).await)
        .await
        .unwrap();
    let store = ConversationStore::open(&keel);
    let (mine, theirs) = (Uuid::new_v4(), Uuid::new_v4());
    for org in [mine, theirs] {
        store
            .add_facts(
                org,
                "u1",
                &[fact("deal", "Acme pricing", "Acme wants 10% off")],
                Some("k1"),
                None,
            )
            .await
            .unwrap();
    }
    common::assert_org_member_sees_only_its_rows(
        &keel,
        mine,
        &[
            "keel.memory_facts",
            "keel.memory_fact_terms",
            "keel.memory_term_stats",
            "keel.memory_extractions",
        ],
        "DELETE FROM keel.memory_facts",
    )
    .await;
    keel.close().await;
}
