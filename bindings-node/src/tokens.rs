//! `countTokens`, `countTokensAsync`, `countMessageTokens`: token counts (core:
//! `keel::tokens`).

use napi_derive::napi;
use serde_json::Value;

use keel::options::Case;
use keel::tokens::{Encoding, TokenCounter};

use crate::error::{Arg, Outcome, guard, guard_async};
use crate::json::Json;
use crate::options::record;

/// The tokens of `text` in `encoding` (`'o200k_base'` by default, or `'cl100k_base'`), exactly
/// as tiktoken's `encode_ordinary` counts them. Synchronous: for a large text, prefer
/// `countTokensAsync`, which leaves the event loop free.
#[napi(
    ts_args_type = "text: string, encoding?: Encoding | null",
    ts_return_type = "number"
)]
pub fn count_tokens(Arg(text): Arg<String>, encoding: Option<Arg<String>>) -> Outcome<f64> {
    guard(|| Ok(Encoding::named(encoding.as_ref().map(|e| e.0.as_str()))?.count(&text) as f64))
}

/// `countTokens` on a worker thread: resolves to the count, the event loop free meanwhile.
#[napi(
    ts_args_type = "text: string, encoding?: Encoding | null",
    ts_return_type = "Promise<number>"
)]
pub async fn count_tokens_async(
    Arg(text): Arg<String>,
    encoding: Option<Arg<String>>,
) -> napi::Result<Outcome<f64>> {
    guard_async(async move {
        let encoding = Encoding::named(encoding.as_ref().map(|e| e.0.as_str()))?;
        tokio::task::spawn_blocking(move || encoding.count(&text) as f64)
            .await
            .map_err(|e| keel::Error::Internal(e.to_string()))
    })
    .await
}

/// The input tokens of `messages` sent to `model`, exact for OpenAI's models on text, else
/// estimated.
#[napi(
    ts_args_type = "model: string, messages: Message[]",
    ts_return_type = "TokenCount"
)]
pub fn count_message_tokens(Arg(model): Arg<String>, Json(messages): Json) -> Outcome<Value> {
    guard(|| {
        let count = TokenCounter::default().count_messages_value(&model, messages, Case::Camel)?;
        Ok(record(&count))
    })
}
