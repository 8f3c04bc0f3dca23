//! Fleet health on both backends: the seeded registry, one fleet query judging healthy,
//! failing, stale, stuck, breaker-open and unregistered agents, alerts posted once to a
//! loopback webhook with the original's Block Kit layout, a second run that sends nothing, a
//! recovery notice, a stuck run reaped, a webhook that fails or hangs and a callback that
//! hangs (snapshots still written, the notice retried), one delivery run trying each notice
//! once however soon its retry falls due, two processes checking at once (each
//! alert once), retention, and bad input.

mod common;

use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::Value;

use common::{exec, fresh_url, on_each_backend};
use futures_util::future::BoxFuture;
use keel::runner::{Runs, SweepOptions};
use keel::store::{Backend, Dialect, Pool};
use keel::telemetry::health::{
    AgentSpec, AlertSink, Fleet, FleetAlert, FleetOptions, HealthStatus,
};
use keel::{Keel, Result};

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;

/// A count `statement` selects.
async fn count(keel: &Keel, statement: &str) -> i64 {
    let pool = keel.pool().unwrap();
    let text = Dialect::of(pool).spell(statement);
    match pool {
        Pool::Postgres(pg) => sqlx::query_scalar(&text).fetch_one(pg).await.unwrap(),
        Pool::Sqlite(lite) => sqlx::query_scalar(&text).fetch_one(lite).await.unwrap(),
    }
}

/// The database's time `ms` ago, as SQL.
fn ago(keel: &Keel, ms: i64) -> String {
    let d = Dialect::of(keel.pool().unwrap());
    d.from_epoch_ms(&format!("({} - {ms})", d.now_ms()))
}

/// One run of `agent`, started `started` ms ago and lasting `took` ms (still running when
/// `status` is `running`, with its deadline `took` ms after its start).
async fn run(keel: &Keel, agent: &str, status: &str, started: i64, took: i64, model: &str) {
    let id = uuid::Uuid::new_v4();
    let completed = if status == "running" {
        "NULL".to_owned()
    } else {
        ago(keel, started - took)
    };
    let deadline = ago(keel, started - took);
    exec(
        keel,
        &format!(
            "INSERT INTO agent_executions (id, agent_name, execution_type, status, started_at,
                                           completed_at, deadline_at, model_id,
                                           credits_consumed, tokens_consumed)
             VALUES ('{id}'::uuid, '{agent}', 'fleet_agent', '{status}', {}, {completed},
                     {deadline}, '{model}', 1.5, 100)",
            ago(keel, started)
        ),
    )
    .await;
}

/// The fleet the tests judge: healthy cc-enrich, failing deal-risk-batch, stale
/// morning-briefing, stuck eod-synthesis, reengagement-check whose model's circuit is open,
/// a weekly pipeline-snapshot that ran two days ago, and an unregistered agent.
async fn seed(keel: &Keel) {
    for i in 0..8 {
        run(
            keel,
            "cc-enrich",
            "completed",
            (i + 1) * 15 * MIN,
            2_000 + i * 100,
            "claude-haiku-4-5",
        )
        .await;
    }
    for i in 0..10 {
        let status = if i % 5 < 2 { "failed" } else { "completed" };
        run(
            keel,
            "deal-risk-batch",
            status,
            (i + 1) * HOUR,
            30_000,
            "gpt-4o-mini",
        )
        .await;
    }
    let one_each = [
        (
            "morning-briefing",
            "completed",
            72 * HOUR,
            60_000,
            "claude-sonnet-4-5",
        ),
        (
            "eod-synthesis",
            "completed",
            20 * HOUR,
            60_000,
            "claude-sonnet-4-5",
        ),
        (
            "eod-synthesis",
            "running",
            30 * MIN,
            10 * MIN,
            "claude-sonnet-4-5",
        ),
        (
            "reengagement-check",
            "completed",
            2 * HOUR,
            5_000,
            "gpt-4o-mini",
        ),
        (
            "pipeline-snapshot",
            "completed",
            48 * HOUR,
            300_000,
            "gpt-4o-mini",
        ),
        ("mystery-agent", "completed", HOUR, 1_000, "gpt-4o-mini"),
    ];
    for (agent, status, started, took, model) in one_each {
        run(keel, agent, status, started, took, model).await;
    }
    exec(
        keel,
        "INSERT INTO model_health (provider, model_id, state, is_circuit_open)
         VALUES ('anthropic', 'claude-haiku-4-5', 'closed', false),
                ('google', 'gemini-2.5-flash', 'open', true)",
    )
    .await;
    exec(
        keel,
        "UPDATE fleet_agents SET models = '[\"google/gemini-2.5-flash\"]'
          WHERE agent_name = 'reengagement-check'",
    )
    .await;
}

