//! The plain text of Block Kit blocks, for a message whose `text` is empty: rich text
//! (sections, lists, quotes, preformatted), section and header text, context elements.
//! Mentions read as Slack writes them in `text` (`<@U123>`, `<#C123>`, `<!here>`).

use serde_json::Value;

/// The text of `blocks`, blocks and list items on their own lines; `None` when it would pass
/// `max_chars` (the walk stops there, so a huge payload costs no more than the limit).
pub fn blocks_text(blocks: &Value, max_chars: usize) -> Option<String> {
    let mut out = Text {
        text: String::new(),
        max_chars,
    };
    out.walk(blocks, 0)?;
    Some(out.text.trim().to_owned())
}

struct Text {
    text: String,
    max_chars: usize,
}

/// How deep blocks may nest before the rest is ignored (Slack's own nest a few levels).
const MAX_DEPTH: usize = 16;

impl Text {
    fn push(&mut self, s: &str) -> Option<()> {
        self.text.push_str(s);
        (self.text.len() <= self.max_chars).then_some(())
    }

    fn line(&mut self) -> Option<()> {
        if !self.text.is_empty() && !self.text.ends_with('\n') {
            self.push("\n")?;
        }
        Some(())
    }

    fn walk(&mut self, value: &Value, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return Some(());
        }
        match value {
            Value::Array(items) => {
                for item in items {
                    self.walk(item, depth + 1)?;
                }
                Some(())
            }
            Value::Object(block) => {
                let kind = block.get("type").and_then(Value::as_str).unwrap_or("");
                match kind {
                    "text" => self.push(str_of(block.get("text"))),
                    "link" => {
                        let url = str_of(block.get("url"));
                        match block.get("text").and_then(Value::as_str) {
                            Some(label) if !label.is_empty() => {
                                self.push(&format!("{label} ({url})"))
                            }
                            _ => self.push(url),
                        }
                    }
                    "user" => self.push(&format!("<@{}>", str_of(block.get("user_id")))),
                    "channel" => self.push(&format!("<#{}>", str_of(block.get("channel_id")))),
                    "usergroup" => {
                        self.push(&format!("<!subteam^{}>", str_of(block.get("usergroup_id"))))
                    }
                    "broadcast" => self.push(&format!("<!{}>", str_of(block.get("range")))),
                    "emoji" => self.push(&format!(":{}:", str_of(block.get("name")))),
                    "plain_text" | "mrkdwn" => {
                        self.line()?;
                        self.push(str_of(block.get("text")))
                    }
                    "rich_text_list"
                    | "rich_text_section"
                    | "rich_text_preformatted"
                    | "rich_text_quote" => {
                        self.line()?;
                        self.walk(block.get("elements").unwrap_or(&Value::Null), depth + 1)
                    }
                    _ => {
                        // rich_text, section, header, context and the like: their text, fields
                        // and elements, each on its own line.
                        for key in ["text", "fields", "elements"] {
                            if let Some(inner) = block.get(key) {
                                self.line()?;
                                self.walk(inner, depth + 1)?;
                            }
                        }
                        Some(())
                    }
                }
            }
            _ => Some(()),
        }
    }
}

fn str_of(value: Option<&Value>) -> &str {
    value.and_then(Value::as_str).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rich_text_reads_as_slack_writes_it() {
        let blocks = json!([{
            "type": "rich_text",
            "elements": [
                {"type": "rich_text_section", "elements": [
                    {"type": "text", "text": "Ask "},
                    {"type": "user", "user_id": "U1"},
                    {"type": "text", "text": " about "},
                    {"type": "link", "url": "https://acme.test/deal", "text": "the Acme deal"},
                    {"type": "emoji", "name": "fire"}
                ]},
                {"type": "rich_text_list", "elements": [
                    {"type": "rich_text_section", "elements": [{"type": "text", "text": "pricing"}]},
                    {"type": "rich_text_section", "elements": [{"type": "text", "text": "legal"}]}
                ]}
            ]
        }, {"type": "section", "text": {"type": "mrkdwn", "text": "*Next step*: call Dana"}}]);
        assert_eq!(
            blocks_text(&blocks, 1_000).unwrap(),
            "Ask <@U1> about the Acme deal (https://acme.test/deal):fire:\npricing\nlegal\n*Next step*: call Dana"
        );
        assert_eq!(blocks_text(&blocks, 10), None, "past the limit");
        assert_eq!(blocks_text(&json!("not blocks"), 10).unwrap(), "");
    }
}
