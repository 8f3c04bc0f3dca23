//! The demo's routing step: web and Slack messages routed for an org (a greeting, a question
//! that starts like one, a sequence, an out-of-scope message, a cache hit), the routing log,
//! and the labelled set's figures.

use std::time::{Duration, SystemTime};

use keel::routing::{MessageRouter, RouteRequest, RouterOptions, evaluate, read_labelled};
use keel::skills::{RegistryOptions, SkillRegistry};

use crate::output::say;

/// The messages routed, by channel.
const MESSAGES: [(&str, &str); 8] = [
    ("web", "What's the status of the Globex deal?"),
    ("web", "How do I prep for my Initech meeting?"),
    ("web", "do a full meeting prep for Initech"),
    ("web", "thanks!"),
    ("web", "what's the weather in Paris?"),
    ("slack", "what's blocking the Hooli renewal?"),
    ("slack", "how do we win against Rivalsoft?"),
    ("web", "  WHAT'S THE STATUS OF THE GLOBEX DEAL? "),
];

/// Runs step [8].
pub async fn run(keel: &keel::Keel, repo: impl Fn(&str) -> std::path::PathBuf) -> keel::Result<()> {
    let registry = SkillRegistry::open(keel, RegistryOptions::default()).await?;
    let router = MessageRouter::open(&registry, RouterOptions::default())?;
    let org = uuid::Uuid::from_u128(0x005e_a1e5_0000_4000_8000_0000_0000_0003);
    say!("[8] routing   {} messages for org {org}:", MESSAGES.len());
    for (channel, message) in MESSAGES {
        let mut request = RouteRequest::new(message, channel, org)?;
        request.user = Some("rep-7".into());
        let routed = router.route(&request).await?;
        let what = if routed.cached {
            "cache hit".to_owned()
        } else if routed.out_of_scope {
            "out of scope".to_owned()
        } else {
            format!("{:?} stage", routed.stage).to_lowercase()
        };
        let entities = serde_json::to_string(&routed.entities).unwrap_or_default();
        say!(
            "              {channel:<6} {:<38} -> {:<22} {:.2} {what}{}",
            format!("{:?}", message.trim()),
            routed.route,
            routed.confidence,
            if routed.entities.is_empty() {
                String::new()
            } else {
                format!(" {entities}")
            }
        );
    }
    router.flush().await;
    let rows = router
        .log(org, SystemTime::now() - Duration::from_secs(3600), 100)
        .await?;
    say!(
        "              {} decisions in routing_logs, {} of them cache hits",
        rows.len(),
        rows.iter().filter(|r| r.cached).count()
    );
    let text = std::fs::read_to_string(repo("testdata/routing/test.jsonl"))
        .map_err(|e| keel::Error::invalid_input("testdata/routing/test.jsonl", e.to_string()))?;
    let quiet = MessageRouter::open(
        &registry,
        RouterOptions {
            log: false,
            ..RouterOptions::default()
        },
    )?;
    let e = evaluate(&quiet, org, &read_labelled(&text)?, false).await?;
    say!(
        "              held-out set: {:.1} % top-1 on {} messages, out-of-scope false accepts {:.1} %, p50 {:.3} ms",
        e.accuracy * 100.0,
        e.total,
        e.out_of_scope_false_accepts * 100.0,
        e.p50_us / 1000.0
    );
    Ok(())
}
