//! Backpressure on this machine, printed as one JSON object (the last line):
//!
//! - the in-process rate-limit decision (`LocalLimiter::check`) on one hot key and over 10,000
//!   keys, beside governor 0.10's `check` and keyed `check_key` in the same run (goal ≤ 50 ns),
//!   and what its parts cost here (the TSC clock read, an uncontended shard lock, the hash,
//!   the GCRA arithmetic);
//! - shared decisions on PostgreSQL from 16 concurrent clients over 1,000 keys (goal ≥ 10,000/s);
//! - claim + complete throughput on PostgreSQL, 4 workers, batches of 10 and 100, each batch's
//!   completions written in one statement, and folded into the next claim's statement
//!   (`claim_after`) (goal ≥ 20,000 items/s with batches of 100);
//! - the claim latency p99 with 1,000,000 items queued (goal ≤ 5 ms), and the claim's plan.
//!
//! Needs `KEEL_BENCH_PG_URL` (an admin URL: each part makes a database of its own). The peers'
//! side of the throughput (pg-boss, graphile-worker) is `bench/queue_node.mjs`.

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

#[path = "fresh_pg.rs"]
mod fresh_pg;
use fresh_pg::fresh_pg;

use keel::flow::{Limit, LocalLimiter, NewItem, Queue, QueueOptions, SharedLimiter};

const ORG: &str = "00000000-0000-4000-8000-0000000000a1";

fn per_op_ns(iterations: u64, mut op: impl FnMut(u64)) -> f64 {
    for i in 0..iterations / 10 {
        op(i);
    }
    let start = Instant::now();
    for i in 0..iterations {
        op(i);
    }
    start.elapsed().as_nanos() as f64 / iterations as f64
}

fn decisions() -> serde_json::Value {
    let n = 5_000_000;
    let keys: Vec<String> = (0..10_000).map(|i| format!("hubspot:org{i}")).collect();
    let limit = Limit {
        limit: 1_000_000,
        period_ms: 1,
        burst: 1_000_000,
    };
    let local = LocalLimiter::default();
    let keel_hot = per_op_ns(n, |_| {
        std::hint::black_box(local.check("hubspot:org", &limit).ok());
    });
    let keel_keyed = per_op_ns(n, |i| {
        std::hint::black_box(local.check(&keys[(i % 10_000) as usize], &limit).ok());
    });
    let quota = governor::Quota::per_second(NonZeroU32::new(1_000_000_000).unwrap())
        .allow_burst(NonZeroU32::new(1_000_000).unwrap());
    let direct = governor::RateLimiter::direct(quota);
    let gov_direct = per_op_ns(n, |_| {
        std::hint::black_box(direct.check().is_ok());
    });
    let keyed = governor::RateLimiter::<String, _, _>::keyed(quota);
    let gov_keyed = per_op_ns(n, |i| {
        std::hint::black_box(keyed.check_key(&keys[(i % 10_000) as usize]).is_ok());
    });
    let clock = quanta::Clock::new();
    let clock_ns = per_op_ns(n, |_| {
        std::hint::black_box(clock.now());
    });
    let m = parking_lot::Mutex::new(0u64);
    let lock_ns = per_op_ns(n, |_| {
        *m.lock() += 1;
    });
    let h = foldhash::fast::RandomState::default();
    let hash_ns = per_op_ns(n, |_| {
        use std::hash::BuildHasher;
        std::hint::black_box(h.hash_one(std::hint::black_box("hubspot:org")));
    });
    let decide_ns = per_op_ns(n, |i| {
        std::hint::black_box(limit.decide(std::hint::black_box(i as f64), 5.0));
    });
    serde_json::json!({
        "keel_hot_ns": keel_hot,
        "keel_keyed_10k_ns": keel_keyed,
        "governor_direct_ns": gov_direct,
        "governor_keyed_10k_ns": gov_keyed,
        "parts_ns": {"clock": clock_ns, "lock": lock_ns, "hash": hash_ns, "decide": decide_ns},
    })
}

async fn connect(url: &str, max: u32) -> keel::Keel {
    let options: keel::ConnectOptions =
        serde_json::from_value(serde_json::json!({"max_connections": max})).expect("options");
    keel::Keel::connect_with(url, options)
        .await
        .expect("connect")
}

