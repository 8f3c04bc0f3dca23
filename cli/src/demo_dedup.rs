//! The demo's dedup step: three agents report the same risk on one deal (one primary, two
//! merged, the third agent escalates it one lane), a fourth phrases it differently under
//! another action (a near-duplicate by MinHash), another org's identical item stays its own,
//! the post-scoring merge recomputes the group's confidence, and the counters.

use keel::dedup::{Dedup, DedupOptions};
use keel::flow::{NewItem, Queue, QueueOptions};
use serde_json::{Value, json};

use crate::output::say;

const ORG: &str = "00000000-0000-4000-8000-0000000000a1";
const OTHER_ORG: &str = "00000000-0000-4000-8000-0000000000b2";
const DEAL: &str = "00000000-0000-4000-8000-00000000de01";
const RISK: &str = "Acme Logistics renewal at risk: the champion stopped replying after the \
                    pricing call and procurement asked for a 12 percent discount";

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

/// Runs step [13].
pub async fn run(keel: &keel::Keel) -> keel::Result<()> {
    let queue = Queue::open(keel, QueueOptions::default())?;
    let dedup = Dedup::open(keel, DedupOptions::default())?;
    let call = |c: f64, e: &str| json!({"action_type": "call", "confidence": c, "evidence": [e]});
    let checked = dedup
        .enqueue(
            &queue,
            &[
                report(ORG, "deal-risk-scan", RISK, call(0.6, "no reply in 9 days")),
                report(
                    ORG,
                    "email-signals",
                    RISK,
                    call(0.5, "pricing thread unanswered"),
                ),
                report(
                    ORG,
                    "meeting-intel",
                    RISK,
                    call(0.7, "discount asked on the call"),
                ),
                report(
                    ORG,
                    "crm-hygiene",
                    &format!("{RISK} this quarter"),
                    json!({"action_type": "email", "confidence": 0.4}),
                ),
                report(
                    OTHER_ORG,
                    "deal-risk-scan",
                    RISK,
                    call(0.6, "no reply in 9 days"),
                ),
            ],
        )
        .await?;
    let verdicts: Vec<String> = checked
        .iter()
        .map(|c| {
            let v = serde_json::to_value(c.verdict).unwrap_or_default();
            let name = v.as_str().unwrap_or_default().to_owned();
            match (c.jaccard, c.escalated) {
                (Some(j), _) => format!("{name} (jaccard {j:.2})"),
                (None, true) => format!("{name} (escalated)"),
                _ => name,
            }
        })
        .collect();
    say!(
        "[13] dedup    five reports of one risk: {}",
        verdicts.join(", ")
    );
    let primary = checked[0].id;
    if let Some(group) = dedup.group(primary).await? {
        say!(
            "              group: {} agents, {} evidence entries, lane 2 -> {}, merged confidence {:.4}",
            group.contributing_agents.len(),
            group.merged_evidence.len(),
            group.queue_priority,
            group.merged_confidence.unwrap_or_default()
        );
    }
    let scored = dedup.score(primary, 0.8).await?;
    say!(
        "              the primary scored 0.80: group confidence from members above 0.6 = {:.4}",
        scored.merged_confidence.unwrap_or_default()
    );
    let counts = dedup.counts(ORG).await?;
    let line: Vec<String> = [
        "primaries",
        "suppressed",
        "merged",
        "near_merged",
        "escalated",
    ]
    .iter()
    .map(|k| format!("{k} {}", counts.get(*k).copied().unwrap_or(0)))
    .collect();
    say!("              counters for the org: {}", line.join(", "));
    Ok(())
}
