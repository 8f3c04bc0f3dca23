//! Skills: sync the library, give an org its context and one override, and see what Slack
//! serves it. The same scenario runs in examples/python/skills.py and examples/node/skills.mjs.
//!
//!     cargo run -p keel --example skills
//!     KEEL_DATABASE_URL=postgres://… cargo run -p keel --example skills

use keel::skills::{Channel, SkillRegistry, SyncAction, SyncOptions};

#[tokio::main]
async fn main() -> keel::Result<()> {
    let url = std::env::var("KEEL_DATABASE_URL").unwrap_or_else(|_| "sqlite::memory:".to_owned());
    let org = uuid::Uuid::new_v4();
    // --8<-- [start:skills]
    let db = keel::Keel::connect(&url).await?;
    let skills = SkillRegistry::open(&db, Default::default()).await?;
    let report = skills
        .sync("skills".as_ref(), SyncOptions::default(), |_, _, _| {})
        .await?; // idempotent: unchanged files change nothing
    println!(
        "synced {} skills ({} new)",
        report.items.len(),
        report.count(SyncAction::Created)
    );

    skills
        .set_org_context(org, serde_json::json!({"company_name": "Acme"}))
        .await?;
    skills
        .set_enabled(org, "slack-general-query", false)
        .await?;
    let slack = skills.resolve_skills(org, Channel::Slack).await?; // cached per (org, channel)
    println!(
        "slack sees {} skills; shadowed: {}",
        slack.len(),
        slack
            .shadowed
            .iter()
            .map(|s| format!("{} ({})", s.key, s.reason.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(deal) = slack.get("slack-deal-query") {
        let request = serde_json::json!({"deal": {"name": "Renewal", "stage": "Proposal",
            "amount": 120000, "close_date": "2026-12-15"}, "user_name": "sam"});
        let text = deal.render(&request)?; // fills ${deal.…} for this request
        println!(
            "slack-deal-query v{}: {} chars",
            deal.version.unwrap_or(0),
            text.len()
        );
    }
    db.close().await;
    // --8<-- [end:skills]

    // The platform's corpus as it is (atomic/ and sequences/ folders), file by file.
    let corpus = keel::skills::import_report("testdata/skill-corpus".as_ref(), |_, _| {})?;
    println!(
        "platform corpus: {} load, {} warned, {} refused",
        corpus.loads, corpus.warned, corpus.refused
    );
    Ok(())
}
