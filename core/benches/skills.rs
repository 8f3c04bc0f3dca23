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

fn compile_20(c: &mut Criterion) {
    let body: String = (0..20)
        .map(|i| match i % 4 {
            0 => format!("- ${{deal.name|upper}} {i}\n"),
            1 => format!("- ${{contacts|join:\", \"}} {i}\n"),
            2 => format!("- ${{owner|default:\"unassigned\"}} {i}\n"),
            _ => format!("- ${{company_name|capitalize}} {i}\n"),
        })
        .collect();
    let text = format!("---\nname: bench\ndescription: d\n---\n{body}");
    let skill = keel::skills::parse("SKILL.md", None, text.as_bytes())
        .skill
        .expect("valid");
    let context = serde_json::json!({
        "company_name": "acme", "deal": {"name": "renewal"}, "contacts": ["Dana", "Marcus", "Priya"],
    });
    let no_docs = |_: &str, _: &str| None;
    c.bench_function("skills/compile_20_substitutions", |b| {
        b.iter(|| {
            keel::skills::compile(black_box(&skill), black_box(&context), &no_docs)
                .expect("compiled")
        })
    });
}

criterion_group!(benches, parse_validate, compile_20);
criterion_main!(benches);
