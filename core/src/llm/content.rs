//! A call's prompt and completion on its span, when OTLP export asks for them
//! (`capture_content`), in the shapes of the OpenTelemetry GenAI conventions
//! (`gen_ai.system_instructions`, `gen_ai.input.messages`, `gen_ai.output.messages`). The log
//! writer makes them safe as it does all metadata: secrets redacted, sizes capped.

use serde_json::{Map, Value, json};

use super::call::Completion;
use super::message::Part;
use super::request::CallRequest;

/// Adds the request's instructions and conversation to a call span's start fields.
pub(super) fn input(request: &CallRequest, fields: &mut Map<String, Value>) {
    if let Some(system) = &request.system {
        let instructions = json!([{"type": "text", "content": system}]);
        fields.insert("gen_ai.system_instructions".into(), instructions);
    }
    let messages = request
        .messages
        .iter()
        .map(|m| json!({"role": m.role, "parts": parts(&m.content)}))
        .collect();
    fields.insert("gen_ai.input.messages".into(), Value::Array(messages));
}

/// Adds the completion to a call span's end fields.
pub(super) fn output(completion: &Completion, fields: &mut Map<String, Value>) {
    let message = json!([{
        "role": "assistant",
        "parts": parts(&completion.content),
        "finish_reason": completion.finish_reason.as_str(),
    }]);
    fields.insert("gen_ai.output.messages".into(), message);
}

/// Text parts as the conventions write them; other parts (images, tool calls and results) in
/// Keel's own shape, which carries the same `type` tag.
fn parts(parts: &[Part]) -> Vec<Value> {
    parts
        .iter()
        .map(|part| match part {
            Part::Text { text } => json!({"type": "text", "content": text}),
            other => serde_json::to_value(other).unwrap_or(Value::Null),
        })
        .collect()
}
