//! Dead letters: draining 2,000 due letters on PostgreSQL with 4 workers in batches of 20
//! (claim with `FOR UPDATE SKIP LOCKED`, a no-op Rust handler, one fenced completion statement
//! per batch). `KEEL_BENCH_PG_URL`, set by `make bench`. The side-by-side with pg-boss and
//! graphile-worker from Node is `bench/dead_letters_node.mjs`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use keel::runner::{DeadLetter, DeadLetters, Handled, NewDeadLetter, Worker, WorkerOptions};

const LETTERS: usize = 2_000;
const WORKERS: usize = 4;

fn letter(n: usize) -> NewDeadLetter {
    serde_json::from_value(serde_json::json!({
        "agent_name": "bench", "payload": {"n": n}, "delay_ms": 0,
        "errors": [{"kind": "transient", "message": "HTTP 503", "status": 503}],
    }))
    .expect("letter")
}

async fn drain(letters: &DeadLetters) -> Duration {
    for chunk in (0..LETTERS).collect::<Vec<_>>().chunks(250) {
        futures_util::future::try_join_all(
            chunk
                .iter()
                .map(|n| async move { letters.enqueue(&letter(*n), 0).await }),
        )
        .await
        .expect("enqueue");
    }
    let start = Instant::now();
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            let options = WorkerOptions {
                worker_id: Some(format!("bench-{w}")),
                ..WorkerOptions::default()
            };
            let handler = |_letter: DeadLetter| async { Ok(Handled::Done) };
            let worker = Worker::new(letters.clone(), options)
                .expect("worker")
                .handle_all(Arc::new(handler));
            tokio::spawn(async move {
                let mut resolved = 0;
                loop {
                    let report = worker.run_once().await.expect("run");
                    resolved += report.resolved;
                    if report.claimed == 0 {
                        return resolved;
                    }
                }
            })
        })
        .collect();
    let mut resolved = 0;
    for w in workers {
        resolved += w.await.expect("worker");
    }
    assert_eq!(resolved, LETTERS as u64);
    start.elapsed()
}

fn claim_complete(c: &mut Criterion) {
    let url =
        std::env::var("KEEL_BENCH_PG_URL").expect("KEEL_BENCH_PG_URL: run through `make bench`");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let keel = runtime
        .block_on(keel::Keel::connect(&url))
        .expect("connect");
    let letters = DeadLetters::open(&keel);
    let mut group = c.benchmark_group("dead_letters");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("drain_2000_pg_4_workers", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += drain(&letters).await;
                }
                total
            })
        })
    });
    group.finish();
    // The drained letters are the bench's own: leave the database as it was.
    let keel::Pool::Postgres(pg) = keel.pool().expect("pool") else {
        panic!("PostgreSQL")
    };
    runtime
        .block_on(
            sqlx::query("DELETE FROM keel.agent_dead_letters WHERE agent_name = 'bench'")
                .execute(pg),
        )
        .expect("cleanup");
}

criterion_group!(benches, claim_complete);
criterion_main!(benches);
