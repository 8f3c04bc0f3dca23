//! The demo's fleet-health step: the seeded registry and an agent registered by its cron
//! schedule, judged from real runs (healthy, failing, a crashed run left `running`, an agent
//! whose model's circuit is open, an agent that never ran, the demo's unregistered agent),
//! alerts posted once to a Slack webhook on loopback, a
//! second run that sends nothing, the crashed run reaped by the sweeper and the agent's
//! recovery notice.

use serde_json::{Value, json};

use keel::flow::Limit;
use keel::models::{FailureKind, ModelRouter, RouterOptions};
use keel::runner::{AgentConfig, Failure, Runs, SweepOptions};
use keel::store::{Dialect, Pool};
use keel::telemetry::health::{AgentSpec, Fleet, FleetHealth, FleetOptions};

use crate::loopback::Loopback;
use crate::loopback::slack::WEBHOOK;
use crate::output::say;

/// The model reengagement-check depends on, whose circuit the demo opens.
const PROVIDER: &str = "anthropic";
const MODEL: &str = "claude-haiku-4-5-20251001";

/// One run of `agent` that succeeds, or fails (HTTP 500, no retry).
async fn run(keel: &keel::Keel, agent: &str, ok: bool) -> keel::Result<()> {
    let config = AgentConfig {
        max_retries: Some(0),
        dead_letter: false,
        org_id: Some("system".into()),
        triggered_by: Some("demo".into()),
        ..AgentConfig::new(agent)
    };
    keel.run_agent(config, move |_ctx| async move {
        if ok {
            Ok(json!({"ok": true}))
        } else {
            Err(Failure {
                message: "HTTP 500 from the CRM".into(),
                status: Some(500),
                ..Failure::default()
            })
        }
    })
    .await?;
    Ok(())
}

/// The row a run leaves when its process is killed mid-run (a deploy, an OOM kill): still
/// `running`, its deadline passed. (A run whose caller merely stops waiting is recorded as
/// cancelled by the runner; only a dead process leaves this.)
async fn crashed(keel: &keel::Keel, agent: &str) -> keel::Result<()> {
    let pool = keel.pool()?;
    let d = Dialect::of(pool);
    let ago = |minutes: i64| d.from_epoch_ms(&format!("({} - {})", d.now_ms(), minutes * 60_000));
    let statement = d.spell(&format!(
        "INSERT INTO agent_executions (id, agent_name, execution_type, status, started_at,
                                       deadline_at, org_ref)
         VALUES ($1::uuid, $2, 'fleet_agent', 'running', {}, {}, 'system')",
        ago(20),
        ago(10)
    ));
    let id = uuid::Uuid::new_v4().to_string();
    let written = match pool {
        Pool::Postgres(pg) => sqlx::query(&statement)
            .bind(id)
            .bind(agent)
            .execute(pg)
            .await
            .map(|_| ()),
        Pool::Sqlite(lite) => sqlx::query(&statement)
            .bind(id)
            .bind(agent)
            .execute(lite)
            .await
            .map(|_| ()),
    };
    written.map_err(|e| keel::Error::Internal(format!("the demo's crashed run: {e}")))?;
    Ok(())
}

fn print_run(health: &FleetHealth, webhook: &Loopback, before: usize) {
    for a in &health.agents {
        let why = a.reasons.first().map_or("", String::as_str);
        let line = format!(
            "              {:<22} {:<8} {why}",
            a.name,
            a.status.as_str()
        );
        say!("{}", line.trim_end());
    }
    let posted = webhook.received();
    let posted: Vec<&Value> = posted
        .iter()
        .filter(|r| r.model == WEBHOOK)
        .skip(before)
        .map(|r| &r.body)
        .collect();
    say!(
        "              {} alert(s) queued, {} posted to the Slack webhook on loopback:",
        health.total_alerts_fired,
        posted.len()
    );
    // By agent: posts go out one at a time, oldest first, and one run's are equally old.
    let mut headers: Vec<&str> = posted
        .iter()
        .map(|b| b["blocks"][0]["text"]["text"].as_str().unwrap_or_default())
        .collect();
    headers.sort_by_key(|h| h.split_once(": ").map_or(*h, |(_, agent)| agent));
    for header in headers {
        say!("                {header}");
    }
}

/// Runs step [15].
pub async fn run_step(keel: &keel::Keel) -> keel::Result<()> {
    let webhook = Loopback::start()
        .await
        .map_err(|e| keel::Error::Internal(format!("the demo's webhook: {e}")))?;
    let options = FleetOptions {
        webhook_url: Some(format!("{}/services/T0DEMO/B0DEMO/demo", webhook.base_url)),
        webhook_limit: Limit {
            limit: 50,
            period_ms: 1_000,
            burst: 50,
        },
        ..FleetOptions::default()
    };
    let fleet = Fleet::open(keel, options, None)?;
    fleet
        .set_agent(&AgentSpec {
            agent_name: "reengagement-check".into(),
            models: Some(vec![format!("{PROVIDER}/{MODEL}")]),
            ..AgentSpec::default()
        })
        .await?;
    for _ in 0..3 {
        run(keel, "cc-enrich", true).await?;
    }
    for ok in [false, false, true] {
        run(keel, "deal-risk-batch", ok).await?;
    }
    run(keel, "reengagement-check", true).await?;
    for _ in 0..10 {
        run(keel, "morning-briefing", true).await?;
    }
    crashed(keel, "morning-briefing").await?;
    fleet
        .set_agent(&AgentSpec {
            agent_name: "weekly-digest".into(),
            schedule: Some("0 8 * * 1".into()),
            description: Some("Monday pipeline digest".into()),
            ..AgentSpec::default()
        })
        .await?;
    let router = ModelRouter::open(keel, RouterOptions::default()).await?;
    for _ in 0..RouterOptions::default().breaker.failure_threshold {
        router
            .record_failure(PROVIDER, MODEL, FailureKind::ServerError)
            .await;
    }
    Runs::open(keel).flush().await;
    let agents = fleet.agents().await?;
    say!(
        "[15] fleet    {} registered agents (pipeline-snapshot and weekly-digest weekly); one health run:",
        agents.len()
    );
    let first = fleet.check().await?;
    print_run(&first, &webhook, 0);

    let second = fleet.check().await?;
    say!(
        "              a second run: {} new alert(s) (steady states are not told again)",
        second.total_alerts_fired
    );

    let swept = Runs::open(keel)
        .sweep(SweepOptions {
            grace_ms: 0,
            ..SweepOptions::default()
        })
        .await?;
    let third = fleet.check().await?;
    let recovered: Vec<&str> = third
        .agents
        .iter()
        .filter(|a| a.alert == Some(keel::telemetry::health::AlertKind::Recovered))
        .map(|a| a.name.as_str())
        .collect();
    say!(
        "              {swept} crashed run reaped by the sweeper (1 failure in 11 runs): recovery notice for {}",
        recovered.join(", ")
    );
    let posted = webhook
        .received()
        .iter()
        .filter(|r| r.model == WEBHOOK)
        .count();
    say!("              {posted} webhook posts in all; snapshots written per run, kept 30 days");
    Ok(())
}