/// A Slack incoming webhook on loopback: records each body, answers `status` after `delay`.
struct Webhook {
    url: String,
    bodies: Arc<Mutex<Vec<Value>>>,
    status: Arc<AtomicU16>,
    delay_ms: Arc<AtomicU64>,
}

async fn webhook() -> Webhook {
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let status = Arc::new(AtomicU16::new(200));
    let delay_ms = Arc::new(AtomicU64::new(0));
    let (seen, answer, delay) = (bodies.clone(), status.clone(), delay_ms.clone());
    let app = axum::Router::new().fallback(move |body: axum::body::Bytes| {
        let (seen, answer, delay) = (seen.clone(), answer.clone(), delay.clone());
        async move {
            tokio::time::sleep(Duration::from_millis(delay.load(Ordering::SeqCst))).await;
            let code = answer.load(Ordering::SeqCst);
            if code == 200 {
                seen.lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap());
            }
            let text = if code == 200 { "ok" } else { "no_service" };
            (StatusCode::from_u16(code).unwrap(), text)
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/services/T0/B0/x", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Webhook {
        url,
        bodies,
        status,
        delay_ms,
    }
}

fn options(url: &str) -> FleetOptions {
    FleetOptions {
        webhook_url: Some(url.to_owned()),
        // Every notice at once: the limiter's spacing is not what these tests are about.
        webhook_limit: keel::flow::Limit {
            limit: 100,
            period_ms: 1_000,
            burst: 100,
        },
        ..FleetOptions::default()
    }
}

fn status_of(health: &keel::telemetry::health::FleetHealth, name: &str) -> HealthStatus {
    health
        .agents
        .iter()
        .find(|a| a.name == name)
        .unwrap()
        .status
}

#[tokio::test]
async fn a_health_run_judges_the_fleet_alerts_once_and_tells_the_recovery() {
    on_each_backend(|backend, keel| async move {
        let hook = webhook().await;
        let fleet = Fleet::open(&keel, options(&hook.url), None).unwrap();
        let agents = fleet.agents().await.unwrap();
        assert_eq!(agents.len(), 6, "{backend:?}: the original six");
        let weekly = agents
            .iter()
            .find(|a| a.agent_name == "pipeline-snapshot")
            .unwrap();
        assert_eq!(weekly.cadence_ms, 7 * 86_400_000, "{backend:?}");
        fleet
            .set_agent(&AgentSpec {
                agent_name: "reengagement-check".into(),
                models: Some(vec!["google/gemini-2.5-flash".into()]),
                ..AgentSpec::default()
            })
            .await
            .unwrap();
        seed(&keel).await;

        let first = fleet.check().await.unwrap();
        let f = &first;
        let expect = [
            ("cc-enrich", HealthStatus::Healthy),
            ("deal-risk-batch", HealthStatus::Critical),
            ("eod-synthesis", HealthStatus::Critical),
            ("morning-briefing", HealthStatus::Stale),
            ("mystery-agent", HealthStatus::Warning),
            ("pipeline-snapshot", HealthStatus::Healthy),
            ("reengagement-check", HealthStatus::Critical),
        ];
        let names: Vec<&str> = f.agents.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, expect.map(|e| e.0), "{backend:?}");
        for (name, status) in expect {
            assert_eq!(
                status_of(f, name),
                status,
                "{backend:?} {name}: {:?}",
                f.agents
            );
        }
        let cc = f.agents.iter().find(|a| a.name == "cc-enrich").unwrap();
        assert_eq!(
            (cc.runs, cc.failed, cc.tokens_consumed),
            (8, 0, 800),
            "{backend:?}"
        );
        assert_eq!(cc.p50_duration_ms, Some(2_300), "{backend:?}: the 4th of 8");
        assert_eq!(cc.p95_duration_ms, Some(2_700), "{backend:?}");
        assert!((cc.credits_consumed - 12.0).abs() < 1e-9, "{backend:?}");
        let risk = f
            .agents
            .iter()
            .find(|a| a.name == "deal-risk-batch")
            .unwrap();
        assert_eq!(risk.failure_rate_24h, Some(40.0), "{backend:?}");
        let eod = f.agents.iter().find(|a| a.name == "eod-synthesis").unwrap();
        assert_eq!(
            (eod.stuck_runs, eod.window_ms),
            (1, 2 * 86_400_000),
            "{backend:?}"
        );
        let re = f
            .agents
            .iter()
            .find(|a| a.name == "reengagement-check")
            .unwrap();
        assert_eq!(re.open_breakers, ["google/gemini-2.5-flash"], "{backend:?}");
        let mystery = f.agents.iter().find(|a| a.name == "mystery-agent").unwrap();
        assert!(!mystery.registered && mystery.reasons[0].contains("registry"));
        assert_eq!(
            (
                f.summary.healthy,
                f.summary.warning,
                f.summary.stale,
                f.summary.critical
            ),
            (2, 1, 1, 3),
            "{backend:?}"
        );
        assert_eq!(first.total_alerts_fired, 5, "{backend:?}");
        assert_eq!(
            first.delivery.delivered, 5,
            "{backend:?}: {:?}",
            first.delivery
        );
        assert!(first.ok, "{backend:?}");
        {
            let bodies = hook.bodies.lock().unwrap();
            assert_eq!(bodies.len(), 5, "{backend:?}");
            let risk = bodies
                .iter()
                .find(|b| b["text"].as_str().unwrap().contains("deal-risk-batch"))
                .unwrap();
            let blocks = risk["blocks"].as_array().unwrap();
            let kinds: Vec<&str> = blocks.iter().map(|b| b["type"].as_str().unwrap()).collect();
            assert_eq!(
                kinds,
                ["header", "section", "section", "section", "context"]
            );
            assert_eq!(
                blocks[0]["text"]["text"],
                "Fleet Health CRITICAL: deal-risk-batch"
            );
            assert!(
                blocks[1]["text"]["text"]
                    .as_str()
                    .unwrap()
                    .starts_with("<!here> :red_circle:")
            );
            assert_eq!(
                blocks[2]["fields"][1]["text"],
                "*Failure rate (24 h):*\n40%"
            );
        }

        let second = fleet.check().await.unwrap();
        assert_eq!(second.total_alerts_fired, 0, "{backend:?}: steady states");
        assert_eq!(hook.bodies.lock().unwrap().len(), 5, "{backend:?}");

        exec(
            &keel,
            "UPDATE model_health SET is_circuit_open = false, state = 'closed'",
        )
        .await;
        let third = fleet.check().await.unwrap();
        assert_eq!(third.total_alerts_fired, 1, "{backend:?}");
        let re = third
            .agents
            .iter()
            .find(|a| a.name == "reengagement-check")
            .unwrap();
        assert_eq!(
            re.alert,
            Some(keel::telemetry::health::AlertKind::Recovered)
        );
        let last = hook.bodies.lock().unwrap().last().cloned().unwrap();
        assert_eq!(
            last["blocks"][0]["text"]["text"],
            "Fleet Health RECOVERED: reengagement-check"
        );

        // The stuck run is reaped by the runner's sweeper: no longer stuck.
        let swept = Runs::open(&keel)
            .sweep(SweepOptions {
                grace_ms: 0,
                ..SweepOptions::default()
            })
            .await
            .unwrap();
        assert_eq!(swept, 1, "{backend:?}");
        let now = fleet.status().await.unwrap();
        let eod = now
            .agents
            .iter()
            .find(|a| a.name == "eod-synthesis")
            .unwrap();
        assert_eq!(eod.stuck_runs, 0, "{backend:?}");

        let snapshots = count(&keel, "SELECT count(*) FROM fleet_health_snapshots").await;
        assert_eq!(snapshots, 21, "{backend:?}: 7 agents, 3 runs");
        let report = fleet.report(None).await.unwrap();
        assert_eq!(report.series["cc-enrich"].len(), 3, "{backend:?}");
        assert_eq!(
            fleet.prune(Some(86_400_000)).await.unwrap(),
            0,
            "{backend:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(fleet.prune(Some(1)).await.unwrap(), 21, "{backend:?}");
    })
    .await;
}

#[tokio::test]
async fn a_failing_or_hanging_webhook_delays_no_snapshot_and_is_retried() {
    on_each_backend(|backend, keel| async move {
        let hook = webhook().await;
        hook.status.store(500, Ordering::SeqCst);
        let fleet = Fleet::open(&keel, options(&hook.url), None).unwrap();
        run(&keel, "deal-risk-batch", "failed", HOUR, 1_000, "m").await;
        let failing = fleet.check().await.unwrap();
        assert!(!failing.ok, "{backend:?}");
        assert_eq!(
            failing.delivery.retrying, failing.total_alerts_fired,
            "{backend:?}"
        );
        assert!(
            failing.delivery.errors[0].contains("HTTP 500"),
            "{backend:?}"
        );
        let written = count(&keel, "SELECT count(*) FROM fleet_health_snapshots").await;
        assert_eq!(written, 6, "{backend:?}: the snapshots are written");
        let alerts = fleet.alerts(None, 100).await.unwrap();
        assert!(
            alerts
                .iter()
                .all(|a| a.delivery == "pending" && a.attempts == 1)
        );
        assert!(alerts[0].last_error.as_deref().unwrap().contains("500"));

        // A hanging webhook: the request times out and the notice waits for a later try.
        hook.status.store(200, Ordering::SeqCst);
        hook.delay_ms.store(5_000, Ordering::SeqCst);
        exec(&keel, "UPDATE fleet_alerts SET next_attempt_at = now()").await;
        let hanging = Fleet::open(
            &keel,
            FleetOptions {
                timeout_ms: 200,
                deliver_within_ms: 1_000,
                ..options(&hook.url)
            },
            None,
        )
        .unwrap();
        let started = std::time::Instant::now();
        let report = hanging.deliver().await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(4), "{backend:?}");
        assert_eq!(report.delivered, 0, "{backend:?}: {report:?}");

        hook.delay_ms.store(0, Ordering::SeqCst);
        exec(&keel, "UPDATE fleet_alerts SET next_attempt_at = now()").await;
        let report = fleet.deliver().await.unwrap();
        assert_eq!(
            report.delivered as usize,
            alerts.len(),
            "{backend:?}: {report:?}"
        );
        let delivered = fleet.alerts(None, 100).await.unwrap();
        assert!(
            delivered
                .iter()
                .all(|a| a.delivery == "delivered" && a.attempts >= 2)
        );
    })
    .await;
}

