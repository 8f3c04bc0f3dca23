//! Tokens of messages as providers bill them: each message's framing and role, its text, tool
//! calls, tool results and images, and the tokens that prime the reply.

use serde::Serialize;

use super::{Encoding, Family, TokenModel};
use crate::llm::{Message, Part};

/// Tokens of framing around each message (`<|start|>`, `<|message|>`, `<|end|>`), besides its
/// role, as OpenAI's chat format spends them.
pub const MESSAGE_FRAMING: u64 = 3;
/// Tokens that prime the reply (`<|start|>assistant<|message|>`), once per request.
pub const REPLY_PRIMING: u64 = 3;
/// Tokens around each tool call or tool result (its id and the function wrapper), besides its
/// name, arguments and content: the providers do not document them, so it is an estimate.
pub const TOOL_FRAMING: u64 = 8;

/// A token count and whether it is exact.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TokenCount {
    /// The tokens.
    pub tokens: u64,
    /// True when the count is what the provider bills (OpenAI's encodings on text); false for
    /// an estimate (Claude and Gemini, tool calls, tool results, images).
    pub exact: bool,
    /// The encoding counted; under an estimate, the base the factor scales.
    pub encoding: Encoding,
    /// The model, as [`crate::memory::canonical_model_id`] spells it.
    pub model: String,
    /// The correction applied to the encoding's count: 1 when exact, else the model's
    /// calibrated ratio of billed tokens to counted ones.
    pub factor: f64,
}

/// One message's tokens in `encoding` under `family`'s framing, and whether that count is the
/// billed one (text only); the reply's priming is not included.
pub fn message_tokens(encoding: Encoding, family: Family, message: &Message) -> (u64, bool) {
    let mut tokens = MESSAGE_FRAMING + encoding.count(message.role.as_str());
    let mut exact = true;
    for part in &message.content {
        tokens += match part {
            Part::Text { text } => encoding.count(text),
            Part::Image { .. } => {
                exact = false;
                family.image_tokens()
            }
            Part::ToolCall {
                name, arguments, ..
            } => {
                exact = false;
                let arguments = serde_json::to_string(arguments).unwrap_or_default();
                TOOL_FRAMING + encoding.count(name) + encoding.count(&arguments)
            }
            Part::ToolResult { content, .. } => {
                exact = false;
                TOOL_FRAMING + encoding.count(content)
            }
        };
    }
    (tokens, exact)
}

/// One message's tokens as the conversation store keeps them, whatever model reads them
/// later: o200k_base under OpenAI's framing, exact for text (see [`message_tokens`]).
pub fn stored_message_tokens(message: &Message) -> (u64, bool) {
    message_tokens(Encoding::O200kBase, Family::OpenAi, message)
}

/// The tokens of the messages of one request to `model` before any correction, with the
/// reply's priming, and whether every message was counted exactly.
pub(super) fn raw_request_tokens<'a>(
    model: &TokenModel,
    messages: impl IntoIterator<Item = &'a Message>,
) -> (u64, bool) {
    messages
        .into_iter()
        .fold((REPLY_PRIMING, true), |(sum, all), m| {
            let (tokens, exact) = message_tokens(model.encoding, model.family, m);
            (sum + tokens, all && exact)
        })
}

/// Scales a raw count by `factor`, rounding up.
pub(super) fn scaled(raw: u64, factor: f64) -> u64 {
    if factor == 1.0 {
        raw
    } else {
        (raw as f64 * factor).ceil() as u64
    }
}
