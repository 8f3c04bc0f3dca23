//! The FFI floor, Rust side: the same no-op and small-struct round trip that
//! bench/ffi_floor.py and bench/ffi_floor.mjs call through PyO3 and napi.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use keel::ffi_probe::{Probe, noop, roundtrip};

fn ffi_floor(c: &mut Criterion) {
    let mut group = c.benchmark_group("ffi_floor");
    group.bench_function("noop", |b| b.iter(noop));
    let probe = Probe {
        id: 1,
        name: "deal-risk-scan".into(),
        score: 0.5,
        tags: vec!["copilot".into(), "slack".into()],
    };
    // Clone in the loop: a call from Python or Node builds a fresh struct each time too.
    group.bench_function("roundtrip", |b| {
        b.iter(|| roundtrip(black_box(probe.clone())))
    });
    group.finish();
}

criterion_group!(benches, ffi_floor);
criterion_main!(benches);
