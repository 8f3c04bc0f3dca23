//! Model router: a cached resolution with every circuit closed (the hot path), and atomic
//! deductions on one hot org row in PostgreSQL from 16 concurrent clients
//! (`KEEL_BENCH_PG_URL`, set by `make bench`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use keel::models::{Charge, Feature, ModelRequest, ModelRouter, RouterOptions, Tier};
use uuid::Uuid;

fn resolve(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (_keel, router) = runtime.block_on(async {
        let keel = keel::Keel::connect("sqlite::memory:")
            .await
            .expect("connect");
        let router = ModelRouter::open(&keel, RouterOptions::default())
            .await
            .expect("router");
        (keel, router)
    });
    let org = Uuid::new_v4();
    let request = ModelRequest {
        feature: Some(Feature::Copilot),
        tier: Some(Tier::Medium),
        org_id: Some(org),
        trace_id: Some(Uuid::new_v4()),
    };
    let mut group = c.benchmark_group("models");
    group.bench_function("resolve_cached", |b| {
        b.iter(|| router.resolve_now(black_box(&request)).expect("resolved"))
    });
    group.finish();
}

fn deduct(c: &mut Criterion) {
    let url =
        std::env::var("KEEL_BENCH_PG_URL").expect("KEEL_BENCH_PG_URL: run through `make bench`");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (keel, router) = runtime.block_on(async {
        let keel = keel::Keel::connect_with(
            &url,
            keel::ConnectOptions {
                max_connections: 16,
                ..Default::default()
            },
        )
        .await
        .expect("connect");
        let router = ModelRouter::open(&keel, RouterOptions::default())
            .await
            .expect("router");
        (keel, router)
    });
    const CLIENTS: usize = 16;
    const PER_CLIENT: usize = 250;
    let mut group = c.benchmark_group("models");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements((CLIENTS * PER_CLIENT) as u64));
    group.bench_function("deduct_pg_16_clients_4000", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let org = Uuid::new_v4();
                runtime
                    .block_on(router.grant_credits(org, 1e9, "purchase", None))
                    .expect("grant");
                let start = Instant::now();
                runtime.block_on(async {
                    let tasks: Vec<_> = (0..CLIENTS)
                        .map(|client| {
                            let router = router.clone();
                            tokio::spawn(async move {
                                for i in 0..PER_CLIENT {
                                    router
                                        .deduct(&Charge {
                                            org_id: org,
                                            amount: 0.25,
                                            idempotency_key: Some(format!("{client}-{i}")),
                                            ..Charge::default()
                                        })
                                        .await
                                        .expect("deduct");
                                }
                            })
                        })
                        .collect();
                    for task in tasks {
                        task.await.expect("client");
                    }
                });
                total += start.elapsed();
            }
            total
        })
    });
    group.finish();
    runtime.block_on(keel.close());
}

criterion_group!(benches, resolve, deduct);
criterion_main!(benches);
