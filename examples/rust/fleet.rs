//! Fleet health: the seeded agent registry, an agent registered by its cron schedule, its runs
//! judged by one health run (every seeded agent that never ran is stale), alerts posted once
//! to a Slack webhook, a second run that sends nothing, and a schedule that is not cron
//! refused. The same scenario runs in examples/python/fleet.py and examples/node/fleet.mjs.
//!
//!     KEEL_LLM_BASE_URL=http://127.0.0.1:PORT cargo run -p keelcore --example fleet   # `keel loopback`
//!     SLACK_WEBHOOK_URL=https://hooks.slack.com/services/… cargo run -p keelcore --example fleet

use keel::runner::{AgentConfig, Failure};
use keel::telemetry::health::{AgentSpec, Fleet, FleetOptions};
use serde_json::json;

#[tokio::main]
async fn main() -> keel::Result<()> {
    let url = std::env::var("KEEL_DATABASE_URL").unwrap_or_else(|_| "sqlite::memory:".to_owned());
    // A local Slack (`keel loopback`) when set; else SLACK_WEBHOOK_URL and friends.
    let webhook_url = std::env::var("KEEL_LLM_BASE_URL")
        .ok()
        .map(|base| format!("{base}/services/T0/B0/example"));
    // --8<-- [start:fleet]
    let db = keel::Keel::connect(&url).await?;
    let fleet = Fleet::open(
        &db,
        FleetOptions {
            webhook_url,
            ..FleetOptions::default()
        },
        None,
    )?;
    let agents = fleet.agents().await?;
    let weekly = agents
        .iter()
        .find(|a| a.agent_name == "pipeline-snapshot")
        .expect("seeded");
    println!(
        "{} agents registered; pipeline-snapshot every {} d ({})",
        agents.len(),
        weekly.cadence_ms / 86_400_000,
        weekly.schedule.as_deref().unwrap_or_default()
    );
    let crm = fleet
        .set_agent(&AgentSpec {
            agent_name: "crm-sync".into(),
            schedule: Some("*/30 * * * *".into()),
            ..AgentSpec::default()
        })
        .await?;
    println!("crm-sync every {} min", crm.cadence_ms / 60_000);

    for ok in [true, false, true, false] {
        let config = AgentConfig {
            max_retries: Some(0),
            dead_letter: false,
            ..AgentConfig::new("crm-sync")
        };
        db.run_agent(config, move |_ctx| async move {
            if ok {
                Ok(json!({"synced": 12}))
            } else {
                Err(Failure {
                    message: "CRM unavailable".into(),
                    status: Some(503),
                    ..Failure::default()
                })
            }
        })
        .await?;
    }
    keel::runner::Runs::open(&db).flush().await;

    let health = fleet.check().await?;
    for agent in &health.agents {
        let why = agent.reasons.first().map_or("", String::as_str);
        println!("  {:<20} {:<8} {why}", agent.name, agent.status.as_str());
    }
    println!(
        "{} alerts queued, {} delivered",
        health.total_alerts_fired, health.delivery.delivered
    );
    let again = fleet.check().await?;
    println!("a second run: {} new alerts", again.total_alerts_fired);

    let bad = AgentSpec {
        agent_name: "x".into(),
        schedule: Some("every day".into()),
        ..AgentSpec::default()
    };
    if let Err(err) = fleet.set_agent(&bad).await {
        println!(
            "refused: {} ({})",
            err.code(),
            err.field().unwrap_or_default()
        );
    }
    // --8<-- [end:fleet]
    db.close().await;
    Ok(())
}
