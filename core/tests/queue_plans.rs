//! The queue's claim keeps one generic plan per connection on PostgreSQL: a claim's size reaches
//! its `LIMIT`s through a subquery, so PostgreSQL prices the plan the same with the size as
//! without it and stops planning every claim again after its first five (0.85 ms each, a
//! quarter of a claim of 100). Checked from the connection that ran the claims, in
//! `pg_prepared_statements`: the plain claim (with its size read as a plain parameter, all 12
//! of its executions were custom plans) and the capped one.

mod common;

use serde_json::json;

use keel::flow::{NewItem, Queue, QueueOptions};
use keel::{ConnectOptions, Keel, Pool};

const ORG: &str = "00000000-0000-4000-8000-00000000000a";

/// Runs `claims` claims of 100 (each completed) from a backlog of 5,000 on a one-connection
/// handle and returns the claim statement's generic and custom plan executions.
async fn plans_of(options: QueueOptions, opening: &str, claims: usize) -> (i64, i64) {
    let url = common::fresh_pg_url().await;
    let keel = Keel::connect_with(
        &url,
        ConnectOptions {
            max_connections: 1,
            ..ConnectOptions::default()
        },
    )
    .await
    .unwrap();
    let q = Queue::open(&keel, options).unwrap();
    let items: Vec<NewItem> = (0..5_000_i64)
        .map(|i| NewItem {
            org_id: ORG.into(),
            source_agent: "deal-risk".into(),
            item_type: "deal_risk".into(),
            title: format!("item {i}"),
            context: json!({}).as_object().unwrap().clone(),
            queue_priority: Some(i % 4),
            ..NewItem::default()
        })
        .collect();
    q.enqueue(&items).await.unwrap();
    let Pool::Postgres(pg) = keel.pool().unwrap() else {
        panic!("expected postgres")
    };
    // The statistics of a backlog, as autovacuum would leave them.
    sqlx::query("ANALYZE keel.command_centre_items")
        .execute(pg)
        .await
        .unwrap();
    for _ in 0..claims {
        let claimed = q.claim("w", 100, None).await.unwrap();
        assert_eq!(claimed.len(), 100);
        let leases: Vec<_> = claimed.iter().map(|i| (i.id, i.lease_token)).collect();
        assert_eq!(q.complete_all(&leases).await.unwrap().len(), 100);
    }
    let plans: (i64, i64) = sqlx::query_as(
        "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE $1",
    )
    .bind(format!("{opening}%"))
    .fetch_one(pg)
    .await
    .unwrap();
    keel.close().await;
    plans
}

#[tokio::test]
async fn a_claim_is_planned_once_not_at_every_call() {
    let (generic, custom) = plans_of(QueueOptions::default(), "WITH peek", 12).await;
    assert!(
        custom <= 5 && generic >= 7,
        "generic {generic}, custom {custom}"
    );
}

#[tokio::test]
async fn a_capped_claim_is_planned_once_not_at_every_call() {
    let options = QueueOptions {
        org_in_flight: Some(100),
        max_in_flight: Some(100),
        ..QueueOptions::default()
    };
    let (generic, custom) = plans_of(options, "WITH in_flight", 12).await;
    assert!(
        custom <= 5 && generic >= 7,
        "generic {generic}, custom {custom}"
    );
}