/// A callback that never returns.
struct Hung;

impl AlertSink for Hung {
    fn deliver(&self, _alert: FleetAlert) -> BoxFuture<'static, std::result::Result<(), String>> {
        Box::pin(std::future::pending())
    }
}

#[tokio::test]
async fn a_callback_that_hangs_is_cut_off_and_retried() {
    on_each_backend(|backend, keel| async move {
        let options = FleetOptions {
            timeout_ms: 100,
            ..FleetOptions::default()
        };
        let fleet = Fleet::open(&keel, options, Some(Arc::new(Hung))).unwrap();
        let started = std::time::Instant::now();
        let health = fleet.check().await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(5), "{backend:?}");
        assert_eq!(
            health.delivery.retrying, 6,
            "{backend:?}: {:?}",
            health.delivery
        );
        assert!(
            health.delivery.errors[0].contains("within 100 ms"),
            "{backend:?}"
        );
        let alerts = fleet.alerts(None, 10).await.unwrap();
        assert!(
            alerts.iter().all(|a| a.delivery == "pending"),
            "{backend:?}"
        );
    })
    .await;
}

/// A callback that refuses every notice and, as it does, makes every notice waiting for a
/// retry due again at once (as a backoff drawn near zero would).
struct Refuses {
    keel: Keel,
    calls: Arc<Mutex<Vec<String>>>,
}

