//! What a request's prompt is counted at before a call, for the credit reservation: exact
//! where the model's tokenizer is known, else an estimate from its size.

use super::message::{Message, Part};
use super::request::CallRequest;
use crate::tokens::TokenCounter;

/// Tokens a request's prompt is estimated at before the call, for the credit reservation:
/// four bytes of text per token (rounded up), four tokens of framing per turn, 1,000 per image
/// and the tools' schemas as text. The reservation is settled at the provider's own count.
pub fn estimate_tokens(request: &CallRequest) -> u64 {
    let mut bytes = request.system.as_ref().map_or(0, String::len) as u64;
    let mut extra = 0u64;
    for m in &request.messages {
        let (b, e) = message_size(m);
        bytes += b;
        extra += e;
    }
    for tool in &request.tools {
        bytes +=
            (tool.name.len() + tool.description.len() + tool.parameters.to_string().len()) as u64;
    }
    bytes.div_ceil(4) + extra
}

/// Tokens a request's prompt is counted at before the call to `model`, for the credit
/// reservation: its system text and messages as `counter` counts them (exact where the
/// model's tokenizer is known, else calibrated from the usage its client's calls reported)
/// and its tools' schemas as text; [`estimate_tokens`] when `model` cannot be counted for.
/// The reservation is settled at the provider's own count.
pub fn prompt_tokens(counter: &TokenCounter, model: &str, request: &CallRequest) -> u64 {
    let counted = counter.count_request(model, request.system.as_deref(), &request.messages);
    let Ok(prompt) = counted else {
        return estimate_tokens(request);
    };
    let tools: u64 = request
        .tools
        .iter()
        .map(|tool| {
            let schema = format!("{} {} {}", tool.name, tool.description, tool.parameters);
            counter.count_text(model, &schema).map_or(0, |c| c.tokens)
        })
        .sum();
    prompt.tokens + tools
}

/// A message's text bytes, and the tokens counted apart from them (framing, images).
fn message_size(message: &Message) -> (u64, u64) {
    let (mut bytes, mut extra) = (0u64, 4u64);
    for part in &message.content {
        match part {
            Part::Text { text } => bytes += text.len() as u64,
            Part::Image { .. } => extra += 1_000,
            Part::ToolCall { arguments, .. } => bytes += arguments.to_string().len() as u64,
            Part::ToolResult { content, .. } => bytes += content.len() as u64,
        }
    }
    (bytes, extra)
}
