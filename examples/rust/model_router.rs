//! Model router: resolve a model for a feature, report the call, charge its credits. The same
//! scenario runs in examples/python/model_router.py and examples/node/model_router.mjs.
//!
//!     cargo run -p keel --example model_router
//!     KEEL_DATABASE_URL=postgres://… cargo run -p keel --example model_router

use keel::models::{Charge, FailureKind, Feature, ModelRequest, ModelRouter, Tier, Usage};

#[tokio::main]
async fn main() -> keel::Result<()> {
    let url = std::env::var("KEEL_DATABASE_URL").unwrap_or_else(|_| "sqlite::memory:".to_owned());
    let org = uuid::Uuid::new_v4();
    // --8<-- [start:model_router]
    let db = keel::Keel::connect(&url).await?;
    let router = ModelRouter::open(&db, Default::default()).await?; // seeds the default matrix
    router
        .set_org_tier(org, Feature::Copilot, Tier::Low)
        .await?;
    let pick = router
        .resolve(&ModelRequest {
            feature: Some(Feature::Copilot),
            org_id: Some(org),
            ..Default::default()
        })
        .await?;
    println!(
        "copilot for this org: {}/{} ({} tier)",
        pick.provider,
        pick.model_id,
        pick.tier.as_str()
    );
    // When its conversations must be compacted: the window from the matrix, the dated id matched.
    let limit = router.compaction_threshold(&pick.model_id, &Default::default())?;
    println!(
        "compact {} conversations above {} tokens",
        limit.canonical_id, limit.threshold
    );

    // A 400 is the caller's fault: the breaker does not count it.
    let t = router
        .record_failure(
            &pick.provider,
            &pick.model_id,
            FailureKind::from_status(Some(400)),
        )
        .await;
    println!("a 400 changes the breaker: {}", t.as_str());

    router.grant_credits(org, 10.0, "purchase", None).await?;
    let cost = router.call_cost(&pick, Some(Usage::new(2_000.0, 500.0)?));
    let charged = router
        .deduct(&Charge {
            org_id: org,
            amount: cost,
            idempotency_key: Some("call-1".into()),
            ..Default::default()
        })
        .await?;
    println!("balance after the call: {:.4}", charged.balance_after);
    db.close().await;
    // --8<-- [end:model_router]
    Ok(())
}
