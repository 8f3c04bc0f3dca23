//! Message routing on both backends: stages, cache, log, isolation between orgs, bad input, and
//! the figures of the labelled sets in `testdata/routing/`.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use common::on_each_backend;
use keel::routing::{
    Calibration, MatchedBy, MessageRouter, RouteRequest, RouterOptions, Stage, evaluate,
    read_labelled,
};
use keel::skills::{Channel, RegistryOptions, SkillRegistry, SyncOptions};
use keel::{Backend, Keel};
use uuid::Uuid;

const ORG_A: Uuid = Uuid::from_u128(0x0a0a_0a0a_0000_4000_8000_0000_0000_000a);
const ORG_B: Uuid = Uuid::from_u128(0x0b0b_0b0b_0000_4000_8000_0000_0000_000b);

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

async fn open(keel: &Keel) -> (SkillRegistry, MessageRouter) {
    let registry = SkillRegistry::open(keel, RegistryOptions::default())
        .await
        .unwrap();
    registry
        .sync(&repo("skills"), SyncOptions::default(), |_, _, _| {})
        .await
        .unwrap();
    let router = MessageRouter::open(&registry, RouterOptions::default()).unwrap();
    (registry, router)
}

fn request(message: &str, channel: &str, org: Uuid) -> RouteRequest {
    RouteRequest::new(message, channel, org).unwrap()
}

#[tokio::test]
async fn stages_decide_and_callers_can_tell_general_from_out_of_scope() {
    on_each_backend(|_, keel| async move {
        let (_, router) = open(&keel).await;
        let deal = router
            .route(&request("How's the Acme deal looking?", "slack", ORG_A))
            .await
            .unwrap();
        assert_eq!(deal.route, "slack-deal-query");
        assert_eq!(deal.skill_key.as_deref(), Some("slack-deal-query"));
        assert_eq!(deal.stage, Stage::Index);
        assert_eq!(deal.matched_by, MatchedBy::SkillTrigger);
        assert_eq!(deal.entities.deal.as_deref(), Some("Acme"));
        assert!(deal.confidence >= 0.5 && !deal.out_of_scope && !deal.cached);
        assert!(!deal.candidates.is_empty() && !deal.evidence.is_empty());

        let hello = router.route(&request("Hi!", "web", ORG_A)).await.unwrap();
        assert_eq!(
            (hello.route.as_str(), hello.stage),
            ("general", Stage::Rules)
        );
        assert!(!hello.out_of_scope && hello.confidence == 1.0);

        // The original's greeting rule answered this with `general` at confidence 1.0.
        let prep = router
            .route(&request("How do I prep for my Acme meeting?", "web", ORG_A))
            .await
            .unwrap();
        assert_ne!(prep.stage, Stage::Rules);
        assert!(prep.route.starts_with("meeting-prep"), "{}", prep.route);

        let weather = router
            .route(&request("what's the weather in Paris", "web", ORG_A))
            .await
            .unwrap();
        assert_eq!(
            (weather.route.as_str(), weather.stage),
            ("general", Stage::Fallback)
        );
        assert!(weather.out_of_scope);

        // A sequence goes before the single skill it contains.
        let full = router
            .route(&request("do a full meeting prep for Initech", "web", ORG_A))
            .await
            .unwrap();
        assert_eq!(full.route, "meeting-prep-sequence");
        assert_eq!(full.matched_by, MatchedBy::SequenceTrigger);
        keel.close().await;
    })
    .await;
}

/// The Slack skills carry the original classifier's query intents (§1.4): the matched
/// trigger's label comes back with the route, so "at risk" is `risk_query` on the deal skill
/// and "how many meetings" is `metrics_query` on the pipeline skill.
#[tokio::test]
async fn slack_routes_carry_the_original_intents() {
    let keel = Keel::connect("sqlite::memory:").await.unwrap();
    let (_, router) = open(&keel).await;
    for (message, skill, intent) in [
        (
            "is the Initech deal at risk?",
            "slack-deal-query",
            "risk_query",
        ),
        (
            "what's blocking the Hooli renewal",
            "slack-deal-query",
            "deal_query",
        ),
        (
            "how many meetings did I have last week",
            "slack-pipeline-query",
            "metrics_query",
        ),
        (
            "am I on track for quota",
            "slack-pipeline-query",
            "pipeline_query",
        ),
        (
            "who is Priya at Initech",
            "slack-contact-query",
            "contact_query",
        ),
        (
            "how do we compare to Rivalsoft",
            "slack-competitive-query",
            "competitive_query",
        ),
    ] {
        let routed = router
            .route(&request(message, "slack", ORG_A))
            .await
            .unwrap();
        assert_eq!(routed.route, skill, "{message}");
        assert_eq!(routed.intent.as_deref(), Some(intent), "{message}");
    }
    keel.close().await;
}

