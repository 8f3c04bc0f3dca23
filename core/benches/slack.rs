//! Slack ingest (issue 20): a 1,000-message `conversations.replies` export (text, rich-text
//! blocks, files, a bot's replies, edits) read into messages (goal: the whole ingest with its
//! storage ≤ 50 ms; this is the reading alone).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use keel::channels::slack::ingest;

#[path = "slack_export.rs"]
mod slack_export;
use slack_export::export;

fn ingest_export(c: &mut Criterion) {
    let page = export();
    let mut group = c.benchmark_group("slack");
    group.bench_function("ingest_1000", |b| {
        b.iter(|| ingest(black_box(&page), Some("UBOT")).expect("ingested"))
    });
    group.finish();
}

criterion_group!(benches, ingest_export);
criterion_main!(benches);
