//! Skills: parsing and validating SKILL.md files (the repository's own library, in memory).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use keel::skills::{Channel, RegistryOptions, SkillRegistry, SyncOptions};

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
    let mut group = c.benchmark_group("skills");
    group.bench_function("compile_20_substitutions", |b| {
        b.iter(|| {
            keel::skills::compile(black_box(&skill), black_box(&context), &no_docs)
                .expect("compiled")
        })
    });
    group.finish();
}

/// Writes a library of `n` skills spread over the four namespaces.
fn synthetic_library(n: usize) -> std::path::PathBuf {
    let root = std::env::temp_dir().join(format!("keel-bench-skills-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    for i in 0..n {
        let ns = ["copilot", "slack", "fleet", "shared"][i % 4];
        let name = format!("skill-{i:04}");
        let dir = root.join(ns).join(&name);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let text = format!(
            "---\nname: {name}\ndescription: Synthetic skill {i} for the resolution benchmark.\nmetadata:\n  \
             triggers:\n    - phrase: \"phrase {i}\"\n      examples: [\"example {i}\"]\n  required_context: [deal]\n---\n\
             # Skill {i}\n\nFor ${{company_name}}: look at ${{deal.name}} and answer in three lines.\n"
        );
        std::fs::write(dir.join("SKILL.md"), text).expect("write");
    }
    root
}

/// `resolve_skills(org, channel)` served from the cache, for an org with 500 skills of which a
/// channel sees 250 (target ≤ 50 µs), and the cold path (load, compile all 500, record them) for scale.
fn resolve_cached_500(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let root = synthetic_library(500);
    let db = std::env::temp_dir().join(format!("keel-bench-skills-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&db);
    let (registry, org) = rt.block_on(async {
        let keel = keel::Keel::connect(&format!("sqlite://{}", db.display()))
            .await
            .expect("connect");
        let registry = SkillRegistry::open(&keel, RegistryOptions::default())
            .await
            .expect("registry");
        let report = registry
            .sync(&root, SyncOptions::default(), |_, _, _| {})
            .await
            .expect("sync");
        assert_eq!(report.items.len(), 500);
        let org = uuid::Uuid::new_v4();
        registry
            .set_org_context(org, serde_json::json!({"company_name": "Acme"}))
            .await
            .expect("context");
        (registry, org)
    });
    rt.block_on(async {
        for channel in Channel::ALL {
            let view = registry
                .resolve_skills(org, channel)
                .await
                .expect("resolve");
            // Its own namespace and shared: a quarter each of the 500.
            assert_eq!(view.len(), 250, "{channel:?}");
        }
    });
    let mut group = c.benchmark_group("skills");
    group.bench_function("resolve_cached_500", |b| {
        b.to_async(&rt).iter(|| async {
            registry
                .resolve_skills(black_box(org), Channel::Slack)
                .await
                .expect("resolve")
        })
    });
    group.sample_size(10);
    group.bench_function("resolve_cold_500", |b| {
        b.to_async(&rt).iter(|| async {
            registry.invalidate();
            registry
                .resolve_skills(black_box(org), Channel::Slack)
                .await
                .expect("resolve")
        })
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&root);
}

/// The first `resolve_skills` of a new org on PostgreSQL (`KEEL_BENCH_PG_URL`): load, compile
/// 500 skills and record every compiled row, the cost an org pays once per library change.
fn resolve_first_500_postgres(c: &mut Criterion) {
    let url =
        std::env::var("KEEL_BENCH_PG_URL").expect("KEEL_BENCH_PG_URL: run through `make bench`");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let root = synthetic_library(500);
    let registry = rt.block_on(async {
        let keel = keel::Keel::connect(&url).await.expect("connect");
        let registry = SkillRegistry::open(&keel, RegistryOptions::default())
            .await
            .expect("registry");
        registry
            .sync(&root, SyncOptions::default(), |_, _, _| {})
            .await
            .expect("sync");
        registry
    });
    let mut group = c.benchmark_group("skills");
    group.sample_size(10);
    group.bench_function("resolve_first_500_postgres", |b| {
        b.to_async(&rt).iter_custom(|iterations| {
            let registry = registry.clone();
            async move {
                let mut total = std::time::Duration::ZERO;
                for _ in 0..iterations {
                    let org = uuid::Uuid::new_v4();
                    registry
                        .set_org_context(org, serde_json::json!({"company_name": "Acme"}))
                        .await
                        .expect("context");
                    let started = std::time::Instant::now();
                    let view = registry
                        .resolve_skills(org, Channel::Slack)
                        .await
                        .expect("resolve");
                    total += started.elapsed();
                    assert_eq!(view.len(), 250);
                }
                total
            }
        })
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&root);
}

criterion_group!(
    benches,
    parse_validate,
    compile_20,
    resolve_cached_500,
    resolve_first_500_postgres
);
criterion_main!(benches);
