//! Telemetry hot path: the cost of logging one event (enqueue only; the writer runs apart).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use keel::telemetry::{Destination, LogFilter, Logger, LoggerOptions, Sink, SinkOptions};
use serde_json::{Map, Value};

fn enqueue(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let _guard = runtime.enter();
    // A sink whose writer never keeps up would measure drops, not enqueues: give it room.
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
}

criterion_group!(benches, enqueue);
criterion_main!(benches);