#[tokio::test]
async fn bad_input_is_a_typed_error_or_out_of_scope_never_a_panic() {
    on_each_backend(|_, keel| async move {
        let (_, router) = open(&keel).await;
        for message in ["", "   \n\t", &"a".repeat(1 << 20)] {
            let err = router
                .route(&request(message, "web", ORG_A))
                .await
                .unwrap_err();
            assert_eq!(
                (err.code(), err.field()),
                ("invalid_input", Some("message"))
            );
        }
        let binary: String = (0u8..=255).map(char::from).collect();
        let routed = router.route(&request(&binary, "web", ORG_A)).await.unwrap();
        assert_eq!(routed.route, "general");
        let err = RouteRequest::new("hi", "email", ORG_A).unwrap_err();
        assert_eq!(
            (err.code(), err.field()),
            ("invalid_input", Some("channel"))
        );
        keel.close().await;
    })
    .await;
}

#[tokio::test]
async fn the_cache_keys_on_canonical_text_org_channel_and_skills_version() {
    on_each_backend(|_, keel| async move {
        let (registry, router) = open(&keel).await;
        let first = router
            .route(&request("where are we with the Acme deal?", "web", ORG_A))
            .await
            .unwrap();
        assert!(!first.cached);
        // Case, width and spacing variants are one entry; the stage that decided is kept.
        let again = router
            .route(&request(
                "  WHERE are we   with the ＡＣＭＥ deal? ",
                "web",
                ORG_A,
            ))
            .await
            .unwrap();
        assert!(again.cached);
        assert_eq!(
            (again.stage, again.matched_by),
            (first.stage, first.matched_by)
        );
        assert_ne!(again.trace_id, first.trace_id);
        // Another org, another channel: computed, never served from A's web entry.
        let other = router
            .route(&request("where are we with the Acme deal?", "web", ORG_B))
            .await
            .unwrap();
        assert!(!other.cached);
        let slack = router
            .route(&request("where are we with the Acme deal?", "slack", ORG_A))
            .await
            .unwrap();
        assert!(!slack.cached);
        // An override changes the org's skills version: the cached decision is not served.
        registry
            .set_enabled(ORG_A, &first.route, false)
            .await
            .unwrap();
        let after = router
            .route(&request("where are we with the Acme deal?", "web", ORG_A))
            .await
            .unwrap();
        assert!(!after.cached);
        assert_ne!(after.skills_version, first.skills_version);
        assert_ne!(after.route, first.route);
        keel.close().await;
    })
    .await;
}

