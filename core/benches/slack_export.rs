//! The benchmarks' Slack export: 1,000 messages of one thread as `conversations.replies`
//! returns them.

use serde_json::{Value, json};

/// The export: every third message has only blocks, every tenth a file, odd ones are the bot's.
pub fn export() -> Value {
    let messages: Vec<Value> = (0..1_000)
        .map(|i| {
            let ts = format!("{}.000100", 1_712_345_678 + i);
            let user = if i % 2 == 1 { "UBOT" } else { "U1" };
            let mut m = json!({"type": "message", "user": user, "ts": ts,
                "thread_ts": "1712345678.000100",
                "text": format!("Acme renewal: Dana asked about pricing tier {i} and the legal review")});
            if i % 3 == 0 {
                m["text"] = json!("");
                m["blocks"] = json!([{"type": "rich_text", "elements": [{"type": "rich_text_section",
                    "elements": [{"type": "text", "text": "Ask "}, {"type": "user", "user_id": "U2"},
                                 {"type": "text", "text": format!(" about step {i}")}]}]}]);
            }
            if i % 10 == 0 {
                m["files"] = json!([{"name": format!("deck-{i}.pdf")}]);
                m["edited"] = json!({"user": user, "ts": ts});
            }
            m
        })
        .collect();
    json!({"ok": true, "messages": messages, "has_more": false})
}
