//! Backpressure: a burst of Command Centre items in four lanes, a worker with bounded
//! concurrency, a provider whose shared quota defers what it cannot take (without spending an
//! attempt), and the queue's health. The same scenario runs in examples/python/queue.py and
//! examples/node/queue.mjs.
//!
//! ```sh
//! cargo run -p keelcore --example queue
//! KEEL_DATABASE_URL=postgres://… cargo run -p keelcore --example queue
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use keel::flow::{
    NewItem, ProviderLimit, ProviderLimits, Queue, QueueItem, QueueWorker, SharedLimiter,
    WorkerOptions,
};
use serde_json::json;

const ORG: &str = "00000000-0000-4000-8000-0000000000a1";

#[tokio::main]
async fn main() -> keel::Result<()> {
    let url = std::env::var("KEEL_DATABASE_URL").unwrap_or_else(|_| "sqlite::memory:".into());
    // --8<-- [start:queue]
    let keel = keel::Keel::connect(&url).await?;
    let queue = Queue::open(&keel, Default::default())?;
    let limiter = SharedLimiter::open(&keel);
    let items: Vec<NewItem> = (0..12)
        .map(|i| NewItem {
            org_id: ORG.into(),
            source_agent: "deal-risk".into(),
            item_type: if i % 3 == 0 { "outreach" } else { "deal_risk" }.into(),
            title: format!("item {i}"),
            queue_priority: Some(i % 4),
            ..NewItem::default()
        })
        .collect();
    queue.enqueue(&items).await?;
    let health = queue.health().await?;
    let lanes: Vec<String> = health.lanes.iter().map(|l| l.depth.to_string()).collect();
    println!(
        "enqueued 12: due per lane [{}], mode {}",
        lanes.join(", "),
        health.mode.as_str()
    );

    let hubspot = ProviderLimits(vec![ProviderLimit {
        provider: "hubspot".into(),
        org_id: None,
        limit: 2,
        period_ms: 3_600_000,
        burst: 2,
    }]);
    let handled = Arc::new(AtomicUsize::new(0));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let stop_tx = Arc::new(std::sync::Mutex::new(Some(stop_tx)));
    let enrich = move |item: QueueItem| {
        let (limiter, hubspot, handled, stop_tx) = (
            limiter.clone(),
            hubspot.clone(),
            handled.clone(),
            stop_tx.clone(),
        );
        async move {
            if handled.fetch_add(1, Ordering::SeqCst) + 1 == 12 {
                stop_tx.lock().unwrap().take().map(|tx| tx.send(()));
            }
            if item.item_type == "outreach" {
                let keys = hubspot
                    .keys(&item.org_id, &["hubspot".into()])
                    .map_err(|e| e.to_string())?;
                let keys: Vec<(&str, keel::flow::Limit)> =
                    keys.iter().map(|(k, l)| (k.as_str(), *l)).collect();
                let decision = limiter.acquire(&keys).await.map_err(|e| e.to_string())?;
                if !decision.allowed {
                    return Ok(json!({"defer_ms": decision.retry_after_ms}));
                }
            }
            Ok(json!({"enriched": true}))
        }
    };
    let worker = QueueWorker::new(
        queue.clone(),
        WorkerOptions {
            concurrency: 3,
            ..Default::default()
        },
    )?;
    let report = worker
        .run(enrich, async move {
            let _ = stop_rx.await;
        })
        .await?;
    println!(
        "worker: {} claimed, {} completed, {} deferred, {} failed",
        report.claimed, report.completed, report.deferred, report.failed
    );
    let health = queue.health().await?;
    let delayed: u64 = health.lanes.iter().map(|l| l.delayed).sum();
    println!(
        "health: mode {}, {} due, {delayed} delayed, {} in flight",
        health.mode.as_str(),
        health.depth,
        health.in_flight
    );
    keel.close().await;
    // --8<-- [end:queue]
    Ok(())
}