async fn shared(admin: &str) -> f64 {
    let keel = connect(&fresh_pg(admin, "flow").await, 16).await;
    let limits = SharedLimiter::open(&keel);
    let limit = Limit {
        limit: 1_000_000,
        period_ms: 1_000,
        burst: 1_000,
    };
    let per_client = 1_000;
    let start = Instant::now();
    let tasks: Vec<_> = (0..16)
        .map(|c| {
            let limits = limits.clone();
            tokio::spawn(async move {
                for i in 0..per_client {
                    let key = format!("hubspot:org{}", (c * per_client + i) % 1_000);
                    limits.check(&key, &limit).await.expect("decision");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("client");
    }
    let rate = f64::from(16 * per_client) / start.elapsed().as_secs_f64();
    keel.close().await;
    rate
}

/// A queue that takes every enqueue: the benchmarks fill it far past the shedding thresholds.
fn open_queue(keel: &keel::Keel) -> Queue {
    let shedding = keel::flow::Shedding {
        throttle_depth: u64::MAX / 2,
        shed_depth: u64::MAX / 2,
        ..Default::default()
    };
    Queue::open(
        keel,
        QueueOptions {
            shedding,
            ..QueueOptions::default()
        },
    )
    .expect("queue")
}

fn items(n: usize) -> Vec<NewItem> {
    (0..n)
        .map(|i| NewItem {
            org_id: ORG.into(),
            source_agent: "bench".into(),
            item_type: "deal_risk".into(),
            title: format!("item {i}"),
            queue_priority: Some((i % 4) as i64),
            ..NewItem::default()
        })
        .collect()
}

/// Drains `total` items with 4 workers claiming `batch` at a time: each batch completed in
/// one statement, or, `folded`, in the next claim's statement. Items per second.
async fn throughput(admin: &str, total: usize, batch: u32, folded: bool) -> f64 {
    let keel = connect(&fresh_pg(admin, "flow").await, 8).await;
    let queue = open_queue(&keel);
    queue.enqueue(&items(total)).await.expect("enqueue");
    let start = Instant::now();
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let queue = queue.clone();
            tokio::spawn(async move {
                let (mut done, mut leases) = (0usize, Vec::new());
                loop {
                    let worker = format!("w{w}");
                    let got = if folded {
                        let next = queue
                            .claim_after(&leases, &worker, batch, None)
                            .await
                            .expect("claim");
                        done += next.completed.len();
                        next.items
                    } else {
                        queue.claim(&worker, batch, None).await.expect("claim")
                    };
                    if got.is_empty() {
                        return done;
                    }
                    leases = got.iter().map(|i| (i.id, i.lease_token)).collect();
                    if !folded {
                        done += queue.complete_all(&leases).await.expect("complete").len();
                    }
                }
            })
        })
        .collect();
    let mut done = 0;
    for w in workers {
        done += w.await.expect("worker");
    }
    assert_eq!(done, total, "every item completed once");
    let rate = total as f64 / start.elapsed().as_secs_f64();
    keel.close().await;
    rate
}

async fn deep_claims(admin: &str) -> (f64, f64, String) {
    let keel = connect(&fresh_pg(admin, "flow").await, 4).await;
    let queue = open_queue(&keel);
    let chunk = items(10_000);
    for _ in 0..100 {
        queue.enqueue(&chunk).await.expect("enqueue");
    }
    if let keel::store::Pool::Postgres(pg) = keel.pool().expect("pool") {
        sqlx::query("VACUUM ANALYZE keel.command_centre_items")
            .execute(pg)
            .await
            .expect("analyze");
    }
    let plan = queue.explain_claim(10).await.expect("plan");
    let mut latencies = Vec::with_capacity(1_000);
    for _ in 0..1_000 {
        let start = Instant::now();
        let got = queue.claim("deep", 10, None).await.expect("claim");
        latencies.push(start.elapsed());
        let leases: Vec<_> = got.iter().map(|i| (i.id, i.lease_token)).collect();
        queue.complete_all(&leases).await.expect("complete");
    }
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let (p50, p99) = (ms(latencies[500]), ms(latencies[990]));
    keel.close().await;
    (p50, p99, plan)
}

fn main() {
    let admin = std::env::var("KEEL_BENCH_PG_URL")
        .or_else(|_| std::env::var("KEEL_TEST_PG_URL"))
        .expect("KEEL_BENCH_PG_URL");
    let decisions = decisions();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let shared_per_s = rt.block_on(shared(&admin));
    let batch_10 = rt.block_on(throughput(&admin, 20_000, 10, false));
    let batch_100 = rt.block_on(throughput(&admin, 50_000, 100, false));
    let folded_10 = rt.block_on(throughput(&admin, 20_000, 10, true));
    let folded_100 = rt.block_on(throughput(&admin, 50_000, 100, true));
    let skip_deep = std::env::var("KEEL_BENCH_QUICK").is_ok();
    let (p50, p99, plan) = if skip_deep {
        (0.0, 0.0, String::new())
    } else {
        rt.block_on(deep_claims(&admin))
    };
    println!(
        "{}",
        serde_json::json!({
            "decisions": decisions,
            "shared_16_clients_per_s": shared_per_s,
            "rust_batch_10_per_s": batch_10,
            "rust_batch_100_per_s": batch_100,
            "rust_folded_batch_10_per_s": folded_10,
            "rust_folded_batch_100_per_s": folded_100,
            "claim_1m_p50_ms": p50,
            "claim_1m_p99_ms": p99,
            "claim_plan": plan,
        })
    );
}
