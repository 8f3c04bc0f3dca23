//! Near-duplicates (issue 19): a 128-permutation MinHash signature of each item of the labelled
//! set (60-100 words), and an LSH query over 1,000,000 signatures of unrelated items.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use keel::dedup::{MinHashLsh, MinHasher};
use serde_json::Value;

fn texts() -> Vec<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../bench/data/near_duplicates.json"
    );
    let set: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("the set")).expect("JSON");
    set["docs"]
        .as_array()
        .expect("docs")
        .iter()
        .map(|d| d["text"].as_str().expect("text").to_owned())
        .collect()
}

fn signatures(c: &mut Criterion) {
    let texts = texts();
    let hasher = MinHasher::default();
    let mut group = c.benchmark_group("minhash");
    group.bench_function("signature_per_item", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % texts.len();
            hasher.signature(black_box(&texts[i])).expect("a signature")
        })
    });
    group.finish();
}

fn lsh_query(c: &mut Criterion) {
    let texts = texts();
    let hasher = MinHasher::default();
    let mut lsh = MinHashLsh::new(0.8, 128).expect("an index");
    // 1,000,000 distinct items of 60 words drawn from the set's own vocabulary (so they share
    // words with the queries, as unrelated Command Centre items do), plus each query's text
    // once: a query finds its one near-duplicate among a million.
    let mut vocabulary: Vec<&str> = texts.iter().flat_map(|t| t.split_whitespace()).collect();
    vocabulary.sort_unstable();
    vocabulary.dedup();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let n = 1_000_000;
    let mut text = String::new();
    for k in 0..n {
        text.clear();
        for _ in 0..60 {
            text.push_str(vocabulary[(next() % vocabulary.len() as u64) as usize]);
            text.push(' ');
        }
        lsh.insert(
            &k.to_string(),
            hasher.signature(&text).expect("a signature"),
        )
        .expect("insert");
    }
    for (i, t) in texts.iter().enumerate() {
        lsh.insert(&format!("q{i}"), hasher.signature(t).expect("a signature"))
            .expect("insert");
    }
    let queries: Vec<_> = texts
        .iter()
        .map(|t| hasher.signature(t).expect("a signature"))
        .collect();
    let mut group = c.benchmark_group("lsh");
    group.bench_function("query_1m", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % queries.len();
            lsh.query(black_box(&queries[i])).expect("a query")
        })
    });
    group.finish();
}

criterion_group!(benches, signatures, lsh_query);
criterion_main!(benches);
