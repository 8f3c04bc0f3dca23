//! OpenAI-compatible Chat Completions (`POST {base}/chat/completions`): OpenAI, Azure-style
//! deployments, vLLM, Ollama, OpenRouter.

use serde_json::{Map, Value, json};

use super::{
    Fault, FinishReason, Prompt, Reply, TokenUsage, count_at, http_fault, says_too_long, text_at,
};
use crate::fault::FailureKind;
use crate::llm::message::{Message, Part, Role, join_text};

/// The request body.
pub fn body(prompt: &Prompt<'_>) -> Value {
    let mut messages = Vec::with_capacity(prompt.messages.len() + 1);
    if let Some(system) = prompt.system {
        messages.push(json!({"role": "system", "content": system}));
    }
    for m in prompt.messages {
        push_message(&mut messages, m);
    }
    let mut body = Map::new();
    body.insert("model".into(), prompt.model.into());
    body.insert("messages".into(), messages.into());
    body.insert("max_tokens".into(), prompt.max_tokens.into());
    if !prompt.tools.is_empty() {
        let tools: Vec<Value> = prompt
            .tools
            .iter()
            .map(|t| {
                json!({"type": "function", "function": {
                    "name": t.name, "description": t.description, "parameters": t.parameters
                }})
            })
            .collect();
        body.insert("tools".into(), tools.into());
    }
    if let Some(t) = prompt.temperature {
        body.insert("temperature".into(), t.into());
    }
    if !prompt.stop.is_empty() {
        body.insert("stop".into(), prompt.stop.into());
    }
    if prompt.stream {
        body.insert("stream".into(), true.into());
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    Value::Object(body)
}

/// One neutral turn as Chat Completions messages: tool results are one `tool` message each;
/// an assistant's tool calls go in `tool_calls`.
fn push_message(out: &mut Vec<Value>, m: &Message) {
    match m.role {
        Role::Tool => {
            for part in &m.content {
                if let Part::ToolResult {
                    call_id, content, ..
                } = part
                {
                    out.push(json!({"role": "tool", "tool_call_id": call_id, "content": content}));
                }
            }
        }
        Role::Assistant => {
            let calls: Vec<Value> = m
                .content
                .iter()
                .filter_map(|p| match p {
                    Part::ToolCall {
                        id,
                        name,
                        arguments,
                    } => Some(json!({"id": id, "type": "function", "function": {
                        "name": name, "arguments": arguments.to_string()
                    }})),
                    _ => None,
                })
                .collect();
            let text = join_text(&m.content);
            let mut msg = json!({"role": "assistant", "content": text});
            if !calls.is_empty() {
                if text.is_empty() {
                    msg["content"] = Value::Null;
                }
                msg["tool_calls"] = calls.into();
            }
            out.push(msg);
        }
        Role::User | Role::System => {
            let only_text = m.content.iter().all(|p| matches!(p, Part::Text { .. }));
            let content = if only_text {
                Value::from(join_text(&m.content))
            } else {
                m.content
                    .iter()
                    .filter_map(user_part)
                    .collect::<Vec<_>>()
                    .into()
            };
            out.push(json!({"role": "user", "content": content}));
        }
    }
}

fn user_part(part: &Part) -> Option<Value> {
    match part {
        Part::Text { text } => Some(json!({"type": "text", "text": text})),
        Part::Image { url: Some(url), .. } => {
            Some(json!({"type": "image_url", "image_url": {"url": url}}))
        }
        Part::Image {
            data: Some(data),
            media_type,
            ..
        } => {
            let media = media_type.as_deref().unwrap_or("image/png");
            Some(
                json!({"type": "image_url", "image_url": {"url": format!("data:{media};base64,{data}")}}),
            )
        }
        _ => None,
    }
}

/// The reply of a 2xx. A `refusal` message or a `content_filter` finish is a
/// [`FailureKind::ContentRefused`] fault carrying the usage billed.
pub fn reply(body: &Value) -> Result<Reply, Fault> {
    let choice = body
        .get("choices")
        .and_then(|c| c.get(0))
        .ok_or_else(|| Fault::malformed("no `choices[0]`"))?;
    let message = choice.get("message").unwrap_or(&Value::Null);
    let usage = usage(body.get("usage"));
    let finish = text_at(choice, "finish_reason");
    let refusal = message.get("refusal").and_then(Value::as_str);
    if refusal.is_some() || finish == "content_filter" {
        let mut fault = Fault::new(
            FailureKind::ContentRefused,
            refusal.unwrap_or("the content filter stopped the reply"),
        );
        fault.usage = Some(usage);
        return Err(fault);
    }
    let mut content = Vec::new();
    if let Some(text) = message.get("content").and_then(Value::as_str)
        && !text.is_empty()
    {
        content.push(Part::text(text));
    }
    for call in message
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        content.push(tool_call(call)?);
    }
    Ok(Reply {
        content,
        finish_reason: finish_reason(finish),
        usage,
        model: body.get("model").and_then(Value::as_str).map(str::to_owned),
    })
}

