//! Google Gemini (`POST {base}/v1beta/models/{model}:generateContent`, and
//! `:streamGenerateContent?alt=sse`).

use serde_json::{Map, Value, json};

use super::{
    Fault, FinishReason, Prompt, Reply, TokenUsage, count_at, http_fault, says_too_long, text_at,
    tool_name,
};
use crate::fault::FailureKind;
use crate::llm::message::{Message, Part, Role};

/// The finish reasons that mean a safety filter stopped the reply.
const REFUSALS: &[&str] = &[
    "SAFETY",
    "PROHIBITED_CONTENT",
    "BLOCKLIST",
    "SPII",
    "IMAGE_SAFETY",
];

/// The request body.
pub fn body(prompt: &Prompt<'_>) -> Value {
    let contents: Vec<Value> = prompt
        .messages
        .iter()
        .map(|m| {
            let role = if m.role == Role::Assistant {
                "model"
            } else {
                "user"
            };
            let parts: Vec<Value> = m.content.iter().map(|p| part(p, prompt.messages)).collect();
            json!({"role": role, "parts": parts})
        })
        .collect();
    let mut body = Map::new();
    body.insert("contents".into(), contents.into());
    if let Some(system) = prompt.system {
        body.insert(
            "systemInstruction".into(),
            json!({"parts": [{"text": system}]}),
        );
    }
    if !prompt.tools.is_empty() {
        let declarations: Vec<Value> = prompt
            .tools
            .iter()
            .map(|t| json!({"name": t.name, "description": t.description, "parameters": t.parameters}))
            .collect();
        body.insert(
            "tools".into(),
            json!([{"functionDeclarations": declarations}]),
        );
    }
    let mut config = Map::new();
    config.insert("maxOutputTokens".into(), prompt.max_tokens.into());
    if let Some(t) = prompt.temperature {
        config.insert("temperature".into(), t.into());
    }
    if !prompt.stop.is_empty() {
        config.insert("stopSequences".into(), prompt.stop.into());
    }
    body.insert("generationConfig".into(), config.into());
    Value::Object(body)
}

fn part(part: &Part, messages: &[Message]) -> Value {
    match part {
        Part::Text { text } => json!({"text": text}),
        Part::Image {
            url: Some(url),
            media_type,
            ..
        } => {
            let mut data = json!({"fileUri": url});
            if let Some(media) = media_type {
                data["mimeType"] = media.as_str().into();
            }
            json!({"fileData": data})
        }
        Part::Image {
            data, media_type, ..
        } => json!({"inlineData": {"mimeType": media_type, "data": data}}),
        Part::ToolCall {
            name, arguments, ..
        } => json!({"functionCall": {"name": name, "args": arguments}}),
        Part::ToolResult {
            call_id,
            name,
            content,
            is_error,
        } => {
            let name = name
                .as_deref()
                .or_else(|| tool_name(messages, call_id))
                .unwrap_or(call_id);
            let key = if *is_error { "error" } else { "content" };
            json!({"functionResponse": {"name": name, "response": {key: content}}})
        }
    }
}

