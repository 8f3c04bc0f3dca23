//! Anthropic Messages API (`POST /v1/messages`).

use serde_json::{Map, Value, json};

use super::{
    Fault, FinishReason, Prompt, Reply, TokenUsage, count_at, http_fault, says_too_long, text_at,
};
use crate::fault::FailureKind;
use crate::llm::message::{Part, Role};

/// The API version header Keel speaks.
pub const VERSION: &str = "2023-06-01";

/// The request body.
pub fn body(prompt: &Prompt<'_>) -> Value {
    let messages: Vec<Value> = prompt
        .messages
        .iter()
        .map(|m| {
            let role = match m.role {
                Role::Assistant => "assistant",
                _ => "user",
            };
            json!({"role": role, "content": m.content.iter().map(block).collect::<Vec<_>>()})
        })
        .collect();
    let mut body = Map::new();
    body.insert("model".into(), prompt.model.into());
    body.insert("max_tokens".into(), prompt.max_tokens.into());
    if let Some(system) = prompt.system {
        body.insert("system".into(), system.into());
    }
    body.insert("messages".into(), messages.into());
    if !prompt.tools.is_empty() {
        let tools: Vec<Value> = prompt
            .tools
            .iter()
            .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.parameters}))
            .collect();
        body.insert("tools".into(), tools.into());
    }
    if let Some(t) = prompt.temperature {
        body.insert("temperature".into(), t.into());
    }
    if !prompt.stop.is_empty() {
        body.insert("stop_sequences".into(), prompt.stop.into());
    }
    if prompt.stream {
        body.insert("stream".into(), true.into());
    }
    Value::Object(body)
}

fn block(part: &Part) -> Value {
    match part {
        Part::Text { text } => json!({"type": "text", "text": text}),
        Part::Image { url: Some(url), .. } => {
            json!({"type": "image", "source": {"type": "url", "url": url}})
        }
        Part::Image {
            data, media_type, ..
        } => json!({"type": "image", "source": {
            "type": "base64", "media_type": media_type, "data": data
        }}),
        Part::ToolCall {
            id,
            name,
            arguments,
        } => json!({"type": "tool_use", "id": id, "name": name, "input": arguments}),
        Part::ToolResult {
            call_id,
            content,
            is_error,
            ..
        } => {
            let mut b = json!({"type": "tool_result", "tool_use_id": call_id, "content": content});
            if *is_error {
                b["is_error"] = true.into();
            }
            b
        }
    }
}

/// The reply of a 2xx. A `refusal` stop is a [`FailureKind::ContentRefused`] fault carrying the
/// usage billed.
pub fn reply(body: &Value) -> Result<Reply, Fault> {
    let blocks = body
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| Fault::malformed("no `content` array"))?;
    let mut content = Vec::new();
    for b in blocks {
        match text_at(b, "type") {
            "text" => content.push(Part::text(text_at(b, "text"))),
            "tool_use" => content.push(Part::ToolCall {
                id: text_at(b, "id").to_owned(),
                name: text_at(b, "name").to_owned(),
                arguments: b.get("input").cloned().unwrap_or_else(|| json!({})),
            }),
            _ => {}
        }
    }
    let usage = usage(body.get("usage"));
    let stop = text_at(body, "stop_reason");
    if stop == "refusal" {
        let mut fault = Fault::new(FailureKind::ContentRefused, "the model declined to answer");
        fault.usage = Some(usage);
        return Err(fault);
    }
    Ok(Reply {
        content,
        finish_reason: finish_reason(stop),
        usage,
        model: body.get("model").and_then(Value::as_str).map(str::to_owned),
    })
}

/// `stop_reason` in the neutral vocabulary.
pub fn finish_reason(stop: &str) -> FinishReason {
    match stop {
        "end_turn" | "stop_sequence" => FinishReason::Stop,
        "max_tokens" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        _ => FinishReason::Other,
    }
}

/// The `usage` object.
pub fn usage(usage: Option<&Value>) -> TokenUsage {
    let usage = usage.unwrap_or(&Value::Null);
    TokenUsage {
        input_tokens: count_at(usage, "input_tokens")
            + count_at(usage, "cache_creation_input_tokens")
            + count_at(usage, "cache_read_input_tokens"),
        output_tokens: count_at(usage, "output_tokens"),
    }
}

/// The fault of an error reply: `{"type": "error", "error": {"type", "message"}}`.
pub fn fault(status: u16, body: &Value) -> Fault {
    let error = body.get("error").unwrap_or(&Value::Null);
    let kind = text_at(error, "type");
    let message = text_at(error, "message");
    http_fault(
        status,
        message.to_owned(),
        kind,
        kind == "overloaded_error",
        kind == "request_too_large" || says_too_long(message),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::message::{Message, Tool};

    #[test]
    fn tool_turns_map_to_blocks() {
        let messages = vec![
            Message::user("weather?"),
            Message {
                role: Role::Assistant,
                content: vec![Part::ToolCall {
                    id: "t1".into(),
                    name: "weather".into(),
                    arguments: json!({"city": "Oslo"}),
                }],
            },
            Message {
                role: Role::Tool,
                content: vec![Part::ToolResult {
                    call_id: "t1".into(),
                    name: None,
                    content: "rain".into(),
                    is_error: false,
                }],
            },
        ];
        let tools = [Tool {
            name: "weather".into(),
            description: "d".into(),
            parameters: json!({"type": "object"}),
        }];
        let b = body(&Prompt {
            model: "m",
            system: Some("be brief"),
            messages: &messages,
            tools: &tools,
            max_tokens: 10,
            temperature: None,
            stop: &[],
            stream: false,
        });
        assert_eq!(b["system"], "be brief");
        assert_eq!(b["messages"][1]["content"][0]["type"], "tool_use");
        assert_eq!(b["messages"][2]["role"], "user");
        assert_eq!(b["messages"][2]["content"][0]["tool_use_id"], "t1");
        assert_eq!(b["tools"][0]["input_schema"]["type"], "object");
        assert!(b.get("stream").is_none());
    }

    #[test]
    fn refusals_and_errors_are_classified() {
        let r = reply(&json!({"content": [], "stop_reason": "refusal",
            "usage": {"input_tokens": 5, "output_tokens": 1}}));
        let f = r.unwrap_err();
        assert_eq!(f.kind, FailureKind::ContentRefused);
        assert_eq!(f.usage.unwrap().input_tokens, 5);
        let f = fault(
            529,
            &json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
        );
        assert_eq!(f.kind, FailureKind::Overloaded);
        let f = fault(
            400,
            &json!({"error": {"type": "invalid_request_error", "message": "prompt is too long: 250000 tokens > 200000 maximum"}}),
        );
        assert_eq!(f.kind, FailureKind::ContextTooLong);
        let f = fault(
            401,
            &json!({"error": {"type": "authentication_error", "message": "invalid x-api-key"}}),
        );
        assert_eq!(f.kind, FailureKind::ClientError);
    }
}
