//! Slack: a thread read page by page and ingested into messages (the bot's as the
//! assistant's); Events API payloads with an edit, a deletion and an event that is not a
//! message; a reply posted into the thread; a user looked up; a bad timestamp refused before any
//! request. The same scenario runs in examples/python/slack.py and examples/node/slack.mjs.
//!
//!     KEEL_LLM_BASE_URL=http://127.0.0.1:PORT cargo run -p keelcore --example slack  # `keel loopback`
//!     SLACK_BOT_TOKEN=xoxb-… SLACK_CHANNEL=C… SLACK_THREAD_TS=… cargo run -p keelcore --example slack

use keel::channels::slack::{SlackClient, SlackOptions, ingest};
use serde_json::{Value, json};

/// An Events API payload carrying one message event.
fn event(fields: Value) -> Value {
    let mut event = json!({"type": "message", "channel": "C0123"});
    if let (Some(out), Some(fields)) = (event.as_object_mut(), fields.as_object()) {
        out.extend(fields.clone());
    }
    json!({"type": "event_callback", "event": event})
}

#[tokio::main]
async fn main() -> keel::Result<()> {
    let env =
        |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
    let url = env("KEEL_DATABASE_URL", "sqlite::memory:");
    // A local server (`keel loopback`) when set; else Slack itself, with your bot's token.
    let base = std::env::var("KEEL_LLM_BASE_URL").ok();
    let channel = env("SLACK_CHANNEL", "C0123");
    let thread_ts = env("SLACK_THREAD_TS", "1712345678.000100");
    // --8<-- [start:slack]
    let db = keel::Keel::connect(&url).await?;
    let mut options = SlackOptions {
        token: env("SLACK_BOT_TOKEN", "xoxb-example"),
        workspace: "T0123".into(),
        ..SlackOptions::default()
    };
    if let Some(base) = &base {
        options.base_url = format!("{base}/api");
    }
    let slack = SlackClient::open(&db, options)?;

    let thread = slack.replies(&channel, &thread_ts, |_| {}).await?; // every page
    let got = ingest(&Value::Array(thread.clone()), Some("UBOT"))?;
    println!(
        "thread: {} read, {} messages, {} skipped",
        thread.len(),
        got.messages.len(),
        got.skipped.len()
    );
    for m in got.messages.iter().take(2) {
        println!("  {}: {}", m.role.as_str(), m.text);
    }

    let events = ingest(
        &json!([
            event(json!({"user": "U1", "text": "Acme wants five more seats", "ts": "1712346000.000100"})),
            event(json!({"user": "U2", "text": "", "ts": "1712346001.000100", "files": [{"name": "dpa.pdf"}]})),
            event(json!({"subtype": "message_changed", "message": {"user": "U1", "text": "Acme wants six more seats", "ts": "1712346000.000100"}})),
            event(json!({"subtype": "message_deleted", "deleted_ts": "1712346001.000100"})),
            {"type": "event_callback", "event": {"type": "reaction_added", "reaction": "eyes"}},
        ]),
        None,
    )?;
    let texts: Vec<&str> = events.messages.iter().map(|m| m.text.as_str()).collect();
    println!(
        "events: {} ({} edit, {} deleted)",
        texts.join("; "),
        events.edits,
        events.deleted.len()
    );
    for skipped in &events.skipped {
        println!("  skipped #{}: {}", skipped.index, skipped.reason);
    }

    let posted = slack
        .post_message(
            &channel,
            "Acme: legal review by Friday.",
            Some(&thread_ts),
            None,
        )
        .await?;
    println!("posted into the thread in {}", posted.channel);
    let user = slack.user("U1").await?;
    println!("U1 is {}", user.display_name);
    if let Err(err) = slack.update(&channel, "yesterday", "edited", None).await {
        println!(
            "refused before any request: {} ({})",
            err.code(),
            err.field().unwrap_or_default()
        );
    }
    // --8<-- [end:slack]
    db.close().await;
    Ok(())
}
