//! Text deltas, the events most of a stream is made of, read straight into the few fields they
//! carry.
//!
//! A Chat Completions chunk holding text (or only a role) and an Anthropic `text_delta` are
//! read into borrowed fields: no JSON tree is built and dropped per event (building one was
//! four fifths of the parser's time). Anything else (a tool call, usage, a finish reason, a
//! refusal, an error, a field of an unexpected type, a repeated key) is not read here: the
//! parser reads that event as a JSON tree, so what a stream means never depends on which path
//! read it (a test holds the two paths to the same results).

use std::borrow::Cow;

use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};

use super::Wire;

/// What a text delta carries.
#[derive(Debug, PartialEq)]
pub(super) struct TextDelta<'a> {
    /// The model that answered, where the event names it.
    pub model: Option<Cow<'a, str>>,
    /// The new text, if any.
    pub text: Option<Cow<'a, str>>,
}

/// A string borrowed from the event's data unless it holds escapes.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

/// True for a field that is present, whatever its value (`null` included).
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(deserializer).map(|_| true)
}

#[derive(Deserialize)]
struct Chunk<'a> {
    #[serde(default, deserialize_with = "present")]
    error: bool,
    #[serde(borrow)]
    model: Option<Text<'a>>,
    usage: Option<IgnoredAny>,
    #[serde(borrow, default)]
    choices: Vec<Choice<'a>>,
}

#[derive(Deserialize)]
struct Choice<'a> {
    #[serde(borrow)]
    delta: Option<ChoiceDelta<'a>>,
    #[serde(borrow)]
    finish_reason: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct ChoiceDelta<'a> {
    #[serde(borrow)]
    content: Option<Text<'a>>,
    refusal: Option<IgnoredAny>,
    tool_calls: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct AnthropicEvent<'a> {
    #[serde(borrow, rename = "type")]
    kind: Option<Text<'a>>,
    #[serde(borrow)]
    delta: Option<AnthropicDelta<'a>>,
}

#[derive(Deserialize)]
struct AnthropicDelta<'a> {
    #[serde(borrow, rename = "type")]
    kind: Text<'a>,
    #[serde(borrow)]
    text: Option<Text<'a>>,
}

/// The event as a text delta, or `None` when it is anything else (the parser then reads it
/// as a JSON tree).
pub(super) fn read<'a>(wire: Wire, event: &str, data: &'a str) -> Option<TextDelta<'a>> {
    match wire {
        Wire::OpenAi => chunk(data),
        Wire::Anthropic => anthropic(event, data),
        Wire::Gemini => None,
    }
}

fn chunk(data: &str) -> Option<TextDelta<'_>> {
    let chunk: Chunk = serde_json::from_str(data).ok()?;
    if chunk.error || chunk.usage.is_some() {
        return None;
    }
    let mut text = None;
    if let Some(choice) = chunk.choices.into_iter().next() {
        if choice.finish_reason.is_some_and(|f| !f.0.is_empty()) {
            return None;
        }
        if let Some(delta) = choice.delta {
            if delta.refusal.is_some() || delta.tool_calls.is_some() {
                return None;
            }
            text = delta.content.map(|t| t.0);
        }
    }
    Some(TextDelta {
        model: chunk.model.map(|m| m.0),
        text,
    })
}

fn anthropic<'a>(event: &str, data: &'a str) -> Option<TextDelta<'a>> {
    if !matches!(event, "content_block_delta" | "" | "message") {
        return None;
    }
    let parsed: AnthropicEvent = serde_json::from_str(data).ok()?;
    let named =
        event == "content_block_delta" || parsed.kind.is_some_and(|k| k.0 == "content_block_delta");
    let delta = parsed.delta?;
    if !named || delta.kind.0 != "text_delta" {
        return None;
    }
    Some(TextDelta {
        model: None,
        text: Some(delta.text.map_or(Cow::Borrowed(""), |t| t.0)),
    })
}

#[cfg(test)]
mod tests {
    use super::super::stream::StreamParser;
    use super::*;