/// The reply of a 2xx (a whole reply, or one event of a stream). A blocked prompt or a safety
/// finish is a [`FailureKind::ContentRefused`] fault carrying the usage billed.
pub fn reply(body: &Value) -> Result<Reply, Fault> {
    let usage = usage(body.get("usageMetadata"));
    if let Some(reason) = body
        .get("promptFeedback")
        .and_then(|f| f.get("blockReason"))
        .and_then(Value::as_str)
    {
        let mut fault = Fault::new(
            FailureKind::ContentRefused,
            format!("prompt blocked: {reason}"),
        );
        fault.usage = Some(usage);
        return Err(fault);
    }
    let candidate = body
        .get("candidates")
        .and_then(|c| c.get(0))
        .ok_or_else(|| Fault::malformed("no `candidates[0]`"))?;
    let finish = text_at(candidate, "finishReason");
    if REFUSALS.contains(&finish) {
        let mut fault = Fault::new(
            FailureKind::ContentRefused,
            format!("reply blocked: {finish}"),
        );
        fault.usage = Some(usage);
        return Err(fault);
    }
    let mut content = Vec::new();
    let parts = candidate
        .get("content")
        .and_then(|c| c.get("parts"))
        .and_then(Value::as_array);
    for (index, p) in parts.into_iter().flatten().enumerate() {
        if let Some(text) = p.get("text").and_then(Value::as_str) {
            content.push(Part::text(text));
        } else if let Some(call) = p.get("functionCall") {
            let name = text_at(call, "name");
            let id = match text_at(call, "id") {
                "" => format!("{name}-{index}"),
                id => id.to_owned(),
            };
            content.push(Part::ToolCall {
                id,
                name: name.to_owned(),
                arguments: call.get("args").cloned().unwrap_or_else(|| json!({})),
            });
        }
    }
    let has_calls = content.iter().any(|p| matches!(p, Part::ToolCall { .. }));
    Ok(Reply {
        content,
        finish_reason: if has_calls {
            FinishReason::ToolCalls
        } else {
            finish_reason(finish)
        },
        usage,
        model: body
            .get("modelVersion")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

/// `finishReason` in the neutral vocabulary.
pub fn finish_reason(finish: &str) -> FinishReason {
    match finish {
        "STOP" => FinishReason::Stop,
        "MAX_TOKENS" => FinishReason::Length,
        f if REFUSALS.contains(&f) => FinishReason::ContentFilter,
        _ => FinishReason::Other,
    }
}

/// The `usageMetadata` object.
pub fn usage(usage: Option<&Value>) -> TokenUsage {
    let usage = usage.unwrap_or(&Value::Null);
    TokenUsage {
        input_tokens: count_at(usage, "promptTokenCount"),
        output_tokens: count_at(usage, "candidatesTokenCount")
            + count_at(usage, "thoughtsTokenCount"),
    }
}

/// The fault of an error reply: `{"error": {"code", "message", "status"}}`.
pub fn fault(status: u16, body: &Value) -> Fault {
    let error = body.get("error").unwrap_or(&Value::Null);
    let code = text_at(error, "status");
    let message = text_at(error, "message");
    http_fault(
        status,
        message.to_owned(),
        code,
        code == "UNAVAILABLE" && status == 503,
        says_too_long(message),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_results_carry_the_call_name() {
        let messages = vec![
            Message::user("q"),
            Message {
                role: Role::Assistant,
                content: vec![Part::ToolCall {
                    id: "x".into(),
                    name: "lookup".into(),
                    arguments: json!({}),
                }],
            },
            Message {
                role: Role::Tool,
                content: vec![Part::ToolResult {
                    call_id: "x".into(),
                    name: None,
                    content: "found".into(),
                    is_error: false,
                }],
            },
        ];
        let b = body(&Prompt {
            model: "g",
            system: Some("sys"),
            messages: &messages,
            tools: &[],
            max_tokens: 7,
            temperature: None,
            stop: &["END".into()],
            stream: false,
        });
        assert_eq!(b["contents"][1]["role"], "model");
        assert_eq!(
            b["contents"][2]["parts"][0]["functionResponse"]["name"],
            "lookup"
        );
        assert_eq!(b["systemInstruction"]["parts"][0]["text"], "sys");
        assert_eq!(b["generationConfig"]["maxOutputTokens"], 7);
        assert_eq!(b["generationConfig"]["stopSequences"][0], "END");
    }

    #[test]
    fn replies_and_faults() {
        let r = reply(&json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "hi"}]},
            "finishReason": "STOP"}], "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 1},
            "modelVersion": "gemini-2.5-flash"})).unwrap();
        assert_eq!(
            (r.content[0].clone(), r.usage.input_tokens),
            (Part::text("hi"), 4)
        );
        let f = reply(&json!({"candidates": [{"finishReason": "SAFETY"}]})).unwrap_err();
        assert_eq!(f.kind, FailureKind::ContentRefused);
        let f = reply(&json!({"promptFeedback": {"blockReason": "OTHER"}})).unwrap_err();
        assert_eq!(f.kind, FailureKind::ContentRefused);
        let f = fault(
            503,
            &json!({"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}),
        );
        assert_eq!(f.kind, FailureKind::Overloaded);
        let f = fault(
            400,
            &json!({"error": {"code": 400, "message": "The input token count (2000000) exceeds the maximum number of tokens allowed (1048576).", "status": "INVALID_ARGUMENT"}}),
        );
        assert_eq!(f.kind, FailureKind::ContextTooLong);
    }
}
