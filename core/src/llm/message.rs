//! The neutral message shape every provider's wire format is mapped to and from: system text,
//! user and assistant turns, tool calls and their results, images by URL or base64.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// Who speaks a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Instructions; folded into the request's system text.
    System,
    /// The person (or agent) asking.
    User,
    /// The model.
    Assistant,
    /// Results of tool calls, sent back to the model.
    Tool,
}

impl Role {
    /// The name as the API and the conversation store spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }

    /// The role named `name`.
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] on `role` for any other name.
    pub fn parse(name: &str) -> crate::Result<Self> {
        [Role::System, Role::User, Role::Assistant, Role::Tool]
            .into_iter()
            .find(|r| r.as_str() == name)
            .ok_or_else(|| {
                crate::Error::invalid_input(
                    "role",
                    format!("{name:?} is not system, user, assistant or tool"),
                )
            })
    }
}

/// One piece of a turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Part {
    /// Text.
    Text {
        /// The text.
        text: String,
    },
    /// An image, by `url` or as base64 `data` with its `media_type`.
    Image {
        /// Where the provider fetches it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
        /// The bytes, base64.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data: Option<String>,
        /// `image/png`, `image/jpeg`, … (required with `data`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        media_type: Option<String>,
    },
    /// The model asks for a tool to run.
    ToolCall {
        /// The provider's id for the call (made up for Gemini, which has none).
        id: String,
        /// The tool.
        name: String,
        /// Its arguments, a JSON object.
        arguments: Value,
    },
    /// What a tool returned.
    ToolResult {
        /// The [`Part::ToolCall`] id it answers.
        call_id: String,
        /// The tool's name (Gemini needs it; the others ignore it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// The result as text (JSON text for structured results).
        content: String,
        /// True when the tool failed.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        is_error: bool,
    },
}

impl Part {
    /// A text part.
    pub fn text(text: impl Into<String>) -> Self {
        Part::Text { text: text.into() }
    }
}

/// One turn of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    /// Who speaks.
    pub role: Role,
    /// What is said: text, or a list of parts.
    #[serde(deserialize_with = "content")]
    pub content: Vec<Part>,
}

impl Message {
    /// A user turn of text.
    pub fn user(text: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: vec![Part::text(text)],
        }
    }

    /// An assistant turn of text.
    pub fn assistant(text: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            content: vec![Part::text(text)],
        }
    }

    /// The text parts, joined.
    pub fn text(&self) -> String {
        join_text(&self.content)
    }
}

/// The text parts of `parts`, joined without separator.
pub fn join_text(parts: &[Part]) -> String {
    parts
        .iter()
        .filter_map(|p| match p {
            Part::Text { text } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

/// Content written as a plain string is one text part.
fn content<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Part>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Content {
        Text(String),
        Parts(Vec<Part>),
    }
    Ok(match Content::deserialize(d)? {
        Content::Text(text) => vec![Part::Text { text }],
        Content::Parts(parts) => parts,
    })
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    /// Its name.
    pub name: String,
    /// What it does, for the model.
    #[serde(default)]
    pub description: String,
    /// Its arguments, a JSON Schema object.
    #[serde(default = "empty_schema")]
    pub parameters: Value,
}

fn empty_schema() -> Value {
    serde_json::json!({"type": "object", "properties": {}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_text_or_parts() {
        let m: Message = serde_json::from_value(serde_json::json!({
            "role": "user", "content": "hi"
        }))
        .unwrap();
        assert_eq!(m.content, vec![Part::text("hi")]);
        let m: Message = serde_json::from_value(serde_json::json!({
            "role": "assistant",
            "content": [
                {"type": "text", "text": "a"},
                {"type": "tool_call", "id": "c1", "name": "f", "arguments": {"x": 1}}
            ]
        }))
        .unwrap();
        assert_eq!(m.text(), "a");
        assert!(matches!(&m.content[1], Part::ToolCall { name, .. } if name == "f"));
    }

    #[test]
    fn unknown_part_types_and_keys_are_refused() {
        for bad in [
            serde_json::json!({"role": "user", "content": [{"type": "audio"}]}),
            serde_json::json!({"role": "user", "content": "x", "extra": 1}),
            serde_json::json!({"role": "narrator", "content": "x"}),
        ] {
            assert!(serde_json::from_value::<Message>(bad).is_err());
        }
    }
}
