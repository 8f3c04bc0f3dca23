//! The model router against real storage: matrix writes, breakers shared by instances, the
//! half-open probe, and credits under concurrency. Every test runs on SQLite and PostgreSQL.

mod common;

use std::time::Duration;

use common::{fresh_url, on_each_backend};
use keel::models::{
    BreakerConfig, Charge, FailureKind, Feature, ModelEntry, ModelRequest, ModelRouter, Pricing,
    Role, RouterOptions, Scope, Tier, Transition,
};
use keel::{Backend, Keel};
use uuid::Uuid;

fn request(feature: Feature, tier: Option<Tier>, org: Option<Uuid>) -> ModelRequest {
    ModelRequest {
        feature: Some(feature),
        tier,
        org_id: org,
        trace_id: None,
    }
}

fn fast_breakers() -> RouterOptions {
    RouterOptions {
        breaker: BreakerConfig {
            cooldown: Duration::from_millis(500),
            ..BreakerConfig::default()
        },
        staleness: Duration::from_millis(100),
        ..RouterOptions::default()
    }
}

/// Several handles on one database, as separate instances would have (own pools, own caches).
async fn instances(backend: Backend, url: &str, n: usize) -> Vec<Keel> {
    let _ = backend;
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(Keel::connect(url).await.expect("connect"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_matrix_org_tiers_and_overrides() {
    on_each_backend(|backend, keel| async move {
        let router = ModelRouter::open(&keel, RouterOptions::default())
            .await
            .unwrap();
        assert_eq!(router.with_matrix(|m| m.len()), 21, "{backend:?}");
        let pick = router
            .resolve(&request(Feature::Copilot, None, None))
            .await
            .unwrap();
        assert_eq!(
            (&*pick.model_id, pick.tier),
            ("claude-sonnet-4-6", Tier::Medium)
        );
        assert!(!pick.was_fallback);

        // The org's configured tier applies when the request names none.
        let org = Uuid::new_v4();
        router
            .set_org_tier(org, Feature::Copilot, Tier::Low)
            .await
            .unwrap();
        let pick = router
            .resolve(&request(Feature::Copilot, None, Some(org)))
            .await
            .unwrap();
        assert_eq!(
            (&*pick.model_id, pick.tier),
            ("claude-haiku-4-5-20251001", Tier::Low)
        );

        // An org override replaces its slot for that org only.
        let override_row = ModelEntry {
            scope: Scope::Org(org),
            feature: Feature::Copilot,
            tier: Tier::High,
            provider: "openai".into(),
            model_id: "gpt-5".into(),
            role: Role::Primary,
            context_window: 400_000,
            max_tokens: 8192,
            pricing: Pricing {
                per_request: 2.0,
                input_per_mtok: Some(1.25),
                output_per_mtok: Some(10.0),
            },
        };
        router.set_model(override_row.clone()).await.unwrap();
        let mine = router
            .resolve(&request(Feature::Copilot, Some(Tier::High), Some(org)))
            .await
            .unwrap();
        assert_eq!(&*mine.model_id, "gpt-5");
        let theirs = router
            .resolve(&request(
                Feature::Copilot,
                Some(Tier::High),
                Some(Uuid::new_v4()),
            ))
            .await
            .unwrap();
        assert_eq!(&*theirs.model_id, "claude-opus-4-6");

        // A second primary for the same slot is rejected and nothing changes.
        let err = router
            .set_model(ModelEntry {
                model_id: "gpt-5-mini".into(),
                ..override_row
            })
            .await
            .unwrap_err();
        assert_eq!(
            (err.code(), err.field()),
            ("invalid_input", Some("primary"))
        );
        assert_eq!(router.with_matrix(|m| m.len()), 22);
        let reopened = ModelRouter::open(&keel, RouterOptions::default())
            .await
            .unwrap();
        assert_eq!(
            reopened.with_matrix(|m| m.len()),
            22,
            "the bad row was not written"
        );

        // A fresh router on the same database does not seed twice.
        assert_eq!(router.with_matrix(|m| m.len()), 22);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_open_the_breaker_once_and_fallbacks_serve() {
    on_each_backend(|backend, keel| async move {
        let url_router = ModelRouter::open(&keel, RouterOptions::default())
            .await
            .unwrap();
        // Caller errors never count.
        for kind in [FailureKind::ClientError, FailureKind::ContextTooLong] {
            assert_eq!(
                url_router
                    .record_failure("anthropic", "claude-sonnet-4-6", kind)
                    .await,
                Transition::Unchanged
            );
        }
        // 32 concurrent provider failures open the circuit exactly once.
        let mut tasks = Vec::new();
        for i in 0..32 {
            let router = url_router.clone();
            let kind = if i % 2 == 0 {
                FailureKind::ServerError
            } else {
                FailureKind::Timeout
            };
            tasks.push(tokio::spawn(async move {
                router
                    .record_failure("anthropic", "claude-sonnet-4-6", kind)
                    .await
            }));
        }
        let mut opened = 0;
        for task in tasks {
            if task.await.unwrap() == Transition::Opened {
                opened += 1;
            }
        }
        assert_eq!(opened, 1, "{backend:?}: the circuit opened exactly once");

        // With the primary open, the tier's first healthy fallback serves.
        let pick = url_router
            .resolve(&request(Feature::Copilot, Some(Tier::Medium), None))
            .await
            .unwrap();
        assert_eq!(&*pick.model_id, "gemini-2.5-flash");
        assert!(pick.was_fallback);
        // A feature without fallbacks has nothing left, and says so.
        let err = url_router
            .resolve(&request(Feature::Enrichment, Some(Tier::Medium), None))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "no_model_available");
        // Late failures of an open model are one outage: the provider stays closed.
        let low = request(Feature::Copilot, Some(Tier::Low), None);
        assert_eq!(
            &*url_router.resolve(&low).await.unwrap().provider,
            "anthropic"
        );
        // Failures across the provider's models trip all of them (10 in the window). Breakers
        // exist only for models of the matrix, so the third model is added to it first.
        let extra = ModelEntry {
            role: Role::Fallback(9),
            model_id: "claude-sonnet-4-5".into(),
            ..url_router.with_matrix(|m| {
                m.find("anthropic", "claude-opus-4-6")
                    .cloned()
                    .expect("in the default matrix")
            })
        };
        url_router.set_model(extra).await.unwrap();
        for model in [
            "claude-haiku-4-5-20251001",
            "claude-opus-4-6",
            "claude-sonnet-4-5",
        ] {
            for _ in 0..3 {
                url_router
                    .record_failure("anthropic", model, FailureKind::Overloaded)
                    .await;
            }
        }
        assert!(
            url_router.open_breakers().iter().any(|b| b.model_id == "*"),
            "{backend:?}: 3 + 9 counted failures open the provider"
        );
        assert_eq!(&*url_router.resolve(&low).await.unwrap().provider, "google");
    })
    .await;
}

/// 64 failures from four instances (four pools) at once, with a threshold of 64: each is
/// counted exactly once, so exactly one opens the circuit. A lost update (a report that read
/// the row before another's write committed) leaves the count short and nothing opens; a
/// report that failed to write comes back `Unchanged`. Both fail this test.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_failures_from_four_instances_each_count_once() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let url = fresh_url(backend).await;
        let options = RouterOptions {
            breaker: BreakerConfig {
                failure_threshold: 64,
                provider_failure_threshold: 1_000,
                ..BreakerConfig::default()
            },
            ..RouterOptions::default()
        };
        let mut routers = Vec::new();
        for keel in instances(backend, &url, 4).await {
            routers.push(ModelRouter::open(&keel, options.clone()).await.unwrap());
        }
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(64));
        let mut tasks = Vec::new();
        for i in 0..64 {
            let (router, start) = (routers[i % 4].clone(), start.clone());
            tasks.push(tokio::spawn(async move {
                start.wait().await;
                router
                    .record_failure("anthropic", "claude-sonnet-4-6", FailureKind::ServerError)
                    .await
            }));
        }
        let mut seen = std::collections::BTreeMap::new();
        for task in tasks {
            *seen
                .entry(format!("{:?}", task.await.unwrap()))
                .or_insert(0) += 1;
        }
        let expected = [("Counted".to_owned(), 63), ("Opened".to_owned(), 1)];
        assert_eq!(seen, expected.into_iter().collect(), "{backend:?}");
        let fresh = Keel::connect(&url).await.unwrap();
        let open = ModelRouter::open(&fresh, options)
            .await
            .unwrap()
            .open_breakers();
        assert!(
            open.iter().any(|b| &*b.model_id == "claude-sonnet-4-6"),
            "{backend:?}: the stored row is open: {open:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_one_probe_across_instances_then_close_or_reopen() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let url = fresh_url(backend).await;
        let handles = instances(backend, &url, 2).await;
        let a = ModelRouter::open(&handles[0], fast_breakers())
            .await
            .unwrap();
        let b = ModelRouter::open(&handles[1], fast_breakers())
            .await
            .unwrap();
        for _ in 0..3 {
            a.record_failure("google", "gemini-2.0-flash", FailureKind::ServerError)
                .await;
        }
        let opened = tokio::time::Instant::now();
        // B sees A's opening within the staleness bound (read from its view: resolving could
        // claim the probe).
        let req = request(Feature::Recording, Some(Tier::Low), None);
        let seen = eventually(Duration::from_secs(2), || async {
            is_open(&b, "gemini-2.0-flash")
        });
        assert!(seen.await, "{backend:?}: open on B too");
        assert!(
            b.resolve(&req).await.is_err(),
            "{backend:?}: and it does not serve"
        );

        // After the 500 ms cooldown, 16 concurrent resolvers on two instances: one probe.
        tokio::time::sleep_until(opened + Duration::from_millis(650)).await;
        let mut tasks = Vec::new();
        for i in 0..16 {
            let router = if i % 2 == 0 { a.clone() } else { b.clone() };
            let req = req.clone();
            tasks.push(tokio::spawn(async move { router.resolve(&req).await }));
        }
        let mut probes = 0;
        for task in tasks {
            if task.await.unwrap().is_ok() {
                probes += 1;
            }
        }
        assert_eq!(probes, 1, "{backend:?}: exactly one caller got the probe");

        // A failed probe re-opens with a longer cooldown.
        assert_eq!(
            a.record_failure("google", "gemini-2.0-flash", FailureKind::Timeout)
                .await,
            Transition::Reopened
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(a.resolve(&req).await.is_err(), "cooldown doubled to 1 s");
        tokio::time::sleep(Duration::from_millis(900)).await;
        let probe = a.resolve(&req).await.expect("the next probe");
        assert_eq!(&*probe.model_id, "gemini-2.0-flash");
        // A successful probe closes it for everyone.
        assert_eq!(
            a.record_success("google", "gemini-2.0-flash").await,
            Transition::Closed
        );
        let closed = eventually(Duration::from_secs(2), || async {
            !is_open(&b, "gemini-2.0-flash")
        });
        assert!(closed.await, "{backend:?}: closed on B too");
        assert!(b.resolve(&req).await.is_ok(), "closed: no probe needed");
        for handle in handles {
            handle.close().await;
        }
    }
}

/// Whether `router`'s own view has `model`'s circuit not closed (no I/O, no probe claim).
fn is_open(router: &ModelRouter, model: &str) -> bool {
    router.open_breakers().iter().any(|b| &*b.model_id == model)
}

/// Polls `check` every 20 ms until it holds or `within` passes; whether it held.
async fn eventually<F, Fut>(within: Duration, check: F) -> bool
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Eight instances (eight pools) ask for the probe at the same moment once the cooldown is
/// over: the conditional claim in the database hands it to exactly one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_instances_racing_for_the_probe_get_one() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let url = fresh_url(backend).await;
        let mut routers = Vec::new();
        for keel in instances(backend, &url, 8).await {
            routers.push(ModelRouter::open(&keel, fast_breakers()).await.unwrap());
        }
        for _ in 0..3 {
            routers[0]
                .record_failure("google", "gemini-2.0-flash", FailureKind::ServerError)
                .await;
        }
        let opened = tokio::time::Instant::now();
        let req = request(Feature::Recording, Some(Tier::Low), None);
        for router in &routers {
            let open = eventually(Duration::from_secs(2), || async {
                is_open(router, "gemini-2.0-flash")
            });
            assert!(
                open.await,
                "{backend:?}: every instance sees the circuit open"
            );
        }
        // The 500 ms cooldown.
        tokio::time::sleep_until(opened + Duration::from_millis(650)).await;
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(8));
        let tasks: Vec<_> = routers
            .iter()
            .map(|router| {
                let (router, req, start) = (router.clone(), req.clone(), start.clone());
                tokio::spawn(async move {
                    start.wait().await;
                    router.resolve(&req).await
                })
            })
            .collect();
        let mut probes = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(pick) => {
                    assert_eq!(&*pick.model_id, "gemini-2.0-flash");
                    probes += 1;
                }
                Err(err) => assert_eq!(err.code(), "no_model_available", "{backend:?}"),
            }
        }
        assert_eq!(probes, 1, "{backend:?}: exactly one instance won the probe");
    }
}