    /// Events of every kind, as providers and odd gateways send them.
    const EVENTS: &[(Wire, &str, &str)] = &[
        (
            Wire::OpenAi,
            "",
            r#"{"id":"c","object":"chat.completion.chunk","model":"gpt-x","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"finish_reason":null}]}"#,
        ),
        (
            Wire::OpenAi,
            "",
            r#"{"model":"gpt-x","choices":[{"index":0,"delta":{"content":"Hi \"there\"\n\u00e9"},"finish_reason":null}]}"#,
        ),
        (
            Wire::OpenAi,
            "",
            r#"{"choices":[{"delta":{"content":null}}]}"#,
        ),
        (
            Wire::OpenAi,
            "",
            r#"{"choices":[{"delta":null,"finish_reason":""}]}"#,
        ),
        (Wire::OpenAi, "", r#"{"choices":[]}"#),
        (Wire::OpenAi, "", r#"{}"#),
        (
            Wire::OpenAi,
            "",
            r#"{"choices":[{"delta":{"content":"a"}},{"delta":{"content":"b"}}]}"#,
        ),
        (
            Wire::OpenAi,
            "",
            r#"{"choices":[{"delta":{"content":"x"},"finish_reason":"stop"}]}"#,
        ),
        (
            Wire::OpenAi,
            "",
            r#"{"choices":[{"delta":{"content":"x"},"finish_reason":"content_filter"}]}"#,
        ),
        (
            Wire::OpenAi,
            "",
            r#"{"choices":[{"delta":{"refusal":"I can't"}}]}"#,
        ),
        (
            Wire::OpenAi,
            "",
            r#"{"choices":[{"delta":{"refusal":7,"content":"y"}}]}"#,
        ),
        (
            Wire::OpenAi,
            "",
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"t","function":{"name":"f","arguments":"{"}}]}}]}"#,
        ),
        (
            Wire::OpenAi,
            "",
            r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}"#,
        ),
        (Wire::OpenAi, "", r#"{"choices":[],"usage":null}"#),
        (Wire::OpenAi, "", r#"{"error":{"message":"boom"}}"#),
        (Wire::OpenAi, "", r#"{"error":null,"choices":[]}"#),
        (
            Wire::OpenAi,
            "",
            r#"{"model":7,"choices":[{"delta":{"content":"z"}}]}"#,
        ),
        (
            Wire::OpenAi,
            "",
            r#"{"choices":[{"delta":{"content":"1","content":"2"}}]}"#,
        ),
        (Wire::OpenAi, "", r#"{"choices":{"delta":{"content":"x"}}}"#),
        (Wire::OpenAi, "", r#"[1,2]"#),
        (Wire::OpenAi, "", r#"not json"#),
        (
            Wire::Anthropic,
            "content_block_delta",
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi\n"}}"#,
        ),
        (
            Wire::Anthropic,
            "",
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Yo"}}"#,
        ),
        (
            Wire::Anthropic,
            "message",
            r#"{"type":"content_block_delta","delta":{"type":"text_delta"}}"#,
        ),
        (
            Wire::Anthropic,
            "",
            r#"{"type":"message_delta","delta":{"type":"text_delta","text":"no"}}"#,
        ),
        (
            Wire::Anthropic,
            "content_block_delta",
            r#"{"index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\""}}"#,
        ),
        (
            Wire::Anthropic,
            "content_block_delta",
            r#"{"delta":{"type":"text_delta","text":3}}"#,
        ),
        (Wire::Anthropic, "ping", r#"{"type":"ping"}"#),
        (
            Wire::Anthropic,
            "error",
            r#"{"type":"error","error":{"type":"overloaded_error","message":"busy"}}"#,
        ),
    ];

    #[test]
    fn every_event_reads_as_the_tree_reads_it() {
        let mut taken = 0;
        for (wire, event, data) in EVENTS {
            taken += usize::from(read(*wire, event, data).is_some());
            // A parser that has seen a model already, and a fresh one.
            for seen in [false, true] {
                let (mut parser, mut tree) = (StreamParser::new(*wire), StreamParser::new(*wire));
                if seen {
                    let named = r#"{"model":"earlier","choices":[]}"#;
                    parser.feed_tree("", named).unwrap();
                    tree.feed_tree("", named).unwrap();
                }
                let (read, by_tree) = (parser.feed(event, data), tree.feed_tree(event, data));
                assert_eq!(format!("{read:?}"), format!("{by_tree:?}"), "{data}");
                assert_eq!(format!("{parser:?}"), format!("{tree:?}"), "{data}");
            }
        }
        assert_eq!(taken, 11, "the events read without a tree");
    }

    #[test]
    fn a_text_chunk_is_read_without_copying_its_text() {
        let data = r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-x","choices":[{"index":0,"delta":{"content":"Hello","refusal":null},"finish_reason":null}]}"#;
        let delta = read(Wire::OpenAi, "", data).expect("a text delta");
        assert!(matches!(delta.text, Some(Cow::Borrowed("Hello"))));
        assert_eq!(delta.model.as_deref(), Some("gpt-x"));
        let escaped = r#"{"choices":[{"delta":{"content":"a \"quote\"\n"}}]}"#;
        let delta = read(Wire::OpenAi, "", escaped).expect("a text delta");
        assert_eq!(delta.text.as_deref(), Some("a \"quote\"\n"));
    }

    #[test]
    fn anything_but_text_is_left_to_the_tree() {
        for data in [
            r#"{"choices":[{"delta":{"content":"x"},"finish_reason":"stop"}]}"#,
            r#"{"choices":[{"delta":{"refusal":"no"}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[]}}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":1}}"#,
            r#"{"error":null}"#,
            r#"{"choices":[{"delta":{"content":5}}]}"#,
            r#"{"model":"a","model":"b","choices":[]}"#,
            r#"{"choices":null}"#,
        ] {
            assert_eq!(read(Wire::OpenAi, "", data), None, "{data}");
        }
        let tool = r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{"}}"#;
        assert_eq!(read(Wire::Anthropic, "content_block_delta", tool), None);
        let text =
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#;
        assert_eq!(read(Wire::Anthropic, "ping", text), None);
        assert!(read(Wire::Anthropic, "", text).is_some());
        assert_eq!(read(Wire::Gemini, "", text), None);
    }
}