impl AlertSink for Refuses {
    fn deliver(&self, alert: FleetAlert) -> BoxFuture<'static, std::result::Result<(), String>> {
        let keel = self.keel.clone();
        let calls = self.calls.clone();
        Box::pin(async move {
            calls.lock().unwrap().push(alert.agent_name);
            let past = ago(&keel, MIN);
            exec(
                &keel,
                &format!(
                    "UPDATE fleet_alerts SET next_attempt_at = {past} WHERE delivery = 'pending'"
                ),
            )
            .await;
            Err("refused".to_owned())
        })
    }
}

#[tokio::test]
async fn one_delivery_run_tries_each_notice_once() {
    on_each_backend(|backend, keel| async move {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let sink = Refuses {
            keel: keel.clone(),
            calls: calls.clone(),
        };
        let fleet = Fleet::open(&keel, FleetOptions::default(), Some(Arc::new(sink))).unwrap();
        let health = fleet.check().await.unwrap();
        let mut tried = calls.lock().unwrap().clone();
        assert_eq!(tried.len(), 6, "{backend:?}: {tried:?}");
        tried.dedup();
        assert_eq!(tried.len(), 6, "{backend:?}: each once, in order");
        assert_eq!(health.delivery.retrying, 6, "{backend:?}");

        // The next run tries them again.
        let report = fleet.deliver().await.unwrap();
        assert_eq!(report.retrying, 6, "{backend:?}: {report:?}");
        assert_eq!(calls.lock().unwrap().len(), 12, "{backend:?}");
    })
    .await;
}

