//! Logger, spans and the batched sink, on SQLite and PostgreSQL.

mod common;

use std::time::Duration;

use common::{PrivatePostgres, on_each_backend};
use keel::telemetry::{
    Destination, Level, LogEvent, LogFilter, Logger, LoggerOptions, Sink, SinkOptions,
};
use keel::{Keel, Pool};
use serde_json::{Map, Value, json};

fn meta(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

/// Rows of system_logs as JSON objects, oldest first, with ids as strings on both backends.
async fn rows(keel: &Keel, filter: &str) -> Vec<Value> {
    let sql = format!(
        "SELECT service, action, level, CAST(trace_id AS TEXT) AS trace_id, CAST(span_id AS TEXT) AS span_id, \
         CAST(parent_span_id AS TEXT) AS parent_span_id, CAST(user_id AS TEXT) AS user_id, \
         CAST(org_id AS TEXT) AS org_id, agent_name, duration_ms, error_message, CAST(metadata AS TEXT) AS metadata \
         FROM system_logs WHERE {filter} ORDER BY \"timestamp\", action"
    );
    type Row = (
        String,
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<i32>,
        Option<String>,
        String,
    );
    let rows: Vec<Row> = match keel.pool().unwrap() {
        Pool::Sqlite(p) => sqlx::query_as(&sql).fetch_all(p).await.unwrap(),
        Pool::Postgres(p) => sqlx::query_as(&sql).fetch_all(p).await.unwrap(),
    };
    rows.into_iter()
        .map(|r| {
            json!({"service": r.0, "action": r.1, "level": r.2, "trace_id": r.3, "span_id": r.4,
                   "parent_span_id": r.5, "user_id": r.6, "org_id": r.7, "agent_name": r.8,
                   "duration_ms": r.9, "error_message": r.10,
                   "metadata": serde_json::from_str::<Value>(&r.11).unwrap()})
        })
        .collect()
}

async fn count(keel: &Keel, filter: &str) -> i64 {
    let sql = format!("SELECT count(*) FROM system_logs WHERE {filter}");
    match keel.pool().unwrap() {
        Pool::Sqlite(p) => sqlx::query_scalar(&sql).fetch_one(p).await.unwrap(),
        Pool::Postgres(p) => sqlx::query_scalar(&sql).fetch_one(p).await.unwrap(),
    }
}

#[tokio::test]
async fn events_and_spans_land_with_their_tree() {
    on_each_backend(|backend, keel| async move {
        const USER: &str = "11111111-1111-4111-8111-111111111111";
        let options = LoggerOptions {
            user_id: Some(USER.into()),
            org_id: Some("system".into()), // not a UUID: stored as NULL, raw value kept
            agent_name: Some("deal-risk-scan".into()),
            ..Default::default()
        };
        let log = keel.logger("fleet-agent", options);
        let root = log.span("run", meta(json!({"items": 3})), None);
        log.info(
            "model_router.tier_resolved",
            meta(json!({"gen_ai.request.model": "claude-sonnet-4-6"})),
        );
        let child = root.child("enrich", Map::new());
        log.warn("enrich.slow", Map::new());
        assert!(child.fail("provider timeout", Map::new()));
        assert!(!child.stop(Map::new()), "a second stop writes nothing");
        assert!(root.stop(meta(json!({"items": 4}))));
        log.error("after.spans", Some("boom"), Map::new());
        log.sink().flush().await;

        let all = rows(&keel, "service = 'fleet-agent'").await;
        assert_eq!(all.len(), 5, "{backend:?}: {all:#?}");
        let by = |action: &str| all.iter().find(|r| r["action"] == action).unwrap().clone();
        let (run, enrich) = (by("run"), by("enrich"));
        let trace = log.trace_id().to_string();
        assert!(
            all.iter().all(|r| r["trace_id"] == trace.as_str()),
            "{backend:?}: one trace"
        );
        assert_eq!(run["parent_span_id"], Value::Null);
        assert_eq!(run["metadata"]["items"], 4, "stop extra wins");
        assert_eq!(run["metadata"]["status"], "ok");
        assert_eq!(run["level"], "info");
        assert_eq!(enrich["parent_span_id"], run["span_id"]);
        assert_eq!(enrich["metadata"]["status"], "error");
        assert_eq!(enrich["level"], "error");
        assert_eq!(enrich["error_message"], "provider timeout");
        assert!(enrich["duration_ms"].as_i64().unwrap() >= 0);
        assert_eq!(
            by("model_router.tier_resolved")["parent_span_id"],
            run["span_id"],
            "parented to the open span"
        );
        assert_eq!(
            by("enrich.slow")["parent_span_id"],
            enrich["span_id"],
            "innermost open span"
        );
        assert_eq!(
            by("after.spans")["parent_span_id"],
            Value::Null,
            "no span open any more"
        );
        assert_eq!(by("after.spans")["error_message"], "boom");
        for row in &all {
            assert_eq!(row["user_id"], USER);
            assert_eq!(row["org_id"], Value::Null);
            assert_eq!(row["metadata"]["_invalid"]["org_id"], "system");
            assert_eq!(row["agent_name"], "deal-risk-scan");
        }
    })
    .await;
}

#[tokio::test]
async fn traceparent_crosses_a_hop() {
    on_each_backend(|_, keel| async move {
        let caller = keel.logger("edge", LoggerOptions::default());
        let span = caller.span("http.request", Map::new(), None);
        let header = span.traceparent();
        let callee = keel.logger(
            "worker",
            LoggerOptions {
                traceparent: Some(header.clone()),
                ..Default::default()
            },
        );
        callee.info("job.started", Map::new());
        span.stop(Map::new());
        keel.log_sink().flush().await;
        let got = rows(&keel, "service = 'worker'").await;
        assert_eq!(got[0]["trace_id"], caller.trace_id().to_string());
        assert_eq!(got[0]["parent_span_id"], span.id().to_string());
        assert!(
            header.starts_with("00-") && header.ends_with("-01"),
            "{header}"
        );
    })
    .await;
}

/// Eight OS threads log at once into a queue half the size of what they emit, so the writer
/// must drain it while they run: if it did not, 50,000 events would be dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_producers_emit_100k_events_and_flush_stores_exactly_that() {
    on_each_backend(|backend, keel| async move {
        let options = SinkOptions {
            capacity: 50_000,
            ..Default::default()
        };
        let sink = Sink::start(Destination::Database(keel.pool().unwrap().clone()), options);
        let producers: Vec<_> = (0..8)
            .map(|p| {
                let log = Logger::new(
                    sink.clone(),
                    &format!("producer-{p}"),
                    LoggerOptions::default(),
                    LogFilter::default(),
                );
                std::thread::spawn(move || {
                    for i in 0..12_500 {
                        log.info("load.event", meta(json!({"i": i})));
                        if i % 3 == 2 {
                            // About 20,000 events/s in all (a debug build's writer keeps up),
                            // past the queue's size within three seconds.
                            std::thread::sleep(Duration::from_millis(1));
                        }
                    }
                })
            })
            .collect();
        let started = std::time::Instant::now();
        tokio::task::spawn_blocking(move || producers.into_iter().for_each(|p| p.join().unwrap()))
            .await
            .unwrap();
        assert!(
            started.elapsed() > Duration::from_secs(3),
            "producers overlap the writer"
        );
        let stats = sink.flush().await;
        assert_eq!(
            (stats.accepted, stats.dropped),
            (100_000, 0),
            "{backend:?}: {stats:?}"
        );
        assert_eq!(
            count(&keel, "action = 'load.event'").await,
            100_000,
            "{backend:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_rejected_row_does_not_take_its_batch_with_it() {
    on_each_backend(|backend, keel| async move {
        let sink = keel.log_sink().clone();
        let event =
            |service: &str, action: &str| LogEvent::new(Level::Info, service, action, Map::new());
        for i in 0..20 {
            // The CHECK (service <> '') rejects exactly one row of the batch.
            sink.enqueue(event(if i == 7 { "" } else { "batch-test" }, "row"));
        }
        let stats = sink.flush().await;
        assert_eq!(
            count(&keel, "service = 'batch-test'").await,
            19,
            "{backend:?}"
        );
        assert_eq!(stats.dropped, 1, "{backend:?}: {stats:?}");
    })
    .await;
}

#[tokio::test]
async fn malformed_ids_are_coerced_per_event_and_never_poison_the_batch() {
    on_each_backend(|backend, keel| async move {
        for (i, user) in [
            "not-a-uuid",
            "",
            "22222222-2222-4222-8222-222222222222",
            "system",
        ]
        .iter()
        .enumerate()
        {
            let log = keel.logger(
                "coerce",
                LoggerOptions {
                    user_id: Some((*user).into()),
                    trace_id: Some(if i == 0 {
                        "abc".into()
                    } else {
                        "4bf92f3577b34da6a3ce929d0e0e4736".into()
                    }),
                    ..Default::default()
                },
            );
            log.info("ids", Map::new());
            log.info(
                "",
                meta(json!({"nul": "a\u{0}b", "api_key": "sk-live-1234567890abcdefghij"})),
            );
        }
        keel.log_sink().flush().await;
        let got = rows(&keel, "service = 'coerce'").await;
        assert_eq!(got.len(), 8, "{backend:?}");
        assert_eq!(
            got.iter()
                .filter(|r| r["user_id"] == "22222222-2222-4222-8222-222222222222")
                .count(),
            2
        );
        let unnamed: Vec<_> = got.iter().filter(|r| r["action"] == "unnamed").collect();
        assert_eq!(unnamed.len(), 4);
        for row in unnamed {
            assert_eq!(row["metadata"]["nul"], "a\u{FFFD}b");
            assert_eq!(row["metadata"]["api_key"], "[REDACTED]");
            assert_eq!(row["metadata"]["_invalid"]["action"], "");
        }
        assert!(
            got.iter()
                .any(|r| r["metadata"]["_invalid"]["trace_id"] == "abc")
        );
        assert!(
            got.iter()
                .any(|r| r["trace_id"] == "4bf92f35-77b3-4da6-a3ce-929d0e0e4736")
        );
    })
    .await;
}

#[tokio::test]
async fn level_threshold_and_debug_sampling() {
    let runtime = tokio::runtime::Handle::current();
    let _guard = runtime.enter();
    let sink = Sink::start(Destination::Discard, SinkOptions::default());
    let quiet = LogFilter {
        min_level: Level::Warn,
        ..Default::default()
    };
    let log = Logger::new(sink.clone(), "filter", LoggerOptions::default(), quiet);
    log.debug("a", Map::new());
    log.info("b", Map::new());
    log.warn("c", Map::new());
    assert_eq!(sink.flush().await.accepted, 1);
    let none = LogFilter {
        debug_sample_rate: 0.0,
        ..Default::default()
    };
    let log = Logger::new(sink.clone(), "filter", LoggerOptions::default(), none);
    log.debug("d", Map::new());
    log.info("e", Map::new());
    assert_eq!(sink.flush().await.accepted, 2);
}

#[tokio::test]
async fn a_full_queue_drops_and_counts_instead_of_blocking() {
    let sink = Sink::start(
        Destination::Discard,
        SinkOptions {
            capacity: 10,
            ..Default::default()
        },
    );
    let log = Logger::new(
        sink.clone(),
        "burst",
        LoggerOptions::default(),
        LogFilter::default(),
    );
    // No await between events: the writer cannot drain, so the bound is hit.
    for _ in 0..1_000 {
        log.info("burst", Map::new());
    }
    let stats = sink.flush().await;
    assert_eq!(stats.accepted + stats.dropped, 1_000, "{stats:?}");
    assert!(stats.dropped >= 990 - 10, "{stats:?}");
    assert_eq!(stats.written, stats.accepted);
}

/// Drops are reported in the database after the next write, also when that write is a single
/// short batch (PostgreSQL's second batch in flight is empty), each report counting the drops
/// since the one before: the stored reports add up to the drop count exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drops_are_reported_after_a_single_short_batch() {
    let keel = Keel::connect(&common::fresh_url(keel::Backend::Postgres).await)
        .await
        .unwrap();
    let sink = Sink::start(
        Destination::Database(keel.pool().unwrap().clone()),
        SinkOptions {
            capacity: 10,
            ..Default::default()
        },
    );
    let log = Logger::new(
        sink.clone(),
        "burst",
        LoggerOptions::default(),
        LogFilter::default(),
    );
    // Two bursts, each reported after its own write: the second report counts only its drops.
    let mut first = 0;
    for burst in 0..2 {
        for _ in 0..1_000 {
            log.info("burst", Map::new());
        }
        let stats = sink.flush().await;
        if burst == 0 {
            first = stats.dropped;
            assert!(first > 0, "{stats:?}");
        }
    }
    let stats = sink.flush().await;
    assert!(stats.dropped > first, "{stats:?}");
    let Pool::Postgres(pool) = keel.pool().unwrap() else {
        unreachable!()
    };
    let reported: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum((metadata->>'dropped')::bigint), 0)::bigint FROM system_logs WHERE action = 'keel.telemetry.events_dropped'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(reported as u64, stats.dropped, "{stats:?}");
    keel.close().await;
}

#[tokio::test]
async fn retention_deletes_in_batches_per_level() {
    on_each_backend(|backend, keel| async move {
        let old = |days: i64| (chrono::Utc::now() - chrono::Duration::days(days)).format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
        // (level, age in days, rows): debug past 30, info inside 90, warn past 90, error inside 365.
        let plan = [("debug", 31, 25), ("debug", 1, 3), ("info", 80, 4), ("warn", 100, 7), ("error", 300, 2)];
        for (level, days, n) in plan {
            for _ in 0..n {
                match keel.pool().unwrap() {
                    Pool::Sqlite(p) => sqlx::query(
                        "INSERT INTO system_logs (id, \"timestamp\", service, action, level) VALUES (?1, ?2, 'r', 'r', ?3)",
                    )
                    .bind(uuid::Uuid::new_v4().to_string())
                    .bind(old(days))
                    .bind(level)
                    .execute(p)
                    .await
                    .map(|r| r.rows_affected())
                    .unwrap(),
                    Pool::Postgres(p) => sqlx::query(
                        "INSERT INTO system_logs (\"timestamp\", service, action, level) VALUES ($1::timestamptz, 'r', 'r', $2)",
                    )
                    .bind(old(days))
                    .bind(level)
                    .execute(p)
                    .await
                    .map(|r| r.rows_affected())
                    .unwrap(),
                };
            }
        }
        let policy = keel::telemetry::RetentionPolicy::default();
        let dry = keel.cleanup_logs(&policy, 10, true, |_, _| {}).await.unwrap();
        assert_eq!(dry.total(), 32, "{backend:?}: {dry:?}");
        assert_eq!(count(&keel, "service = 'r'").await, 41, "a dry run deletes nothing");
        let mut batches = 0;
        let report = keel.cleanup_logs(&policy, 10, false, |_, _| batches += 1).await.unwrap();
        assert_eq!(report.deleted, vec![(Level::Debug, 25), (Level::Info, 0), (Level::Warn, 7), (Level::Error, 0)]);
        match keel.pool().unwrap() {
            Pool::Sqlite(_) => assert!(batches >= 5, "25 debug rows in batches of 10 take 3 statements: {batches}"),
            Pool::Postgres(p) => {
                // Partitions dropped whole, one report per level; the days that held the old
                // rows (which landed in the default partitions) are gone.
                assert_eq!(batches, 4);
                let days: i64 = sqlx::query_scalar(
                    r"SELECT count(*) FROM pg_class WHERE relname ~ '^system_logs_(debug|warn)_p\d{8}$'
                         AND to_date(right(relname, 8), 'YYYYMMDD') < now() - CASE WHEN relname LIKE '%debug%'
                             THEN interval '31 days' ELSE interval '91 days' END",
                )
                .fetch_one(p)
                .await
                .unwrap();
                assert_eq!(days, 0, "no expired debug or warn day is left");
                let defaults: i64 = sqlx::query_scalar(
                    "SELECT (SELECT count(*) FROM keel.system_logs_error_default) + (SELECT count(*) FROM keel.system_logs_info_default)",
                )
                .fetch_one(p)
                .await
                .unwrap();
                assert_eq!(defaults, 0, "the kept old rows moved to partitions of their own");
            }
        }
        assert_eq!(count(&keel, "service = 'r'").await, 9);
        if let Pool::Postgres(p) = keel.pool().unwrap() {
            let again: Vec<(String, i64)> =
                sqlx::query_as("SELECT level, deleted FROM keel.cleanup_system_logs()").fetch_all(p).await.unwrap();
            assert_eq!(again.iter().map(|(_, n)| n).sum::<i64>(), 0);
        }
    })
    .await;
}

/// PostgreSQL goes away for 10 s under load and comes back: the host keeps running, events are
/// written after recovery up to the bound, and rows + dropped = emitted exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_under_load_loses_nothing_silently() {
    let pg = PrivatePostgres::start("keel-outage");
    let url = pg.url();

    let keel = Keel::connect_with(
        &url,
        keel::ConnectOptions {
            connect_timeout: Duration::from_secs(2),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let options = SinkOptions {
        capacity: 20_000,
        retry_max: Duration::from_millis(500),
        ..Default::default()
    };
    let sink = Sink::start(Destination::Database(keel.pool().unwrap().clone()), options);
    let log = Logger::new(
        sink.clone(),
        "outage",
        LoggerOptions::default(),
        LogFilter::default(),
    );
    let producer = {
        let log = log.clone();
        tokio::spawn(async move {
            let mut emitted = 0u64;
            let until = tokio::time::Instant::now() + Duration::from_secs(16);
            while tokio::time::Instant::now() < until {
                for _ in 0..100 {
                    log.info("tick", Map::new());
                    emitted += 1;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            emitted
        })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    pg.run("pause");
    let during = tokio::time::Instant::now();
    let err = keel
        .ping()
        .await
        .expect_err("ping while the server is down");
    assert_eq!(err.code(), "connection", "{err}");
    tokio::time::sleep(Duration::from_secs(10).saturating_sub(during.elapsed())).await;
    pg.run("resume");
    let emitted = producer.await.unwrap();
    let stats = tokio::time::timeout(Duration::from_secs(60), sink.flush())
        .await
        .expect("flush after recovery");
    let Pool::Postgres(pool) = keel.pool().unwrap() else {
        unreachable!()
    };
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM system_logs WHERE action = 'tick'")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(stats.accepted + stats.dropped, emitted, "{stats:?}");
    assert_eq!(
        stored as u64 + stats.dropped,
        emitted,
        "rows + dropped = emitted: {stats:?}"
    );
    assert!(
        stats.dropped > 0,
        "a 10 s outage at 10,000 events/s overflows a 20,000 queue: {stats:?}"
    );
    assert!(
        stored as u64 > 20_000,
        "events before the outage and after recovery are stored: {stored}"
    );
    let reported: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum((metadata->>'dropped')::bigint), 0)::bigint FROM system_logs WHERE action = 'keel.telemetry.events_dropped'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(
        reported as u64, stats.dropped,
        "the drop count is logged once writes succeed again"
    );
    keel.close().await;
    drop(pg);
}

/// PostgreSQL down for longer than `give_up_after`: the writer stops retrying, counts the
/// events it held as dropped and its attempts as failed writes, and writes again once the
/// database is back. Nothing goes missing from the count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_past_give_up_drops_and_counts_what_it_held() {
    let pg = PrivatePostgres::start("keel-give-up");
    let options = keel::ConnectOptions {
        connect_timeout: Duration::from_secs(1),
        ..Default::default()
    };
    let keel = Keel::connect_with(&pg.url(), options).await.unwrap();
    let sink = Sink::start(
        Destination::Database(keel.pool().unwrap().clone()),
        SinkOptions {
            give_up_after: Duration::from_secs(2),
            retry_base: Duration::from_millis(50),
            retry_max: Duration::from_millis(200),
            ..Default::default()
        },
    );
    let log = Logger::new(
        sink.clone(),
        "give-up",
        LoggerOptions::default(),
        LogFilter::default(),
    );
    let emit = |action: &str, n: usize| (0..n).for_each(|_| log.info(action, Map::new()));
    emit("before", 100);
    assert_eq!(sink.flush().await.written, 100);

    pg.run("pause");
    emit("during", 500);
    // Poll, with a deadline, until the writer has given up on all 500.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while sink.stats().dropped < 500 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never gave up: {:?}",
            sink.stats()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let down = sink.stats();
    assert!(
        down.failed_writes >= 2,
        "it retried before giving up: {down:?}"
    );
    pg.run("resume");

    emit("after", 100);
    let stats = tokio::time::timeout(Duration::from_secs(60), sink.flush())
        .await
        .expect("flush after recovery");
    assert_eq!(
        (stats.accepted, stats.written, stats.dropped),
        (700, 200, 500),
        "{stats:?}"
    );
    let Pool::Postgres(pool) = keel.pool().unwrap() else {
        unreachable!()
    };
    let stored: Vec<(String, i64)> = sqlx::query_as(
        "SELECT action, count(*) FROM system_logs WHERE service = 'give-up' GROUP BY action ORDER BY action",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(stored, vec![("after".into(), 100), ("before".into(), 100)]);
    keel.close().await;
    drop(pg);
}

/// `flush_all` (what the bindings call at interpreter exit) writes what every live sink holds:
/// with a one-hour flush interval and a batch bigger than the events, nothing else would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_all_writes_what_every_live_sink_holds() {
    on_each_backend(|backend, keel| async move {
        let options = SinkOptions {
            batch_size: 10_000,
            flush_interval: Duration::from_secs(3600),
            ..Default::default()
        };
        let pool = keel.pool().unwrap().clone();
        let sinks = [
            Sink::start(Destination::Database(pool.clone()), options.clone()),
            Sink::start(Destination::Database(pool), options),
        ];
        for (n, sink) in sinks.iter().enumerate() {
            let log = Logger::new(
                sink.clone(),
                &format!("exiting-{n}"),
                LoggerOptions::default(),
                LogFilter::default(),
            );
            for i in 0..50 {
                log.info("exit.event", meta(json!({"i": i})));
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            count(&keel, "action = 'exit.event'").await,
            0,
            "{backend:?}: held"
        );
        let finished = keel::telemetry::flush_all(Duration::from_secs(10)).await;
        assert!(finished >= 2, "{backend:?}: {finished}");
        assert_eq!(
            count(&keel, "action = 'exit.event'").await,
            100,
            "{backend:?}"
        );
        for (n, sink) in sinks.iter().enumerate() {
            let stats = sink.flush().await;
            assert_eq!(
                (stats.written, stats.dropped),
                (50, 0),
                "{backend:?}: sink {n}"
            );
        }
    })
    .await;
}

/// Options out of range are brought into it: a capacity of 0 still holds one event and a batch
/// of 0 is a batch of 1 (written at once, not after the one-hour interval). Each sink names
/// where it writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sink_options_are_clamped_and_the_destination_is_named() {
    let discard = Sink::start(
        Destination::Discard,
        SinkOptions {
            capacity: 0,
            ..Default::default()
        },
    );
    assert_eq!(discard.destination(), "discard");
    assert!(format!("{discard:?}").contains("queued"), "{discard:?}");
    let log = Logger::new(
        discard.clone(),
        "clamp",
        LoggerOptions::default(),
        LogFilter::default(),
    );
    log.info("held", meta(json!({})));
    let stats = discard.flush().await;
    assert_eq!((stats.accepted, stats.dropped), (1, 0), "{stats:?}");
    assert_eq!(
        Sink::start(Destination::Stdout, SinkOptions::default()).destination(),
        "stdout"
    );
    on_each_backend(|backend, keel| async move {
        let options = SinkOptions {
            batch_size: 0,
            flush_interval: Duration::from_secs(3600),
            ..Default::default()
        };
        let sink = Sink::start(Destination::Database(keel.pool().unwrap().clone()), options);
        let expected = match backend {
            keel::Backend::Sqlite => "sqlite",
            keel::Backend::Postgres => "postgres",
        };
        assert_eq!(sink.destination(), expected);
        let log = Logger::new(
            sink,
            "clamp",
            LoggerOptions::default(),
            LogFilter::default(),
        );
        log.info("batch.of.one", meta(json!({})));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while count(&keel, "action = 'batch.of.one'").await == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "{backend:?}: a batch of 0 waited for the interval"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}
