//! The demo's console step: the day as `keel serve` shows it, read through the console's own
//! calls (the routing decisions by stage, the dead letters, the breakers, a page of logs).

use keel::console::{Console, ConsoleOptions};
use keel::options::{Calls, Case};
use serde_json::{Value, json};

use crate::output::say;

/// Prints what the console's views hold after the day.
pub async fn run(keel: &keel::Keel) -> keel::Result<()> {
    let console = Console::open(keel, ConsoleOptions::default()).await?;
    let call = |op: &'static str, args: Value| {
        let console = console.clone();
        async move { console.call_value(op, Some(args), Case::Snake).await }
    };
    let stats = call("routing_stats", json!({})).await?;
    let shares: Vec<String> = stats["stages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            format!(
                "{} {:.0} %",
                s["stage"].as_str().unwrap_or_default(),
                s["share"].as_f64().unwrap_or(0.0) * 100.0
            )
        })
        .collect();
    let letters = call("letters", json!({})).await?;
    let mut by_status = std::collections::BTreeMap::<String, usize>::new();
    for letter in letters.as_array().into_iter().flatten() {
        *by_status
            .entry(letter["status"].as_str().unwrap_or_default().to_owned())
            .or_default() += 1;
    }
    let letters: Vec<String> = by_status.iter().map(|(s, n)| format!("{n} {s}")).collect();
    let breakers = call("breakers", json!({})).await?;
    let errors = call("logs", json!({ "level": "error", "limit": 500 })).await?;
    say!(
        "[18] console  `keel serve` on this database shows the day: {} routing decisions ({}), dead letters {}, {} breaker(s) open, {} error events",
        stats["decisions"],
        shares.join(", "),
        letters.join(", "),
        breakers.as_array().map_or(0, Vec::len),
        errors["events"].as_array().map_or(0, Vec::len),
    );
    Ok(())
}
