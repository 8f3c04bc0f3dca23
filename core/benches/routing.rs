//! Message routing: one uncached route and one cache hit for an org whose channel sees 500
//! skills (the 17 of the library the web sees and 483 generated ones with triggers, examples and
//! keywords), and
//! the index build. Routes go through `try_route`, which answers without awaiting when the
//! org's skills are cached, as every route after the first does.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use keel::routing::{MessageRouter, RouteRequest, RouterOptions};
use keel::skills::{Channel, RegistryOptions, SkillRegistry, SyncOptions};

#[path = "../tests/common/files.rs"]
mod files;

/// Words the generated skills are made of, so they share vocabulary as real ones do.
const WORDS: &[&str] = &[
    "account",
    "renewal",
    "invoice",
    "contract",
    "forecast",
    "territory",
    "quota",
    "pricing",
    "discount",
    "onboarding",
    "churn",
    "expansion",
    "champion",
    "procurement",
    "security",
    "integration",
    "meeting",
    "email",
    "call",
    "demo",
    "pilot",
    "proposal",
    "stakeholder",
    "pipeline",
    "activity",
    "health",
    "usage",
    "ticket",
    "support",
    "campaign",
    "lead",
    "opportunity",
    "budget",
    "legal",
    "review",
    "signal",
    "intent",
    "competitor",
    "partner",
];

fn word(i: usize) -> &'static str {
    WORDS[i % WORDS.len()]
}

/// Copies the library and adds `extra` generated skills in the copilot namespace.
pub fn library_with(extra: usize) -> std::path::PathBuf {
    let root = std::env::temp_dir().join(format!("keel-bench-routing-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let library = Path::new(env!("CARGO_MANIFEST_DIR")).join("../skills");
    files::copy_dir(&library, &root);
    for i in 0..extra {
        let (a, b, c) = (word(i), word(i / 7 + 3), word(i / 13 + 5));
        let dir = root.join("copilot").join(format!("gen-{i:04}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("SKILL.md"),
            format!(
                "---\nname: gen-{i:04}\ndescription: \"Handles {a} {b} questions about the {c} for a rep.\"\nmetadata:\n  triggers:\n    - pattern: \"{a} {b}\"\n      confidence: 0.8\n      examples:\n        - \"what is the {a} {b} for this {c}\"\n        - \"show me the {b} of my {a}\"\n  keywords: [\"{a}\", \"{b}\", \"{c} {a}\"]\n---\nBody {i}.\n"
            ),
        )
        .unwrap();
    }
    root
}

fn routing(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let root = library_with(483);
    let org = uuid::Uuid::from_u128(7);
    let (registry, router) = rt.block_on(async {
        let keel = keel::Keel::connect("sqlite::memory:").await.unwrap();
        let registry = SkillRegistry::open(&keel, RegistryOptions::default())
            .await
            .unwrap();
        registry
            .sync(&root, SyncOptions::default(), |_, _, _| {})
            .await
            .unwrap();
        let options = RouterOptions {
            log: false,
            ..RouterOptions::default()
        };
        let router = MessageRouter::open(&registry, options).unwrap();
        // The first route resolves and indexes the org's view.
        let first = RouteRequest::new("warm up", "web", org).unwrap();
        router.route(&first).await.unwrap();
        (registry, router)
    });
    let view = registry.cached(org, Channel::Web).expect("cached view");
    assert!(view.len() >= 500, "the web view sees {} skills", view.len());
    let mut uncached = RouteRequest::new(
        "What's the status of the Globex deal and when does it close?",
        "web",
        org,
    )
    .unwrap();
    uncached.options.skip_cache = true;
    let cached = RouteRequest::new("summarise my pipeline for this quarter", "web", org).unwrap();
    let _guard = rt.enter();
    router.try_route(&cached).expect("fast path").unwrap();
    let mut group = c.benchmark_group("routing");
    group.bench_function("route_uncached_500", |b| {
        b.iter(|| {
            router
                .try_route(black_box(&uncached))
                .expect("fast path")
                .unwrap()
        })
    });
    group.bench_function("route_cache_hit_500", |b| {
        b.iter(|| {
            router
                .try_route(black_box(&cached))
                .expect("fast path")
                .unwrap()
        })
    });
    let message = "What's the status of the Globex deal and when does it close?";
    group.bench_function("parts_canonical_terms", |b| {
        b.iter(|| keel::routing::text::terms(&keel::routing::text::canonical(black_box(message))))
    });
    group.bench_function("parts_entities", |b| {
        b.iter(|| keel::routing::entities::extract(black_box(message)))
    });
    group.bench_function("parts_rules", |b| {
        b.iter(|| {
            keel::routing::rules::general_intent(black_box(
                "what's the status of the globex deal and when does it close?",
            ))
        })
    });
    group.bench_function("index_build_500", |b| {
        b.iter(|| keel::routing::SkillIndex::build(black_box(&view)))
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&root);
}

criterion_group!(benches, routing);
criterion_main!(benches);
