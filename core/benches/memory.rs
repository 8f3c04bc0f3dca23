//! Memory: planning the compaction of a 1,000-message conversation with tool calls (target
//! ≤ 1 ms, issue 16), and recall of the top 10 of 100,000 facts of one user on PostgreSQL
//! (target ≤ 5 ms; `KEEL_BENCH_PG_URL`, set by `make bench`), beside PostgreSQL's own
//! full-text ranking (`ts_rank` over a GIN index) on the same rows.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use keel::llm::{Part, Role};
use keel::memory::{
    ConversationStore, FactCategory, NewFact, PlanOptions, RecallQuery, StoredMessage, plan,
};
use keel::tokens::stored_message_tokens;

/// 1,000 messages: a system prompt, then rounds of a question, a tool call and its result.
fn view() -> Vec<StoredMessage> {
    let mut out = Vec::with_capacity(1_000);
    let mut push = |role: Role, content: Vec<Part>| {
        let message = keel::llm::Message { role, content };
        out.push(StoredMessage {
            seq: out.len() as u64 + 1,
            tokens: stored_message_tokens(&message).0,
            role,
            content: message.content,
            tokens_exact: false,
            created_at: String::new(),
        });
    };
    push(Role::System, vec![Part::text("You are the sales copilot.")]);
    for i in 0..333 {
        push(
            Role::User,
            vec![Part::text(format!("What changed on deal {i}?"))],
        );
        let id = format!("call-{i}");
        push(
            Role::Assistant,
            vec![Part::ToolCall {
                id: id.clone(),
                name: "crm_search".into(),
                arguments: serde_json::json!({"deal": i}),
            }],
        );
        push(
            Role::Tool,
            vec![Part::ToolResult {
                call_id: id,
                name: None,
                content: "r".repeat(2_000),
                is_error: false,
            }],
        );
    }
    out
}

fn plan_1000(c: &mut Criterion) {
    let view = view();
    let options = PlanOptions {
        threshold: 20_000,
        ..PlanOptions::default()
    };
    let planned = plan(&view, 0, &options);
    assert!(planned.fits && !planned.masked.is_empty() && planned.summarize.is_some());
    let mut group = c.benchmark_group("memory");
    group.bench_function("plan_1000", |b| {
        b.iter(|| plan(black_box(&view), 0, &options))
    });
    group.finish();
}

/// The bench's facts: `n` facts of one user about 500 companies, their words drawn from a
/// 4,000-word vocabulary with a Zipf-like skew (a few words in most facts, most words rare).
fn facts(n: usize) -> Vec<NewFact> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move |bound: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % bound as u64) as usize
    };
    let topics = [
        "pricing",
        "renewal",
        "champion",
        "security review",
        "budget",
        "timeline",
    ];
    let categories = [
        FactCategory::Deal,
        FactCategory::Relationship,
        FactCategory::Preference,
        FactCategory::Commitment,
        FactCategory::Fact,
    ];
    (0..n)
        .map(|i| {
            let company = format!("company{}", next(500));
            let words: Vec<String> = (0..8 + next(8))
                .map(|_| {
                    // Zipf-like: the square of a uniform index favours the low ranks.
                    let rank = next(4_000);
                    format!("word{}", rank * rank / 4_000)
                })
                .collect();
            let mut fact: NewFact = serde_json::from_value(serde_json::json!({
                "category": categories[i % 5],
                "subject": format!("{company} {}", topics[next(topics.len())]),
                "content": format!("{company} {}", words.join(" ")),
                "confidence": 0.5 + (next(50) as f64) / 100.0,
            }))
            .expect("fact");
            fact.company_name = Some(company);
            fact
        })
        .collect()
}

fn recall_100k(c: &mut Criterion) {
    let url =
        std::env::var("KEEL_BENCH_PG_URL").expect("KEEL_BENCH_PG_URL: run through `make bench`");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let org = uuid::Uuid::new_v4();
    let (keel, store) = runtime.block_on(async {
        let keel = keel::Keel::connect(&url).await.expect("connect");
        let store = ConversationStore::open(&keel);
        for batch in facts(100_000).chunks(100) {
            store
                .add_facts(org, "u-bench", batch, None, None)
                .await
                .expect("facts");
        }
        (keel, store)
    });
    let queries = [
        "What did company42 say about pricing?",
        "company7 security review timeline",
        "word3 word17 company100 budget",
        "renewal for company250 word40",
    ];
    let query = RecallQuery::default();
    for text in queries {
        let recall = runtime
            .block_on(store.recall(org, "u-bench", text, &query))
            .expect("recall");
        assert_eq!(recall.facts.len(), 10, "{text}");
        eprintln!(
            "recall {text:?}: {} candidates, exact {}",
            recall.candidates, recall.exact
        );
    }
    let keel::Pool::Postgres(pg) = keel.pool().expect("pool") else {
        panic!("PostgreSQL")
    };
    runtime.block_on(async {
        sqlx::query(
            "CREATE INDEX IF NOT EXISTS bench_memory_facts_fts ON keel.memory_facts
             USING gin (to_tsvector('english', subject || ' ' || content))",
        )
        .execute(pg)
        .await
        .expect("fts index");
        sqlx::query("ANALYZE keel.memory_facts")
            .execute(pg)
            .await
            .expect("analyze");
    });
    let mut group = c.benchmark_group("memory");
    group.sample_size(20);
    let mut i = 0;
    group.bench_function("recall_pg_100k", |b| {
        b.iter(|| {
            i += 1;
            runtime
                .block_on(store.recall(org, "u-bench", queries[i % queries.len()], &query))
                .expect("recall")
        })
    });
    group.bench_function("ts_rank_pg_100k", |b| {
        b.iter(|| {
            i += 1;
            runtime.block_on(async {
                let rows: Vec<(String,)> = sqlx::query_as(
                    "SELECT id::text FROM keel.memory_facts
                     WHERE org_id = $1::uuid AND user_id = 'u-bench' AND superseded_at IS NULL
                       AND to_tsvector('english', subject || ' ' || content)
                           @@ websearch_to_tsquery('english', $2)
                     ORDER BY ts_rank(to_tsvector('english', subject || ' ' || content),
                                      websearch_to_tsquery('english', $2)) DESC
                     LIMIT 10",
                )
                .bind(org.to_string())
                .bind(queries[i % queries.len()].replace(' ', " or "))
                .fetch_all(pg)
                .await
                .expect("ts_rank");
                rows
            })
        })
    });
    group.finish();
    runtime.block_on(keel.close());
}

criterion_group!(benches, plan_1000, recall_100k);
criterion_main!(benches);