#[tokio::test]
async fn every_decision_is_logged_cache_hits_included() {
    on_each_backend(|backend, keel| async move {
        let (_, router) = open(&keel).await;
        let messages = [
            "summarise my pipeline",
            "hi",
            "summarise my pipeline",
            "tell me a joke",
        ];
        for (i, m) in messages.iter().enumerate() {
            let mut r = request(m, "web", if i % 2 == 0 { ORG_A } else { ORG_B });
            r.user = Some("u-1".into());
            router.route(&r).await.unwrap();
        }
        // 200 concurrent routes for two orgs.
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let router = router.clone();
                tokio::spawn(async move {
                    let org = if i % 2 == 0 { ORG_A } else { ORG_B };
                    let m = format!("what's the status of deal number {}", i % 7);
                    router.route(&request(&m, "slack", org)).await.unwrap()
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        router.flush().await;
        let since = SystemTime::now() - Duration::from_secs(3600);
        let a = router.log(ORG_A, since, 1000).await.unwrap();
        let b = router.log(ORG_B, since, 1000).await.unwrap();
        assert_eq!(a.len() + b.len(), 204, "rows written = decisions made");
        assert_eq!(router.stats().routes, 204);
        assert!(a.iter().all(|r| r.org_id == ORG_A.to_string()));
        assert!(a.iter().any(|r| r.cached), "a cache hit is logged");
        assert!(
            a.iter()
                .any(|r| r.message_snippet == "summarise my pipeline")
        );
        if backend == Backend::Postgres {
            rls_hides_other_orgs_routing_rows(&keel).await;
        }
        keel.close().await;
    })
    .await;
}

/// As a Supabase client with org A's claims: A's log and cache rows only.
async fn rls_hides_other_orgs_routing_rows(keel: &Keel) {
    common::assert_org_member_sees_only_its_rows(
        keel,
        ORG_A,
        &["keel.routing_logs", "keel.routing_cache"],
        "DELETE FROM keel.routing_logs",
    )
    .await;
}

#[tokio::test]
async fn a_new_router_starts_warm_from_routing_cache() {
    on_each_backend(|_, keel| async move {
        let (registry, router) = open(&keel).await;
        router
            .route(&request("show me my forecast", "web", ORG_A))
            .await
            .unwrap();
        router.flush().await;
        registry.invalidate();
        let fresh = MessageRouter::open(&registry, RouterOptions::default()).unwrap();
        let routed = fresh
            .route(&request("Show me my forecast", "web", ORG_A))
            .await
            .unwrap();
        assert!(routed.cached);
        assert_eq!(routed.route, "pipeline-summary");
        assert!(registry.cached(ORG_A, Channel::Web).is_some());
        keel.close().await;
    })
    .await;
}

/// Evaluates the labelled sets `names` as one, with `skill` as the org's skill threshold.
async fn evaluate_files_at(names: &[&str], skill: f64) -> keel::routing::Evaluation {
    let keel = Keel::connect("sqlite::memory:").await.unwrap();
    let (registry, _) = open(&keel).await;
    let mut options = RouterOptions {
        log: false,
        ..RouterOptions::default()
    };
    options.thresholds.skill = skill;
    let router = MessageRouter::open(&registry, options).unwrap();
    let mut set = Vec::new();
    for name in names {
        let text = std::fs::read_to_string(repo("testdata/routing").join(name)).unwrap();
        set.extend(read_labelled(&text).unwrap());
    }
    let evaluation = evaluate(&router, ORG_A, &set, false).await.unwrap();
    keel.close().await;
    evaluation
}

/// Evaluates the labelled sets `names` as one, at the default thresholds.
async fn evaluate_files(names: &[&str]) -> keel::routing::Evaluation {
    evaluate_files_at(names, RouterOptions::default().thresholds.skill).await
}

/// The figures the README reports, as floors: a change that makes routing worse fails here.
#[tokio::test]
async fn the_labelled_sets_score_at_least_the_reported_figures() {
    let test = evaluate_files(&["test.jsonl"]).await;
    assert_eq!(test.total, 191);
    assert!(
        test.accuracy >= 0.910,
        "held-out top-1 {:.3}",
        test.accuracy
    );
    assert!(
        test.out_of_scope_false_accepts <= 0.100,
        "{:.3}",
        test.out_of_scope_false_accepts
    );
    // The second held-out set, written on 2026-12-05 and measured as written.
    let unseen = evaluate_files(&["unseen.jsonl"]).await;
    assert_eq!(unseen.total, 91);
    assert!(unseen.accuracy >= 0.934, "top-1 {:.3}", unseen.accuracy);
    assert!(
        unseen.out_of_scope_false_accepts <= 0.050,
        "{:.3}",
        unseen.out_of_scope_false_accepts
    );
    let dev = evaluate_files(&["dev.jsonl"]).await;
    assert_eq!(dev.total, 250);
    assert!(dev.accuracy >= 0.967, "dev top-1 {:.3}", dev.accuracy);
    // The org threshold the README recommends, chosen on calibration.jsonl and dev.jsonl
    // (the least, in steps of 0.05, whose false accepts there are at most half the 5 % goal),
    // meets both goals on the held-out set.
    for (name, floor) in [("test.jsonl", 0.90), ("unseen.jsonl", 0.934)] {
        let strict = evaluate_files_at(&[name], 0.65).await;
        assert!(
            strict.accuracy >= floor,
            "{name} top-1 {:.3}",
            strict.accuracy
        );
        assert!(
            strict.out_of_scope_false_accepts <= 0.05,
            "{name} {:.3}",
            strict.out_of_scope_false_accepts
        );
    }
}

#[tokio::test]
async fn calibration_is_fitted_on_the_calibration_and_dev_sets() {
    let e = evaluate_files(&["calibration.jsonl", "dev.jsonl"]).await;
    let fitted = e.fitted.expect("the set has right and wrong answers");
    let default = Calibration::DEFAULT;
    for (a, b) in [
        (fitted.bias, default.bias),
        (fitted.score_weight, default.score_weight),
        (fitted.margin_weight, default.margin_weight),
        (fitted.cover_weight, default.cover_weight),
    ] {
        assert!(
            (a - b).abs() < 0.01,
            "fitted {fitted:?}, default {default:?}"
        );
    }
}

/// 1,000 routes for 50 orgs while the library syncs a new version: every decision was computed
/// against one whole view (its skills version is the org's before or after the sync, never a
/// mix), and no org is ever served another org's cached decision.
#[tokio::test]
async fn concurrent_routes_during_a_sync_never_mix_versions_or_orgs() {
    on_each_backend(|_, keel| async move {
        let library = std::env::temp_dir().join(format!("keel-route-sync-{}", Uuid::new_v4()));
        common::files::copy_dir(&repo("skills"), &library);
        let registry = SkillRegistry::open(&keel, RegistryOptions::default())
            .await
            .unwrap();
        registry
            .sync(&library, SyncOptions::default(), |_, _, _| {})
            .await
            .unwrap();
        let router = MessageRouter::open(&registry, RouterOptions::default()).unwrap();
        let orgs: Vec<Uuid> = (0..50u128).map(|i| Uuid::from_u128(0x0e00 + i)).collect();
        let probe = |org| {
            let mut r = request("summarise my pipeline", "web", org);
            r.options.skip_cache = true;
            r
        };
        let before = router
            .route(&probe(orgs[0]))
            .await
            .unwrap()
            .skills_version
            .clone();
        // Org 0 has this message cached before the others ask it.
        router
            .route(&request("where are we with the Acme deal?", "web", orgs[0]))
            .await
            .unwrap();
        let tasks: Vec<_> = (0..1000usize)
            .map(|i| {
                let router = router.clone();
                let org = orgs[i % orgs.len()];
                tokio::spawn(async move {
                    let m = if (i / 50) % 2 == 0 {
                        "where are we with the Acme deal?"
                    } else {
                        "summarise my pipeline"
                    };
                    let routed = router.route(&request(m, "web", org)).await.unwrap();
                    (org, m, routed)
                })
            })
            .collect();
        // A new version of one skill lands while the routes run.
        let file = library.join("copilot/deal-status/SKILL.md");
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(
            &file,
            text.replace(
                "    - \"deal\"\n",
                "    - \"deal\"\n    - \"deal review\"\n",
            ),
        )
        .unwrap();
        registry
            .sync(&library, SyncOptions::default(), |_, _, _| {})
            .await
            .unwrap();
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await.unwrap());
        }
        let after = router
            .route(&probe(orgs[0]))
            .await
            .unwrap()
            .skills_version
            .clone();
        assert_ne!(before, after, "the sync changed the view");
        for (_, _, routed) in &results {
            assert!(
                routed.skills_version == before || routed.skills_version == after,
                "a decision computed against neither view: {}",
                routed.skills_version
            );
        }
        // Each org computed each message at least once itself: another org's cached
        // decision was never served (org 0 had the deal question cached beforehand).
        for org in &orgs[1..] {
            for m in ["where are we with the Acme deal?", "summarise my pipeline"] {
                let computed = results
                    .iter()
                    .filter(|(o, message, _)| o == org && *message == m)
                    .any(|(_, _, r)| !r.cached);
                assert!(computed, "org {org} was served {m:?} without computing it");
            }
        }
        let _ = std::fs::remove_dir_all(&library);
        keel.close().await;
    })
    .await;
}
