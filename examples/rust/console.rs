//! The operator console from code: the reads `keel serve` answers (the queue's backlog per
//! lane over the last hour, the dead letters), an action refused on a read-only console, then
//! run on one that allows actions and found in the log with its actor. The same scenario runs
//! in examples/python/console.py and examples/node/console.mjs.
//!
//!     cargo run -p keelcore --example console
//!     KEEL_DATABASE_URL=postgres://… cargo run -p keelcore --example console

use keel::console::{CONSOLE_ACTIONS, CONSOLE_READS, Console, ConsoleOptions};
use keel::flow::{NewItem, Queue};
use keel::options::{Calls, Case};
use keel::runner::DeadLetters;
use serde_json::{Value, json};

const ORG: &str = "00000000-0000-4000-8000-0000000000a1";

#[tokio::main]
async fn main() -> keel::Result<()> {
    let url = std::env::var("KEEL_DATABASE_URL").unwrap_or_else(|_| "sqlite::memory:".into());
    // --8<-- [start:console]
    let db = keel::Keel::connect(&url).await?;
    let items: Vec<NewItem> = (0..6)
        .map(|i| NewItem {
            org_id: ORG.into(),
            source_agent: "deal-risk".into(),
            item_type: "deal_risk".into(),
            title: format!("item {i}"),
            queue_priority: Some(i % 3),
            ..NewItem::default()
        })
        .collect();
    Queue::open(&db, Default::default())?
        .enqueue(&items)
        .await?;
    let letters = DeadLetters::open(&db);
    let letter = letters
        .enqueue_value(
            Some(json!({"agent_name": "crm-sync", "org_id": ORG, "errors": [{"message": "HTTP 401"}]})),
            Case::Snake,
            "",
        )
        .await?;
    letters.abandon(letter.id, "the token was revoked").await?;
    let id = letter.id.to_string();
    println!(
        "{} reads, {} actions",
        CONSOLE_READS.len(),
        CONSOLE_ACTIONS.len()
    );

    let console = Console::open(&db, ConsoleOptions::default()).await?;
    let call = |op: &'static str, args: Value| console.call_value(op, Some(args), Case::Snake);
    let history = call("queue_history", json!({"hours": 1, "points": 5})).await?;
    let now: Vec<String> = history["lanes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|lane| lane["backlog"][4].to_string())
        .collect();
    println!("backlog per lane now: [{}]", now.join(", "));
    let abandoned = call("letters", json!({"status": ["abandoned"]})).await?;
    println!(
        "abandoned letters: {}",
        abandoned.as_array().map_or(0, Vec::len)
    );
    let refused = call("redrive_letter", json!({"id": id, "actor": "ann"})).await;
    if let Err(err) = refused {
        println!(
            "read-only: {} on {}",
            err.code(),
            err.field().unwrap_or("-")
        );
    }

    let console = Console::open(
        &db,
        ConsoleOptions {
            allow_actions: true,
        },
    )
    .await?;
    let args = json!({"id": id, "actor": "ann"});
    let redriven = console
        .call_value("redrive_letter", Some(args), Case::Snake)
        .await?;
    println!("redriven: {}", redriven["status"].as_str().unwrap_or("-"));
    let search = json!({"text": "console.action"});
    let logged = console
        .call_value("logs", Some(search), Case::Snake)
        .await?;
    let action = &logged["events"][0]["metadata"];
    println!(
        "logged: {} by {}",
        action["operation"].as_str().unwrap_or("-"),
        action["actor"].as_str().unwrap_or("-")
    );
    db.close().await;
    // --8<-- [end:console]
    Ok(())
}