fn tool_call(call: &Value) -> Result<Part, Fault> {
    let function = call.get("function").unwrap_or(&Value::Null);
    let raw = text_at(function, "arguments");
    let arguments = if raw.trim().is_empty() {
        json!({})
    } else {
        serde_json::from_str(raw)
            .map_err(|_| Fault::malformed("tool-call arguments are not JSON"))?
    };
    Ok(Part::ToolCall {
        id: text_at(call, "id").to_owned(),
        name: text_at(function, "name").to_owned(),
        arguments,
    })
}

/// `finish_reason` in the neutral vocabulary.
pub fn finish_reason(finish: &str) -> FinishReason {
    match finish {
        "stop" => FinishReason::Stop,
        "length" => FinishReason::Length,
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        "content_filter" => FinishReason::ContentFilter,
        _ => FinishReason::Other,
    }
}

/// The `usage` object.
pub fn usage(usage: Option<&Value>) -> TokenUsage {
    let usage = usage.unwrap_or(&Value::Null);
    TokenUsage {
        input_tokens: count_at(usage, "prompt_tokens"),
        output_tokens: count_at(usage, "completion_tokens"),
    }
}

/// The fault of an error reply: `{"error": {"message", "type", "code"}}`.
pub fn fault(status: u16, body: &Value) -> Fault {
    let error = body.get("error").unwrap_or(&Value::Null);
    let code = match error.get("code") {
        Some(Value::String(s)) => s.clone(),
        _ => text_at(error, "type").to_owned(),
    };
    let message = text_at(error, "message").to_owned();
    let too_long = code == "context_length_exceeded" || says_too_long(&message);
    http_fault(status, message, &code, false, too_long)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_calls_round_trip() {
        let messages = vec![
            Message::user("2+2?"),
            Message {
                role: Role::Assistant,
                content: vec![Part::ToolCall {
                    id: "c".into(),
                    name: "add".into(),
                    arguments: json!({"a": 2}),
                }],
            },
            Message {
                role: Role::Tool,
                content: vec![Part::ToolResult {
                    call_id: "c".into(),
                    name: None,
                    content: "4".into(),
                    is_error: false,
                }],
            },
        ];
        let b = body(&Prompt {
            model: "gpt",
            system: Some("s"),
            messages: &messages,
            tools: &[],
            max_tokens: 5,
            temperature: Some(0.0),
            stop: &[],
            stream: true,
        });
        assert_eq!(b["messages"][0]["role"], "system");
        assert_eq!(b["messages"][2]["content"], Value::Null);
        assert_eq!(
            b["messages"][2]["tool_calls"][0]["function"]["arguments"],
            "{\"a\":2}"
        );
        assert_eq!(b["messages"][3]["tool_call_id"], "c");
        assert_eq!(b["stream_options"]["include_usage"], true);
        let r = reply(&json!({"model": "gpt-x", "choices": [{"message": {"content": null,
            "tool_calls": [{"id": "d", "type": "function", "function": {"name": "add", "arguments": "{\"a\":1}"}}]},
            "finish_reason": "tool_calls"}], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}))
        .unwrap();
        assert_eq!(r.finish_reason, FinishReason::ToolCalls);
        assert_eq!(
            r.content[0],
            Part::ToolCall {
                id: "d".into(),
                name: "add".into(),
                arguments: json!({"a": 1})
            }
        );
        assert_eq!(
            r.usage,
            TokenUsage {
                input_tokens: 3,
                output_tokens: 2
            }
        );
    }

    #[test]
    fn errors_are_classified() {
        let f = fault(
            400,
            &json!({"error": {"message": "This model's maximum context length is 8192 tokens", "code": "context_length_exceeded"}}),
        );
        assert_eq!(f.kind, FailureKind::ContextTooLong);
        let f = fault(
            429,
            &json!({"error": {"message": "slow down", "type": "rate_limit_error"}}),
        );
        assert_eq!(f.kind, FailureKind::RateLimited);
        let f =
            reply(&json!({"choices": [{"message": {"refusal": "no"}, "finish_reason": "stop"}]}))
                .unwrap_err();
        assert_eq!(f.kind, FailureKind::ContentRefused);
        assert_eq!(
            reply(&json!({"nope": 1})).unwrap_err().kind,
            FailureKind::ServerError
        );
    }
}
