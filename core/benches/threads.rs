//! Slack threads with their storage (issue 20), printed as one JSON object (the last line):
//!
//! - a 1,000-message `conversations.replies` export ingested into a new thread: read, each
//!   `ts` checked, appended to the thread's conversation and counted, in one transaction, on
//!   SQLite (a file) and PostgreSQL (goal ≤ 50 ms, without the summarizer);
//! - the cross-channel read (`context_for_user`) of a user with 10,000 context rows on
//!   PostgreSQL and SQLite, p50 and p99 of 500 reads naming one entity (goal ≤ 5 ms on
//!   PostgreSQL).
//!
//! Needs `KEEL_BENCH_PG_URL` (an admin URL: the benchmark makes a database of its own).

use std::time::{Duration, Instant};

#[path = "fresh_pg.rs"]
mod fresh_pg;
use fresh_pg::fresh_pg;

use keel::channels::threads::{ThreadKey, ThreadOptions, ThreadStore};
use uuid::Uuid;

#[path = "slack_export.rs"]
mod slack_export;

const ORG: Uuid = Uuid::from_u128(0x0a00_0000_0000_4000_8000_0000_0000_0001);
const USER: Uuid = Uuid::from_u128(0x0b00_0000_0000_4000_8000_0000_0000_0001);

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The median time of ingesting the export into a new thread, over `runs` threads.
async fn ingest(url: &str, runs: usize) -> f64 {
    let keel = keel::Keel::connect(url).await.expect("connect");
    let store = ThreadStore::open(&keel, ThreadOptions::default()).expect("store");
    let export = slack_export::export();
    let mut times = Vec::with_capacity(runs);
    for run in 0..runs + 2 {
        let key = ThreadKey {
            org_id: ORG,
            user_id: USER,
            slack_team_id: "T1".into(),
            slack_channel_id: format!("C{run}"),
            slack_thread_ts: "1712345678.000100".into(),
            title: None,
        };
        let start = Instant::now();
        let thread = store.get_or_create(&key).await.expect("thread");
        let done = store
            .ingest(ORG, thread.id, &export, Some("UBOT"))
            .await
            .expect("ingest");
        let took = start.elapsed();
        assert_eq!(done.added, 1_000);
        if run >= 2 {
            times.push(took);
        }
    }
    times.sort();
    keel.close().await;
    ms(times[times.len() / 2])
}

/// p50 and p99 of the cross-channel read for a user with 10,000 rows.
async fn read(url: &str) -> (f64, f64) {
    let keel = keel::Keel::connect(url).await.expect("connect");
    let rows = "INSERT INTO conversation_context (id, user_id, org_id, channel, channel_ref,
                    entity_type, entity_id, context_summary, entity_name, last_updated)
                SELECT {id}, $1, $2, 'slack_copilot', 'T1/C1/' || n, 'deal', {entity},
                       'Deal ' || n || ' moved to legal review; next step a pricing call.',
                       'Deal ' || n, {at}
                FROM {series}";
    let statement = match keel.pool().expect("pool") {
        keel::Pool::Postgres(_) => rows
            .replace("{id}", "gen_random_uuid()")
            .replace("{entity}", "gen_random_uuid()")
            .replace("{at}", "now() - make_interval(mins => n)")
            .replace("{series}", "generate_series(1, 10000) AS n")
            .replace("$1, $2", "$1::uuid, $2::uuid"),
        keel::Pool::Sqlite(_) => rows
            .replace("{id}", "lower(hex(randomblob(16)))")
            .replace("{entity}", "printf('00000000-0000-4000-8000-%012d', n)")
            .replace(
                "{at}",
                "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-' || n || ' minutes')",
            )
            .replace(
                "{series}",
                "(WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 10000) SELECT n FROM s)",
            ),
    };
    match keel.pool().expect("pool") {
        keel::Pool::Postgres(p) => {
            sqlx::query(&statement)
                .bind(USER.to_string())
                .bind(ORG.to_string())
                .execute(p)
                .await
                .expect("rows");
            sqlx::query("ANALYZE keel.conversation_context")
                .execute(p)
                .await
                .expect("analyze");
        }
        keel::Pool::Sqlite(p) => {
            sqlx::query(&statement)
                .bind(USER.to_string())
                .bind(ORG.to_string())
                .execute(p)
                .await
                .expect("rows");
        }
    }
    let memory = keel::memory::ConversationStore::open(&keel);
    let mut times = Vec::with_capacity(500);
    for i in 0..550 {
        let message = format!("Where does Deal {} stand?", 5_000 + i);
        let start = Instant::now();
        let context = memory
            .context_for_user(ORG, USER, &message, None)
            .await
            .expect("read");
        let took = start.elapsed();
        assert!(!context.entries.is_empty());
        if i >= 50 {
            times.push(took);
        }
    }
    times.sort();
    keel.close().await;
    (ms(times[250]), ms(times[495]))
}

fn main() {
    let admin = std::env::var("KEEL_BENCH_PG_URL")
        .or_else(|_| std::env::var("KEEL_TEST_PG_URL"))
        .expect("KEEL_BENCH_PG_URL");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = std::env::temp_dir().join(format!("keel-bench-threads-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let sqlite = format!("sqlite://{}", dir.join("threads.db").display());
    let pg = rt.block_on(fresh_pg(&admin, "threads"));
    let ingest_sqlite = rt.block_on(ingest(&sqlite, 10));
    let ingest_pg = rt.block_on(ingest(&pg, 10));
    let (read_pg_p50, read_pg_p99) = rt.block_on(read(&pg));
    let (read_sqlite_p50, read_sqlite_p99) = rt.block_on(read(&sqlite));
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "{}",
        serde_json::json!({
            "ingest_1000_sqlite_ms": ingest_sqlite,
            "ingest_1000_postgres_ms": ingest_pg,
            "read_10k_postgres_p50_ms": read_pg_p50,
            "read_10k_postgres_p99_ms": read_pg_p99,
            "read_10k_sqlite_p50_ms": read_sqlite_p50,
            "read_10k_sqlite_p99_ms": read_sqlite_p99,
        })
    );
}
