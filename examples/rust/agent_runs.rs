//! Agent runs: an executor retried after a transient failure, a committed step that a retry
//! skips, a budget that stops the run at its next step with partial results, and the
//! agent_executions rows they left. The same scenario runs in examples/python/agent_runs.py and
//! examples/node/agent_runs.mjs.
//!
//!     cargo run -p keelcore --example agent_runs
//!     KEEL_DATABASE_URL=postgres://… cargo run -p keelcore --example agent_runs

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use keel::runner::{AgentConfig, AgentContext, Failure, RunQuery, Runs};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> keel::Result<()> {
    let url = std::env::var("KEEL_DATABASE_URL").unwrap_or_else(|_| "sqlite::memory:".to_owned());
    // --8<-- [start:agent_runs]
    let db = keel::Keel::connect(&url).await?;
    let quick: keel::runner::RetryPolicy = serde_json::from_value(
        json!({"kinds": {"transient": {"max_attempts": 3, "backoff": {"base_ms": 0, "cap_ms": 0}}}}),
    )
    .expect("a valid policy");
    let config = |agent: &str| AgentConfig {
        org_id: Some("system".into()),
        policy: quick.clone(),
        ..AgentConfig::new(agent)
    };

    let result = db
        .run_agent(config("deal-risk-scan"), |ctx: AgentContext| async move {
            if ctx.attempt() == 1 {
                return Err(Failure {
                    message: "CRM unavailable".into(),
                    status: Some(503),
                    ..Failure::default()
                });
            }
            ctx.add_items(3, 42);
            Ok(json!({"at_risk": 3}))
        })
        .await?;
    println!(
        "deal-risk-scan: {} after {} attempts; first failure {}; data {}",
        result.status.as_str(),
        result.attempts,
        result.errors[0].kind.as_str(),
        result.data.unwrap_or_default()
    );

    let writes = Arc::new(AtomicU32::new(0));
    let write = |writes: Arc<AtomicU32>| async move {
        Ok::<_, Failure>(json!({"crm_id": 40 + writes.fetch_add(1, Ordering::SeqCst) + 1}))
    };
    let w = writes.clone();
    let result = db
        .run_agent(config("crm-sync"), move |ctx: AgentContext| {
            let w = w.clone();
            async move {
                let saved: Value = ctx.step("write_crm", || write(w)).await?;
                if ctx.attempt() == 1 {
                    return Err(Failure {
                        message: "connection reset".into(),
                        connection: true,
                        ..Failure::default()
                    });
                }
                Ok(saved)
            }
        })
        .await?;
    let steps: Vec<&str> = result.steps.keys().map(String::as_str).collect();
    println!(
        "crm-sync: {}; the step ran {} time(s); steps {}",
        result.status.as_str(),
        writes.load(Ordering::SeqCst),
        steps.join(", ")
    );

    let briefing = AgentConfig {
        org_id: Some("system".into()),
        budget: Some(1.0),
        allow_partial_results: true,
        ..AgentConfig::new("morning-briefing")
    };
    let w = writes.clone();
    let result = db
        .run_agent(briefing, move |ctx: AgentContext| {
            let w = w.clone();
            async move {
                let deals: Value = ctx
                    .step("gather", || async {
                        ctx.add_credits(1.5); // the model calls of this step, say
                        Ok::<_, Failure>(json!(["deal-1", "deal-2"]))
                    })
                    .await?;
                let _: Value = ctx.step("write", || write(w)).await?; // refused: the budget is spent
                Ok::<_, Failure>(deals)
            }
        })
        .await?;
    println!(
        "morning-briefing: {}, partial {}; kept {}; the write ran {} time(s)",
        result.status.as_str(),
        result.partial,
        Value::Object(result.steps),
        writes.load(Ordering::SeqCst) - 1
    );

    let runs = Runs::open(&db);
    runs.flush().await;
    let query = RunQuery {
        org_id: Some("system".into()),
        ..RunQuery::default()
    };
    for row in runs.list(&query).await?.iter().rev() {
        println!(
            "row {}: {}, {} attempt(s), credits {:.1}",
            row.agent_name,
            row.status.as_str(),
            row.attempts,
            row.credits_consumed
        );
    }
    db.close().await;
    // --8<-- [end:agent_runs]
    Ok(())
}