/// The child side of [`deductions_from_four_processes_stop_at_the_grace_threshold`]: 16
/// deductions of 1 credit from this process, all started at `KEEL_START_AT_MS`.
async fn deduct_as_child(url: &str) {
    let org: Uuid = std::env::var("KEEL_CHILD_ORG").unwrap().parse().unwrap();
    let me = std::env::var("KEEL_CHILD_INDEX").unwrap();
    let keel = Keel::connect(url).await.unwrap();
    let router = ModelRouter::open(&keel, RouterOptions::default())
        .await
        .unwrap();
    common::wait_for_start().await;
    let tasks: Vec<_> = (0..16)
        .map(|j| {
            let (router, key) = (router.clone(), format!("process-{me}-{j}"));
            tokio::spawn(async move {
                let charge = Charge {
                    org_id: org,
                    amount: 1.0,
                    idempotency_key: Some(key),
                    ..Charge::default()
                };
                router.deduct(&charge).await
            })
        })
        .collect();
    let (mut ok, mut exceeded) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) if e.code() == "budget_exceeded" => exceeded += 1,
            Err(e) => panic!("{e}"),
        }
    }
    println!("KEEL_CHILD ok={ok} exceeded={exceeded}");
    keel.close().await;
}

/// 64 deductions of 1 credit from four OS processes (each its own pool) on a balance of 50
/// with the default grace of −10: exactly 60 succeed, the balance ends at −10 and the ledger
/// sums to it. The test runs itself as the children (`KEEL_CHILD_URL` set).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deductions_from_four_processes_stop_at_the_grace_threshold() {
    if let Ok(url) = std::env::var("KEEL_CHILD_URL") {
        return deduct_as_child(&url).await;
    }
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let url = fresh_url(backend).await;
        let keel = Keel::connect(&url).await.unwrap();
        let router = ModelRouter::open(&keel, RouterOptions::default())
            .await
            .unwrap();
        let org = Uuid::new_v4();
        router
            .grant_credits(org, 50.0, "purchase", Some("seed"))
            .await
            .unwrap();
        let reports = common::run_children(
            "deductions_from_four_processes_stop_at_the_grace_threshold",
            4,
            &[
                ("KEEL_CHILD_URL", url.clone()),
                ("KEEL_CHILD_ORG", org.to_string()),
            ],
        );
        let (mut ok, mut exceeded) = (0, 0);
        for part in reports.iter().flat_map(|r| r.split_whitespace()) {
            let (name, n) = part.split_once('=').unwrap();
            *if name == "ok" { &mut ok } else { &mut exceeded } += n.parse::<i32>().unwrap();
        }
        assert_eq!((ok, exceeded), (60, 4), "{backend:?}");
        assert_eq!(
            router.check_budget(org).await.unwrap().remaining,
            -10.0,
            "{backend:?}"
        );
        assert_eq!(
            ledger_sum(&keel, org).await,
            -10.0,
            "{backend:?}: the ledger sums to the balance"
        );
        keel.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_deductions_stop_at_the_grace_threshold() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let url = fresh_url(backend).await;
        let handles = instances(backend, &url, 4).await;
        let org = Uuid::new_v4();
        let first = ModelRouter::open(&handles[0], RouterOptions::default())
            .await
            .unwrap();
        first
            .grant_credits(org, 50.0, "purchase", Some("seed"))
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for (i, handle) in handles.iter().enumerate() {
            let router = ModelRouter::open(handle, RouterOptions::default())
                .await
                .unwrap();
            for j in 0..16 {
                let router = router.clone();
                tasks.push(tokio::spawn(async move {
                    router
                        .deduct(&Charge {
                            org_id: org,
                            amount: 1.0,
                            idempotency_key: Some(format!("call-{i}-{j}")),
                            ..Charge::default()
                        })
                        .await
                }));
            }
        }
        let (mut ok, mut exceeded) = (0, 0);
        for task in tasks {
            match task.await.unwrap() {
                Ok(_) => ok += 1,
                Err(e) if e.code() == "budget_exceeded" => exceeded += 1,
                Err(e) => panic!("{backend:?}: {e}"),
            }
        }
        assert_eq!((ok, exceeded), (60, 4), "{backend:?}");
        let status = first.check_budget(org).await.unwrap();
        assert_eq!(status.remaining, -10.0);
        assert!(!status.can_proceed);
        assert_eq!(
            ledger_sum(&handles[0], org).await,
            -10.0,
            "{backend:?}: the ledger sums to the balance"
        );

        // One key submitted 100 times at once charges once.
        let other = Uuid::new_v4();
        first
            .grant_credits(other, 20.0, "purchase", None)
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for i in 0..100 {
            let router = ModelRouter::open(&handles[i % 4], RouterOptions::default())
                .await
                .unwrap();
            tasks.push(tokio::spawn(async move {
                router
                    .deduct(&Charge {
                        org_id: other,
                        amount: 1.5,
                        idempotency_key: Some("request-42".into()),
                        ..Charge::default()
                    })
                    .await
            }));
        }
        let mut fresh = 0;
        for task in tasks {
            let movement = task.await.unwrap().unwrap();
            assert_eq!(movement.balance_after, 18.5);
            fresh += usize::from(!movement.duplicate);
        }
        assert_eq!(fresh, 1, "{backend:?}");
        assert_eq!(first.check_budget(other).await.unwrap().remaining, 18.5);
        for handle in handles {
            handle.close().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserve_then_commit_or_release() {
    on_each_backend(|backend, keel| async move {
        let router = ModelRouter::open(&keel, RouterOptions::default())
            .await
            .unwrap();
        let org = Uuid::new_v4();
        router
            .grant_credits(org, 10.0, "purchase", None)
            .await
            .unwrap();
        let held = router.reserve(org, 4.0, "call-1").await.unwrap();
        assert_eq!(held.balance_after, 6.0);
        let again = router.reserve(org, 4.0, "call-1").await.unwrap();
        assert!(again.duplicate && again.id == held.id, "{backend:?}");
        let settled = router.commit(held.id, 1.25).await.unwrap();
        assert_eq!(settled.balance_after, 8.75);
        assert_eq!(
            router.commit(held.id, 1.25).await.unwrap_err().code(),
            "invalid_input"
        );

        let held = router.reserve(org, 3.0, "call-2").await.unwrap();
        assert_eq!(router.release(held.id).await.unwrap().balance_after, 8.75);
        // A reservation beyond the grace threshold is refused and holds nothing.
        let err = router.reserve(org, 100.0, "call-3").await.unwrap_err();
        assert_eq!(err.code(), "budget_exceeded");
        assert_eq!(router.check_budget(org).await.unwrap().remaining, 8.75);
        assert_eq!(ledger_sum(&keel, org).await, 8.75);
        // Bad amounts name their field.
        assert_eq!(
            router
                .reserve(org, f64::NAN, "x")
                .await
                .unwrap_err()
                .field(),
            Some("estimate")
        );
        let err = router
            .deduct(&Charge {
                org_id: org,
                amount: -1.0,
                ..Charge::default()
            })
            .await
            .unwrap_err();
        assert_eq!(err.field(), Some("amount"));
    })
    .await;
}

async fn ledger_sum(keel: &Keel, org: Uuid) -> f64 {
    match keel.pool().unwrap() {
        keel::Pool::Postgres(pg) => sqlx::query_scalar::<_, f64>(
            "SELECT coalesce(sum(amount), 0)::float8 FROM credit_ledger WHERE org_id = $1",
        )
        .bind(org)
        .fetch_one(pg)
        .await
        .unwrap(),
        keel::Pool::Sqlite(lite) => sqlx::query_scalar::<_, f64>(
            "SELECT CAST(coalesce(sum(amount), 0) AS REAL) FROM credit_ledger WHERE org_id = ?1",
        )
        .bind(org.to_string())
        .fetch_one(lite)
        .await
        .unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolve_now_never_waits_and_serves_one_probe() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let url = fresh_url(backend).await;
        let handles = instances(backend, &url, 2).await;
        let a = ModelRouter::open(&handles[0], fast_breakers())
            .await
            .unwrap();
        let b = ModelRouter::open(&handles[1], fast_breakers())
            .await
            .unwrap();
        for _ in 0..3 {
            a.record_failure("google", "gemini-2.5-flash", FailureKind::RateLimited)
                .await;
        }
        let req = request(Feature::Recording, Some(Tier::Medium), None);
        assert!(a.resolve_now(&req).is_err(), "{backend:?}: open");
        tokio::time::sleep(Duration::from_millis(700)).await;
        // Both instances resolve in a loop for a while: the claim happens in the background and
        // exactly one call in all of them is served the probe.
        let mut served = 0;
        for _ in 0..40 {
            for router in [&a, &b] {
                if router.resolve_now(&req).is_ok() {
                    served += 1;
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(served, 1, "{backend:?}");
        for handle in handles {
            handle.close().await;
        }
    }
}

/// A probe won in the background must be served even when, before the next call, the
/// instance's periodic refresh reads the row back as claimed (half-open, not due). Before the
/// fix the won probe sat unserved until the probe timeout (60 s), and no caller got the model.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_won_in_the_background_is_served_after_a_refresh() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let url = fresh_url(backend).await;
        let keel = Keel::connect(&url).await.unwrap();
        let router = ModelRouter::open(&keel, fast_breakers()).await.unwrap();
        for _ in 0..3 {
            router
                .record_failure("google", "gemini-2.0-flash", FailureKind::ServerError)
                .await;
        }
        let req = request(Feature::Recording, Some(Tier::Low), None);
        tokio::time::sleep(Duration::from_millis(600)).await; // the 500 ms cooldown
        assert!(
            router.resolve_now(&req).is_err(),
            "{backend:?}: this call starts the claim"
        );
        // Long enough for the claim to finish and for several 100 ms refreshes to read the
        // claimed row back; the probe timeout (60 s) is far away.
        tokio::time::sleep(Duration::from_millis(600)).await;
        let probe = router
            .resolve_now(&req)
            .expect("the probe this instance won");
        assert_eq!(&*probe.model_id, "gemini-2.0-flash", "{backend:?}");
        assert!(
            router.resolve_now(&req).is_err(),
            "{backend:?}: served once"
        );
        keel.close().await;
    }
}

/// `can_proceed` is `remaining > -grace`: a new org (no balance row) may proceed, so may one
/// inside its grace, and one at the threshold may not; a grant's idempotency key grants once.
#[tokio::test]
async fn budget_and_grant_keep_their_rules() {
    on_each_backend(|backend, keel| async move {
        let router = ModelRouter::open(&keel, RouterOptions::default())
            .await
            .unwrap();
        let org = Uuid::new_v4();
        let fresh = router.check_budget(org).await.unwrap();
        assert_eq!(
            (fresh.remaining, fresh.can_proceed),
            (0.0, true),
            "{backend:?}: a new org"
        );
        let first = router
            .grant_credits(org, 5.0, "purchase", Some("invoice-1"))
            .await
            .unwrap();
        let again = router
            .grant_credits(org, 5.0, "purchase", Some("invoice-1"))
            .await
            .unwrap();
        assert!(!first.duplicate && again.duplicate, "{backend:?}");
        assert_eq!(
            (again.ledger_id, again.balance_after),
            (first.ledger_id, 5.0)
        );
        let status = router.check_budget(org).await.unwrap();
        assert_eq!(
            (status.remaining, status.can_proceed),
            (5.0, true),
            "{backend:?}"
        );
        let charge = |amount: f64| Charge {
            org_id: org,
            amount,
            ..Charge::default()
        };
        router.deduct(&charge(12.0)).await.unwrap();
        let inside = router.check_budget(org).await.unwrap();
        assert_eq!(
            (inside.remaining, inside.can_proceed),
            (-7.0, true),
            "{backend:?}: inside the grace"
        );
        router.deduct(&charge(3.0)).await.unwrap();
        let at = router.check_budget(org).await.unwrap();
        assert_eq!(
            (at.remaining, at.can_proceed),
            (-10.0, false),
            "{backend:?}: at the threshold"
        );
    })
    .await;
}

/// A commit above its reservation follows the deduction's rule: reserve 1, commit 1,000,000
/// used to leave the balance at −999,950. Now it is refused and the reservation stays open; a
/// commit that stays inside the grace is charged; and no single call moves more than the
/// router's per-call cap.
#[tokio::test]
async fn commits_keep_the_grace_rule_and_calls_are_capped() {
    on_each_backend(|backend, keel| async move {
        let options = RouterOptions {
            max_call_credits: 100.0,
            ..RouterOptions::default()
        };
        let router = ModelRouter::open(&keel, options).await.unwrap();
        let org = Uuid::new_v4();
        router
            .grant_credits(org, 50.0, "purchase", None)
            .await
            .unwrap();
        let held = router.reserve(org, 1.0, "call-1").await.unwrap();
        let err = router.commit(held.id, 1_000_000.0).await.unwrap_err();
        assert_eq!(
            (err.code(), err.field()),
            ("invalid_input", Some("actual")),
            "{backend:?}"
        );
        let err = router.commit(held.id, 70.0).await.unwrap_err();
        assert_eq!(
            err.code(),
            "budget_exceeded",
            "{backend:?}: 49 + 1 − 70 is below −10"
        );
        assert_eq!(router.check_budget(org).await.unwrap().remaining, 49.0);
        // Still open: a commit inside the grace goes through.
        let settled = router.commit(held.id, 55.0).await.unwrap();
        assert_eq!(settled.balance_after, -5.0, "{backend:?}");
        assert_eq!(ledger_sum(&keel, org).await, -5.0);
        let over = Charge {
            org_id: org,
            amount: 100.5,
            ..Charge::default()
        };
        assert_eq!(
            router.deduct(&over).await.unwrap_err().field(),
            Some("amount")
        );
    })
    .await;
}

/// Amounts are kept to four decimals on both backends (PostgreSQL's numeric(14,4)), so the same
/// movements leave the same balance whichever stores them.
#[tokio::test]
async fn amounts_have_one_precision_on_both_backends() {
    on_each_backend(|backend, keel| async move {
        let router = ModelRouter::open(&keel, RouterOptions::default())
            .await
            .unwrap();
        let org = Uuid::new_v4();
        router
            .grant_credits(org, 10.0, "purchase", None)
            .await
            .unwrap();
        let charge = |amount| Charge {
            org_id: org,
            amount,
            ..Charge::default()
        };
        assert_eq!(
            router.deduct(&charge(0.00004)).await.unwrap().balance_after,
            10.0
        );
        assert_eq!(
            router.deduct(&charge(0.00006)).await.unwrap().balance_after,
            9.9999
        );
        assert_eq!(
            router.deduct(&charge(1.23456)).await.unwrap().balance_after,
            8.7653
        );
        let err = router
            .grant_credits(org, 1e300, "purchase", None)
            .await
            .unwrap_err();
        assert_eq!(err.field(), Some("amount"), "{backend:?}");
        assert_eq!(ledger_sum(&keel, org).await, 8.7653, "{backend:?}");
    })
    .await;
}

/// Breaker state exists only for models of the matrix: reports naming anything else (an empty
/// id, a typo, an attacker's strings) write nothing, and the bindings' path refuses them.
#[tokio::test]
async fn reports_for_unknown_models_write_nothing() {
    on_each_backend(|backend, keel| async move {
        let router = ModelRouter::open(&keel, RouterOptions::default())
            .await
            .unwrap();
        for (provider, model) in [
            ("anthropic", ""),
            ("anthropic", "claude-typo"),
            ("acme", "x"),
        ] {
            let t = router
                .record_failure(provider, model, FailureKind::ServerError)
                .await;
            assert_eq!(t, Transition::Unchanged, "{backend:?}: {provider}/{model}");
        }
        let err = router
            .record_failure_report("claude-typo", Some("anthropic"), None)
            .await
            .unwrap_err();
        assert_eq!(
            (err.code(), err.field()),
            ("invalid_input", Some("model_id"))
        );
        let known = router
            .record_failure_report("claude-sonnet-4-6", None, None)
            .await
            .unwrap();
        assert_eq!(known, Transition::Counted, "{backend:?}");
        let rows: i64 = match keel.pool().unwrap() {
            keel::Pool::Postgres(pg) => {
                sqlx::query_scalar("SELECT count(*) FROM keel.model_health")
                    .fetch_one(pg)
                    .await
                    .unwrap()
            }
            keel::Pool::Sqlite(lite) => sqlx::query_scalar("SELECT count(*) FROM model_health")
                .fetch_one(lite)
                .await
                .unwrap(),
        };
        assert_eq!(
            rows, 2,
            "{backend:?}: the model's row and its provider's, nothing else"
        );
    })
    .await;
}

/// A model written through one router is unknown to another until its `reload`; the name-only
/// report path of the original API (`record_model_failure`, `record_model_success`) finds the
/// provider in the matrix the process holds (`provider_of`), and ignores models it lacks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_brings_in_another_routers_model_and_name_only_reports_follow_it() {
    on_each_backend(|backend, keel| async move {
        let options = RouterOptions {
            staleness: Duration::from_secs(3600),
            ..fast_breakers()
        };
        let a = ModelRouter::open(&keel, options.clone()).await.unwrap();
        let b = ModelRouter::open(&keel, options).await.unwrap();
        let org = Uuid::new_v4();
        a.set_model(ModelEntry {
            scope: Scope::Org(org),
            feature: Feature::Copilot,
            tier: Tier::High,
            provider: "openai".into(),
            model_id: "gpt-test-1".into(),
            role: Role::Primary,
            context_window: 128_000,
            max_tokens: 4096,
            pricing: Pricing {
                per_request: 1.0,
                input_per_mtok: None,
                output_per_mtok: None,
            },
        })
        .await
        .unwrap();
        assert!(a.knows("openai", "gpt-test-1"), "{backend:?}");
        assert!(!b.knows("openai", "gpt-test-1"), "{backend:?}");
        assert_eq!(b.provider_of("gpt-test-1"), None);
        assert_eq!(
            b.record_model_failure("gpt-test-1", None, FailureKind::ServerError)
                .await,
            Transition::Unchanged,
            "{backend:?}: not in B's matrix yet"
        );

        b.reload().await.unwrap();
        assert!(b.knows("openai", "gpt-test-1"), "{backend:?}");
        assert!(!b.knows("anthropic", "gpt-test-1"), "{backend:?}");
        assert_eq!(b.provider_of("gpt-test-1").as_deref(), Some("openai"));
        let threshold = BreakerConfig::default().failure_threshold;
        for i in 1..threshold {
            assert_eq!(
                b.record_model_failure("gpt-test-1", None, FailureKind::ServerError)
                    .await,
                Transition::Counted,
                "{backend:?}: failure {i}"
            );
        }
        assert_eq!(
            b.record_model_failure("gpt-test-1", None, FailureKind::ServerError)
                .await,
            Transition::Opened
        );
        assert_eq!(
            b.record_model_success("gpt-test-1", None).await,
            Transition::Unchanged,
            "{backend:?}: a success while open is no probe"
        );
        // After the cooldown, resolving claims the probe; its success closes the circuit.
        let req = request(Feature::Copilot, Some(Tier::High), Some(org));
        let probed = eventually(Duration::from_secs(5), || async {
            b.resolve(&req)
                .await
                .is_ok_and(|pick| &*pick.model_id == "gpt-test-1")
        });
        assert!(probed.await, "{backend:?}: the probe was served");
        assert_eq!(
            b.record_model_success("nonexistent-model", None).await,
            Transition::Unchanged
        );
        assert_eq!(
            b.record_model_success("gpt-test-1", None).await,
            Transition::Closed,
            "{backend:?}"
        );
    })
    .await;
}
