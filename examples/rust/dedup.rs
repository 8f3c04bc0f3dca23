//! Deduplication: three agents report the same risk on one deal (one primary, two merged, the
//! third agent escalates it once), a fourth phrases it differently under another action (a
//! near-duplicate by MinHash), another org's identical item stays its own; the post-scoring
//! merge and the counters; then the general-purpose MinHash index. The same scenario runs in
//! examples/python/dedup.py and examples/node/dedup.mjs.
//!
//!     cargo run -p keelcore --example dedup

use keel::dedup::{Dedup, DedupOptions, MinHashLsh, MinHasher};
use keel::flow::{NewItem, Queue};
use serde_json::{Value, json};

const ORG: &str = "00000000-0000-4000-8000-0000000000a1";
const OTHER_ORG: &str = "00000000-0000-4000-8000-0000000000b2";
const DEAL: &str = "00000000-0000-4000-8000-00000000de01";
const RISK: &str = "Acme renewal at risk: the champion stopped replying after the pricing call and procurement asked for a discount";

fn report(org: &str, agent: &str, title: &str, context: Value) -> NewItem {
    NewItem {
        org_id: org.into(),
        source_agent: agent.into(),
        item_type: "deal_risk".into(),
        title: title.into(),
        deal_id: Some(DEAL.into()),
        context: context.as_object().cloned().unwrap_or_default(),
        ..NewItem::default()
    }
}

#[tokio::main]
async fn main() -> keel::Result<()> {
    let url = std::env::var("KEEL_DATABASE_URL").unwrap_or_else(|_| "sqlite::memory:".into());
    let db = keel::Keel::connect(&url).await?;
    let dedup = Dedup::open(&db, DedupOptions::default())?;
    let queue = Queue::open(&db, Default::default())?;
    let checked = dedup
        .enqueue(
            &queue,
            &[
                report(ORG, "deal-risk-scan", RISK, json!({"action_type": "call", "confidence": 0.6, "evidence": ["no reply in 9 days"]})),
                report(ORG, "email-signals", RISK, json!({"action_type": "call", "confidence": 0.5, "evidence": ["pricing thread unanswered"]})),
                report(ORG, "meeting-intel", RISK, json!({"action_type": "call", "confidence": 0.7})),
                report(ORG, "crm-hygiene", &format!("{RISK} this quarter"), json!({"action_type": "email", "confidence": 0.4})),
                report(OTHER_ORG, "deal-risk-scan", RISK, json!({"action_type": "call"})),
            ],
        )
        .await?;
    for c in &checked {
        let verdict = serde_json::to_value(c.verdict).unwrap_or_default();
        let near = c
            .jaccard
            .map(|j| format!(" (jaccard {j:.2})"))
            .unwrap_or_default();
        let up = if c.escalated { " escalated" } else { "" };
        println!("{}{near}{up}", verdict.as_str().unwrap_or_default());
    }
    let group = dedup
        .group(checked[0].id)
        .await?
        .expect("the primary's group");
    let agents: Vec<String> = group
        .contributing_agents
        .iter()
        .map(|a| format!("'{a}'"))
        .collect();
    println!(
        "group: agents [{}], lane {}, {} absorbed, merged confidence {}",
        agents.join(", "),
        group.queue_priority,
        group.merged_from.len(),
        group.merged_confidence.unwrap_or_default()
    );
    let scored = dedup.score(checked[0].id, 0.8).await?;
    println!(
        "scored 0.8: group confidence {}",
        scored.merged_confidence.unwrap_or_default()
    );
    let counts = dedup.counts(ORG).await?;
    println!(
        "counters: {} suppressed, {} near-merged, {} escalated",
        counts["suppressed"], counts["near_merged"], counts["escalated"]
    );

    let hasher = MinHasher::default();
    let mut index = MinHashLsh::new(0.8, 128)?; // bands and rows follow the threshold
    index.insert(
        "ticket-1",
        hasher.signature("Login page returns a 500 error after the password reset")?,
    )?;
    index.insert(
        "ticket-2",
        hasher.signature("Invoice PDF shows the wrong currency for EU customers")?,
    )?;
    let found = index
        .query(&hasher.signature("login page returns a 500 error after the password reset!")?)?;
    let shown: Vec<String> = found
        .iter()
        .map(|f| format!("{{'key': '{}', 'jaccard': {:.1}}}", f.key, f.jaccard))
        .collect();
    println!("[{}]", shown.join(", "));
    db.close().await;
    Ok(())
}
