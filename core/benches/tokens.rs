//! Token counting (issue 16): Keel's exact o200k_base count against bpe-openai and
//! tiktoken-rs on the same text in the same run, in MB/s, and the pathological inputs.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use keel::tokens::Encoding;

#[path = "../tests/common/corpus.rs"]
mod corpus;

fn counters(c: &mut Criterion) {
    let bpe = bpe_openai::o200k_base();
    let rs = tiktoken_rs::o200k_base().expect("tiktoken-rs vocabulary");
    let inputs = [
        ("mixed", corpus::mixed()),
        ("a_1m", corpus::run("a", 1_000_000)),
        ("cjk_200k", corpus::cjk(200_000)),
        ("emoji_200k", corpus::emoji(200_000)),
    ];
    for (name, text) in &inputs {
        let expected = rs.encode_ordinary(text).len();
        assert_eq!(Encoding::O200kBase.count(text) as usize, expected, "{name}");
        assert_eq!(bpe.count(text.as_str()), expected, "{name}");
        let mut group = c.benchmark_group(format!("tokens_{name}"));
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.sample_size(10);
        group.bench_function("keel", |b| {
            b.iter(|| Encoding::O200kBase.count(black_box(text)))
        });
        group.bench_function("tiktoken_crate", |b| {
            b.iter(|| tiktoken::get_encoding("o200k_base").map(|e| e.count(black_box(text))))
        });
        group.bench_function("bpe_openai", |b| {
            b.iter(|| bpe.count(black_box(text.as_str())))
        });
        group.bench_function("tiktoken_rs", |b| {
            b.iter(|| rs.encode_ordinary(black_box(text)).len())
        });
        group.finish();
    }
}

criterion_group!(benches, counters);
criterion_main!(benches);
