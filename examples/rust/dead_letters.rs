//! Dead letters: a run that exhausted its retries is enqueued with its error chain, a worker
//! replays it through a handler that fails once and then succeeds, and failures are classified
//! on their structure. The same scenario runs in examples/python/dead_letters.py and
//! examples/node/dead_letters.mjs.
//!
//!     cargo run -p keelcore --example dead_letters
//!     KEEL_DATABASE_URL=postgres://… cargo run -p keelcore --example dead_letters

use std::sync::Arc;

use keel::runner::{DeadLetter, DeadLetters, Failure, Handled, Worker, WorkerOptions};
use serde_json::json;

#[tokio::main]
async fn main() -> keel::Result<()> {
    let url = std::env::var("KEEL_DATABASE_URL").unwrap_or_else(|_| "sqlite::memory:".to_owned());
    // --8<-- [start:dead_letters]
    let db = keel::Keel::connect(&url).await?;
    let letters = DeadLetters::open(&db);
    let letter = letters
        .enqueue_value(
            Some(json!({
                "agent_name": "deal-risk-batch",
                "trigger_type": "cron",
                "payload": {"deals": 42},
                "org_id": "system",
                "errors": [{"kind": "transient", "message": "HTTP 503", "status": 503}],
                "idempotency_key": "deal-risk-batch:2026-12-03",
                "delay_ms": 0,
            })),
            keel::options::Case::Snake,
            "",
        )
        .await?;
    println!(
        "enqueued for {} (org {}): {}, {} failure(s)",
        letter.agent_name,
        letter.org_id.as_deref().unwrap_or("-"),
        letter.status.as_str(),
        letter.errors.len()
    );
    // The handler replays the run: the first retry meets a 503, the second succeeds.
    let handler = |letter: DeadLetter| async move {
        if letter.retry_count == 1 {
            return Err(Failure {
                status: Some(503),
                message: "upstream unavailable".into(),
                ..Failure::default()
            });
        }
        Ok(Handled::Done)
    };
    let options: WorkerOptions =
        serde_json::from_value(json!({"backoff": {"base_ms": 0, "cap_ms": 0}}))
            .map_err(|e| keel::Error::invalid_input("options", e.to_string()))?;
    let worker = Worker::new(letters.clone(), options)?.handle_all(Arc::new(handler));
    for pass in 1..=2 {
        let r = worker.run_once().await?;
        println!(
            "pass {pass}: claimed {}, resolved {}, retrying {}",
            r.claimed, r.resolved, r.retrying
        );
    }
    let after = letters.get(letter.id).await?;
    let kinds: Vec<&str> = after.errors.iter().map(|e| e.kind.as_str()).collect();
    println!(
        "{} after {} retries; history: {}",
        after.status.as_str(),
        after.retry_count,
        kinds.join(", ")
    );
    for failure in [
        json!({"message": "request took 1400ms"}),
        json!({"status": 429, "retry_after": "2"}),
    ] {
        let c = keel::runner::classify_value(Some(failure), keel::options::Case::Snake, "")?;
        println!(
            "classified {} by {}, retry_after_ms={:?}",
            c.kind.as_str(),
            c.by,
            c.retry_after_ms
        );
    }
    let delays = keel::runner::retry_delays_value(
        Some(json!({"retries": 4, "seed": 7})),
        keel::options::Case::Snake,
        "",
    )?;
    let ceilings: Vec<String> = delays.ceilings.iter().map(u64::to_string).collect();
    println!("dead-letter backoff ceilings: {}", ceilings.join(", "));
    db.close().await;
    // --8<-- [end:dead_letters]
    Ok(())
}