/// Two processes check the same unhealthy fleet at the same moment: each agent's alert is
/// queued, and posted, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_health_runs_at_once_send_each_alert_once() {
    if let Ok(url) = std::env::var("KEEL_CHILD_URL") {
        let keel = Keel::connect(&url).await.unwrap();
        let hook = std::env::var("KEEL_CHILD_HOOK").unwrap();
        let fleet = Fleet::open(&keel, options(&hook), None).unwrap();
        common::wait_for_start().await;
        let health = fleet.check().await.unwrap();
        println!("KEEL_CHILD {}", health.total_alerts_fired);
        keel.close().await;
        return;
    }
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let url = fresh_url(backend).await;
        let keel = Keel::connect(&url).await.unwrap();
        seed(&keel).await;
        let hook = webhook().await;
        let reports = common::run_children(
            "two_health_runs_at_once_send_each_alert_once",
            2,
            &[
                ("KEEL_CHILD_URL", url.clone()),
                ("KEEL_CHILD_HOOK", hook.url.clone()),
            ],
        );
        let fired: u64 = reports.iter().map(|r| r.parse::<u64>().unwrap()).sum();
        assert_eq!(fired, 5, "{backend:?}: {reports:?}");
        let queued = count(&keel, "SELECT count(*) FROM fleet_alerts").await;
        assert_eq!(queued, 5, "{backend:?}");
        assert_eq!(hook.bodies.lock().unwrap().len(), 5, "{backend:?}");
        keel.close().await;
    }
}

#[tokio::test]
async fn bad_input_names_the_field() -> Result<()> {
    let keel = Keel::connect(&fresh_url(Backend::Sqlite).await).await?;
    let field = |r: Result<_>| r.err().and_then(|e| e.field().map(str::to_owned));
    let bad_url = FleetOptions {
        webhook_url: Some("http://hooks.slack.com/services/x".into()),
        ..FleetOptions::default()
    };
    assert_eq!(
        field(Fleet::open(&keel, bad_url, None).map(|_| ())).as_deref(),
        Some("webhook_url")
    );
    let fleet = Fleet::open(&keel, options("http://127.0.0.1:9/x"), None)?;
    let zero = AgentSpec {
        agent_name: "x".into(),
        cadence_ms: Some(0),
        ..AgentSpec::default()
    };
    assert_eq!(
        field(fleet.set_agent(&zero).await.map(|_| ())).as_deref(),
        Some("cadence_ms")
    );
    let new = AgentSpec {
        agent_name: "new-agent".into(),
        ..AgentSpec::default()
    };
    assert_eq!(
        field(fleet.set_agent(&new).await.map(|_| ())).as_deref(),
        Some("cadence_ms")
    );
    assert_eq!(
        field(fleet.remove_agent("nobody").await.map(|_| ())).as_deref(),
        Some("agent_name")
    );
    let weekly = AgentSpec {
        agent_name: "new-agent".into(),
        schedule: Some("0 6 * * 1".into()),
        models: Some(vec!["anthropic/claude-haiku-4-5".into()]),
        ..AgentSpec::default()
    };
    let set = fleet.set_agent(&weekly).await?;
    assert_eq!((set.cadence_ms, set.stuck_after_ms), (604_800_000, 600_000));
    let off = AgentSpec {
        agent_name: "new-agent".into(),
        enabled: Some(false),
        ..AgentSpec::default()
    };
    let changed = fleet.set_agent(&off).await?;
    assert_eq!(
        (changed.enabled, changed.models.len()),
        (false, 1),
        "only the given field"
    );
    assert_eq!(
        fleet.remove_agent("new-agent").await?.agent_name,
        "new-agent"
    );
    keel.close().await;
    Ok(())
}
