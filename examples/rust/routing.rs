//! Routing: sync the library, then route web and Slack messages for an org: a skill, a
//! greeting, something out of scope, and the first question again from the cache, awaited and
//! without waiting. The same scenario runs in examples/python/routing.py and
//! examples/node/routing.mjs.
//!
//!     cargo run -p keelcore --example routing
//!     KEEL_DATABASE_URL=postgres://… cargo run -p keelcore --example routing

use std::time::{Duration, SystemTime};

use keel::routing::{MessageRouter, RouteRequest, RouterOptions};
use keel::skills::{SkillRegistry, SyncOptions};

const MESSAGES: [(&str, &str); 5] = [
    ("web", "What's the status of the Globex deal?"),
    ("slack", "how do we win against Rivalsoft?"),
    ("web", "thanks!"),
    ("web", "what's the weather in Paris?"),
    ("web", "what's the STATUS of the globex deal?"),
];

/// Python's `repr` of a string: single quotes unless it holds one.
fn quoted(text: &str) -> String {
    if text.contains('\'') {
        format!("\"{text}\"")
    } else {
        format!("'{text}'")
    }
}

#[tokio::main]
async fn main() -> keel::Result<()> {
    let url = std::env::var("KEEL_DATABASE_URL").unwrap_or_else(|_| "sqlite::memory:".to_owned());
    let org = uuid::Uuid::new_v4();
    // --8<-- [start:routing]
    let db = keel::Keel::connect(&url).await?;
    let skills = SkillRegistry::open(&db, Default::default()).await?;
    skills
        .sync("skills".as_ref(), SyncOptions::default(), |_, _, _| {})
        .await?;
    let router = MessageRouter::open(&skills, RouterOptions::default())?;
    for (channel, message) in MESSAGES {
        let mut request = RouteRequest::new(message, channel, org)?;
        request.user = Some("rep-7".into());
        let d = router.route(&request).await?;
        let how = if d.cached {
            "cache".to_owned()
        } else if d.out_of_scope {
            "out of scope".to_owned()
        } else {
            d.stage.as_str().to_owned()
        };
        println!(
            "{channel:<5} {:<42} -> {} ({:.2}, {how})",
            quoted(message),
            d.route,
            d.confidence
        );
    }
    // On a hot path, `try_route` answers without waiting when nothing needs waiting for.
    let again = RouteRequest::new("What's the status of the Globex deal?", "web", org)?;
    if let Some(d) = router.try_route(&again).transpose()? {
        println!("without waiting: {} (cached: {})", d.route, d.cached);
    }
    router.flush().await; // decisions are logged off the response path
    let rows = router
        .log(org, SystemTime::now() - Duration::from_secs(3600), 100)
        .await?;
    println!(
        "routing_logs: {} decisions, {} from the cache",
        rows.len(),
        rows.iter().filter(|r| r.cached).count()
    );
    db.close().await;
    // --8<-- [end:routing]
    Ok(())
}
