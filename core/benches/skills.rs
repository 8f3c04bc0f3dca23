//! Skills: parsing and validating SKILL.md files (the repository's own library, in memory).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn parse_validate(c: &mut Criterion) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../skills");
    let library = keel::skills::load_library(&root).expect("skills/");
    let files: Vec<(String, String, Vec<u8>)> = library
        .skills
        .iter()
        .map(|s| {
            (
                s.path.display().to_string(),
                s.doc.name.clone(),
                s.content.clone(),
            )
        })
        .collect();
    let mut group = c.benchmark_group("skills");
    group.throughput(Throughput::Elements(files.len() as u64));
    group.bench_function("parse_validate_library", |b| {
        b.iter(|| {
            for (path, folder, bytes) in &files {
                let parsed = keel::skills::parse(path, Some(folder), black_box(bytes));
                assert!(!parsed.has_errors());
            }
        })
    });
    group.finish();
}

criterion_group!(benches, parse_validate);
criterion_main!(benches);
