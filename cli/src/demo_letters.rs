//! The demo's dead-letter step: a run that exhausted its retries becomes a letter; a worker
//! replays it to an endpoint on loopback that fails twice (so it is abandoned), an operator
//! redrives it and it succeeds; an orchestrator that answers 202 leaves its letter accepted until
//! its completion call; and a worker whose lease ran out is refused when it tries to complete.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use keel::runner::{
    Backoff, DeadLetters, HttpHandler, NewDeadLetter, WorkReport, Worker, WorkerOptions,
};
use serde_json::{Value, json};

use crate::output::say;

/// A replay endpoint on loopback: `deal-risk-batch` fails with 503 twice, then succeeds; the
/// orchestrator accepts with 202. Returns its URL.
async fn endpoint() -> keel::Result<String> {
    let failures = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new().fallback(move |body: String| {
        let failures = failures.clone();
        async move {
            let replay: Value = serde_json::from_str(&body).unwrap_or_default();
            match replay["agent_name"].as_str() {
                Some("agent-fleet-router") => StatusCode::ACCEPTED,
                _ if failures.fetch_add(1, Ordering::SeqCst) < 2 => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::OK,
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| keel::Error::Internal(format!("the demo's endpoint: {e}")))?;
    let url = format!(
        "http://{}/replay",
        listener
            .local_addr()
            .map_err(|e| keel::Error::Internal(e.to_string()))?
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

fn letter(agent: &str, trigger: &str, payload: Value) -> keel::Result<NewDeadLetter> {
    serde_json::from_value(json!({
        "agent_name": agent, "trigger_type": trigger, "payload": payload, "org_id": "system",
        "max_retries": 2, "delay_ms": 0,
        "errors": [
            {"kind": "transient", "message": "HTTP 529 overloaded", "status": 529, "attempt": 1},
            {"kind": "transient", "message": "HTTP 529 overloaded", "status": 529, "attempt": 2},
            {"kind": "transient", "message": "HTTP 503 upstream", "status": 503, "attempt": 3},
        ],
    }))
    .map_err(|e| keel::Error::Internal(format!("the demo's letter: {e}")))
}

fn report(r: &WorkReport) -> String {
    format!(
        "claimed {}: resolved {}, accepted {}, retrying {}, abandoned {}",
        r.claimed, r.resolved, r.accepted, r.retrying, r.abandoned
    )
}

/// Runs step [10].
pub async fn run(keel: &keel::Keel) -> keel::Result<()> {
    let letters = DeadLetters::open(keel);
    let url = endpoint().await?;
    let risk = letters
        .enqueue(&letter("deal-risk-batch", "cron", json!({"deals": 42}))?, 0)
        .await?;
    let router = letters
        .enqueue(
            &letter(
                "agent-fleet-router",
                "webhook",
                json!({"type": "orchestrator"}),
            )?,
            0,
        )
        .await?;
    say!(
        "[10] letters  2 runs exhausted their 3 attempts; their letters keep payload, org \"system\" and the error chain ({} failures)",
        risk.errors.len()
    );
    let options = WorkerOptions {
        backoff: Backoff {
            base_ms: 0,
            cap_ms: 0,
            ..Backoff::DEAD_LETTER
        },
        ..WorkerOptions::default()
    };
    let handler = Arc::new(HttpHandler::new(
        keel.http().clone(),
        &url,
        Default::default(),
    )?);
    let worker = Worker::new(letters.clone(), options)?.handle_all(handler);
    for pass in 1..=2 {
        say!(
            "              worker pass {pass}: {}",
            report(&worker.run_once().await?)
        );
    }
    let gone = letters.get(risk.id).await?;
    say!(
        "              deal-risk-batch {}: {}",
        gone.status.as_str(),
        gone.abandoned_reason.as_deref().unwrap_or("-")
    );
    letters.redrive(risk.id).await?;
    say!(
        "              redriven; worker pass 3: {}",
        report(&worker.run_once().await?)
    );
    let waiting = letters.get(router.id).await?;
    let done = letters.resolve(router.id).await?;
    say!(
        "              agent-fleet-router answered 202: {} until its completion call, then {}",
        waiting.status.as_str(),
        done.status.as_str()
    );
    let fenced = letters
        .enqueue(&letter("pipeline-snapshot", "cron", json!({}))?, 0)
        .await?;
    let lease = Duration::from_millis(100);
    let first = letters.claim("worker-a", None, 1, lease).await?.leased;
    tokio::time::sleep(Duration::from_millis(250)).await;
    let second = letters.claim("worker-b", None, 1, lease).await?.leased;
    let (Some(a), Some(b)) = (first.first(), second.first()) else {
        return Err(keel::Error::Internal(
            "the demo's letter was not claimed".into(),
        ));
    };
    let late = letters.complete(fenced.id, a.token).await?;
    let owner = letters.complete(fenced.id, b.token).await?;
    say!(
        "              worker-a's lease ran out (token {}); worker-b took it (token {}): worker-a completes? {late}; worker-b? {owner}",
        a.token,
        b.token
    );
    Ok(())
}
