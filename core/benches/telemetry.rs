//! Telemetry: the cost of logging one event on the caller's path (enqueue only; the writer
//! runs apart), and the writer's throughput into PostgreSQL (`KEEL_BENCH_PG_URL`, set by
//! `make bench`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use keel::telemetry::{Destination, LogFilter, Logger, LoggerOptions, Sink, SinkOptions};
use serde_json::{Map, Value};

fn enqueue(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let _guard = runtime.enter();
    // A writer that never keeps up would measure drops, not enqueues: give the queue room.
    let sink = Sink::start(
        Destination::Discard,
        SinkOptions {
            capacity: 1 << 22,
            ..Default::default()
        },
    );
    let logger = Logger::new(
        sink.clone(),
        "bench",
        LoggerOptions::default(),
        LogFilter::default(),
    );
    let mut group = c.benchmark_group("telemetry");
    group.bench_function("enqueue_no_metadata", |b| {
        b.iter(|| logger.info(black_box("model_router.tier_resolved"), Map::new()))
    });
    group.bench_function("enqueue_small_metadata", |b| {
        b.iter(|| {
            let mut m = Map::new();
            m.insert(
                "gen_ai.request.model".into(),
                Value::from("claude-sonnet-4-6"),
            );
            m.insert("gen_ai.usage.input_tokens".into(), Value::from(1200));
            logger.info(black_box("model_router.tier_resolved"), m)
        })
    });
    group.finish();
    let stats = sink.stats();
    assert_eq!(stats.dropped, 0, "the bench measured drops: {stats:?}");
}

/// Emits `EVENTS` events into a new sink writing to `pool` and waits until all are written.
fn drain(runtime: &tokio::runtime::Runtime, pool: &keel::Pool, batch_size: usize) -> Duration {
    let _guard = runtime.enter();
    let sink = Sink::start(
        Destination::Database(pool.clone()),
        SinkOptions {
            capacity: EVENTS as usize,
            batch_size,
            ..Default::default()
        },
    );
    let logger = Logger::new(
        sink.clone(),
        "bench-sink",
        LoggerOptions::default(),
        LogFilter::default(),
    );
    let start = Instant::now();
    for i in 0..EVENTS {
        let mut m = Map::new();
        m.insert("i".into(), Value::from(i));
        logger.info("bench.event", m);
    }
    let stats = runtime.block_on(sink.flush());
    assert_eq!(stats.written, EVENTS, "{stats:?}");
    start.elapsed()
}

const EVENTS: u64 = 100_000;

fn sink_throughput(c: &mut Criterion) {
    let url =
        std::env::var("KEEL_BENCH_PG_URL").expect("KEEL_BENCH_PG_URL: run through `make bench`");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let keel = runtime
        .block_on(keel::Keel::connect(&url))
        .expect("connect");
    // A database file, as a service without PostgreSQL has (and the default batch of 1,000).
    let dir = std::env::temp_dir().join(format!("keel-bench-sink-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = format!("sqlite://{}", dir.join("logs.db").display());
    let lite = runtime
        .block_on(keel::Keel::connect(&file))
        .expect("connect sqlite");
    let mut group = c.benchmark_group("telemetry");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .throughput(Throughput::Elements(EVENTS));
    let pool = keel.pool().expect("pool").clone();
    group.bench_function("sink_postgres_100k", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| drain(&runtime, &pool, 5_000)).sum())
    });
    let pool = lite.pool().expect("pool").clone();
    group.bench_function("sink_sqlite_100k", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| drain(&runtime, &pool, 1_000)).sum())
    });
    group.finish();
    runtime.block_on(async {
        if let keel::Pool::Postgres(pool) = keel.pool().expect("pool") {
            sqlx::query("TRUNCATE system_logs")
                .execute(pool)
                .await
                .expect("truncate");
        }
    });
    drop(lite);
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, enqueue, sink_throughput);
criterion_main!(benches);
