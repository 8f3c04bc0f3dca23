//! The demo's agent-run step: an agent that fails transiently and then succeeds; one that
//! commits a step, exhausts its retries into the dead-letter queue and completes when the
//! worker replays its letter, without repeating the committed step; one that hangs and is cut
//! by its timeout; and the `agent_executions` rows they left.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use keel::runner::{
    AgentConfig, AgentContext, DeadLetter, DeadLetters, Failure, Handled, RunQuery, Runs, Worker,
    WorkerOptions,
};
use keel::telemetry::Span;
use serde_json::{Value, json};

use crate::output::say;

/// A run of `agent` in the demo's trace whose retries wait no more than 50 ms.
fn config(agent: &str, parent: &Span) -> keel::Result<AgentConfig> {
    let quick = json!({"kinds": {
        "transient": {"max_attempts": 3, "backoff": {"base_ms": 10, "cap_ms": 50}},
    }});
    Ok(AgentConfig {
        traceparent: Some(parent.traceparent()),
        org_id: Some("system".into()),
        triggered_by: Some("demo".into()),
        policy: serde_json::from_value(quick)
            .map_err(|e| keel::Error::Internal(format!("the demo's policy: {e}")))?,
        seed: Some(7),
        ..AgentConfig::new(agent)
    })
}

fn http(status: u16) -> Failure {
    Failure {
        message: format!("HTTP {status} from the CRM"),
        status: Some(status),
        ..Failure::default()
    }
}

/// The snapshot agent: writes its snapshot once (`writes` counts), then fails while
/// `failing`.
async fn snapshot(
    ctx: AgentContext,
    writes: Arc<AtomicU32>,
    failing: bool,
) -> Result<Value, Failure> {
    let id = ctx
        .step("write_snapshot", || async {
            Ok::<_, Failure>(json!({"snapshot": writes.fetch_add(1, Ordering::SeqCst) + 1}))
        })
        .await?;
    if failing {
        return Err(http(502));
    }
    ctx.add_items(1, 42);
    Ok(id)
}

/// Runs step [11].
pub async fn run(keel: &keel::Keel, parent: &Span) -> keel::Result<()> {
    let scored = keel
        .run_agent(
            config("deal-risk-scan", parent)?,
            |ctx: AgentContext| async move {
                if ctx.attempt() == 1 {
                    return Err(http(503));
                }
                ctx.add_items(3, 42);
                Ok(json!({"at_risk": 3}))
            },
        )
        .await?;
    say!(
        "[11] runs     deal-risk-scan: attempt 1 failed ({}, HTTP 503), attempt 2 {} ({} retry)",
        scored.errors[0].kind.as_str(),
        scored.status.as_str(),
        scored.retries_used
    );

    let writes = Arc::new(AtomicU32::new(0));
    let w = writes.clone();
    let exhausted = keel
        .run_agent(
            AgentConfig {
                payload: json!({"week": "2026-W49"}),
                trigger_type: Some("cron".into()),
                ..config("pipeline-snapshot", parent)?
            },
            move |ctx| snapshot(ctx, w.clone(), true),
        )
        .await?;
    let letters = DeadLetters::open(keel);
    let id = exhausted
        .dead_letter_id
        .ok_or_else(|| keel::Error::Internal("the demo's run left no dead letter".into()))?;
    let letter = letters.get(id).await?;
    say!(
        "              pipeline-snapshot: {} {} failures, then a dead letter keeping payload {} and step {}",
        letter.errors.len(),
        exhausted.error_kind.map_or("-", |k| k.as_str()),
        letter.payload,
        letter.steps.keys().cloned().collect::<Vec<_>>().join(", ")
    );

    // The worker replays the letter in process: the agent runs again with the letter's steps,
    // so the snapshot it committed is not written twice.
    letters.retry(id).await?;
    let k = keel.clone();
    let (w, traceparent) = (writes.clone(), parent.traceparent());
    let replay = move |letter: DeadLetter| {
        let (k, w, traceparent) = (k.clone(), w.clone(), traceparent.clone());
        async move {
            let config = AgentConfig {
                steps: letter.steps.clone(),
                dead_letter: false,
                traceparent: Some(traceparent),
                triggered_by: Some("dead-letter-retry".into()),
                org_id: letter.org_id.clone(),
                ..AgentConfig::new(&letter.agent_name)
            };
            let again = k
                .run_agent(config, move |ctx| snapshot(ctx, w.clone(), false))
                .await
                .map_err(|e| Failure::from(&e))?;
            match again.error {
                None => Ok(Handled::Done),
                Some(message) => Err(Failure {
                    message,
                    ..Failure::default()
                }),
            }
        }
    };
    let worker = Worker::new(letters.clone(), WorkerOptions::default())?
        .handle("pipeline-snapshot", Arc::new(replay));
    let report = worker.run_once().await?;
    say!(
        "              the retry worker replayed it: {} resolved; the snapshot was written {} time(s) in all",
        report.resolved,
        writes.load(Ordering::SeqCst)
    );

    let hung = keel
        .run_agent(
            AgentConfig {
                attempt_timeout_ms: 50,
                max_retries: Some(0),
                dead_letter: false,
                ..config("eod-synthesis", parent)?
            },
            |_ctx| std::future::pending::<Result<Value, Failure>>(),
        )
        .await?;
    say!(
        "              eod-synthesis hung: its attempt was cut after 50 ms, {} ({})",
        hung.status.as_str(),
        hung.error_kind.map_or("-", |k| k.as_str())
    );

    let runs = Runs::open(keel);
    runs.flush().await;
    let mut rows = runs
        .list(&RunQuery {
            org_id: Some("system".into()),
            ..RunQuery::default()
        })
        .await?;
    rows.reverse();
    say!("              agent_executions, oldest first:");
    for row in rows {
        say!(
            "                {:<18} {:<10} attempts {}  items {}/{}  triggered by {}",
            row.agent_name,
            row.status.as_str(),
            row.attempts,
            row.items_emitted,
            row.items_processed,
            row.triggered_by.as_deref().unwrap_or("-")
        );
    }
    Ok(())
}
