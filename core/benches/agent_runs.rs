//! Agent runs: the runner's own cost per successful run of an executor that does nothing (no
//! I/O of its own), on SQLite: the config checked, the run's logger and its `invoke_agent` and
//! attempt spans, the `agent_executions` row enqueued when the run starts and when it ends
//! (written by the batched writer off the caller's path), and the result. Goal ≤ 5 µs. The
//! Python and Node figures are `bench/agent_runs_python.py` and `bench/agent_runs_node.mjs`.

use criterion::{Criterion, criterion_group, criterion_main};
use keel::runner::{AgentConfig, Failure};

fn runs(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let path = std::env::temp_dir().join(format!("keel-bench-runs-{}.db", std::process::id()));
    let keel = rt
        .block_on(keel::Keel::connect(&format!("sqlite://{}", path.display())))
        .expect("connect");
    let config = AgentConfig::new("bench-agent");
    c.bench_function("run_noop", |b| {
        b.to_async(&rt).iter(|| async {
            let result = keel
                .run_agent(config.clone(), |_ctx| async { Ok::<_, Failure>(1u32) })
                .await
                .expect("run");
            assert!(result.success);
        });
    });
    rt.block_on(keel.close());
    let _ = std::fs::remove_file(&path);
}

criterion_group!(benches, runs);
criterion_main!(benches);
