//! The demo's backpressure step: a burst of 500 Command Centre items in four lanes puts the
//! queue in batch mode; workers claim batches grouped by deal; a rate-limited provider
//! (hubspot, shared through the database, per org) admits what its quota allows and the rest
//! is deferred without spending an attempt; batch mode switches off as the backlog drains;
//! the health view at the end.

use keel::flow::{Limit, Mode, NewItem, Queue, QueueOptions, SharedLimiter};
use serde_json::json;

use crate::output::say;

const ORGS: [&str; 2] = [
    "00000000-0000-4000-8000-0000000000a1",
    "00000000-0000-4000-8000-0000000000b2",
];

/// The burst: 500 items, lanes 0 to 3 in turn, 20 deals; every other item logs to hubspot.
fn burst() -> Vec<NewItem> {
    (0..500u32)
        .map(|i| NewItem {
            org_id: ORGS[(i % 2) as usize].into(),
            source_agent: "deal-risk".into(),
            item_type: if i % 4 < 2 { "outreach" } else { "deal_risk" }.into(),
            title: format!("item {i}"),
            context: json!({"n": i}).as_object().cloned().unwrap_or_default(),
            deal_id: Some(uuid::Uuid::from_u128(u128::from(1_000 + i % 20)).to_string()),
            queue_priority: Some(i64::from(i % 4)),
            ..NewItem::default()
        })
        .collect()
}

/// Runs step [12].
pub async fn run(keel: &keel::Keel) -> keel::Result<()> {
    let queue = Queue::open(keel, QueueOptions::default())?;
    let limits = SharedLimiter::open(keel);
    // hubspot's quota for the demo: 75 an hour per org, all available at once.
    let hubspot = Limit {
        limit: 75,
        period_ms: 3_600_000,
        burst: 75,
    };
    queue.enqueue(&burst()).await?;
    let start = queue.health().await?;
    let lanes: Vec<String> = start.lanes.iter().map(|l| l.depth.to_string()).collect();
    say!(
        "[12] queue    500 items enqueued; due per lane {}: mode {}",
        lanes.join("/"),
        start.mode.as_str()
    );
    let (mut batches, mut most_deals, mut off_after) = (0, 0, None);
    let (mut admitted, mut deferred, mut plain) = (0, 0, 0);
    loop {
        let batch = queue.claim_batch("demo-worker", 50, None).await?;
        if batch.is_empty() {
            break;
        }
        batches += 1;
        most_deals = most_deals.max(batch.deal_ids.len());
        let mut done = Vec::new();
        for item in batch.items() {
            if item.item_type != "outreach" {
                plain += 1;
                done.push((item.id, item.lease_token));
                continue;
            }
            let key = format!("hubspot:{}", item.org_id);
            let decision = limits.check(&key, &hubspot).await?;
            if decision.allowed {
                admitted += 1;
                done.push((item.id, item.lease_token));
            } else {
                deferred += 1;
                let wait = i64::try_from(decision.retry_after_ms).unwrap_or(i64::MAX);
                queue.defer(item.id, item.lease_token, wait).await?;
            }
        }
        queue.complete_all(&done).await?;
        if off_after.is_none() && queue.health().await?.mode == Mode::Normal {
            off_after = Some(batches);
        }
    }
    say!(
        "              {batches} batches grouped by deal (at most {most_deals} deals each); batch mode off after batch {}",
        off_after.map_or("-".into(), |b| b.to_string())
    );
    say!(
        "              hubspot (75 an hour per org): {admitted} admitted, {deferred} deferred without spending an attempt; {plain} needed no provider"
    );
    let end = queue.health().await?;
    say!(
        "              health: mode {}, {} due, {} delayed, {} in flight; last minute {} claimed, {} completed",
        end.mode.as_str(),
        end.depth,
        end.lanes.iter().map(|l| l.delayed).sum::<u64>(),
        end.in_flight,
        end.claimed_last_minute,
        end.completed_last_minute
    );
    Ok(())
}
