//! `countTokens` (core: `keel::tokens`).

use keel::tokens::Encoding;

use crate::error::KeelError;

/// The tokens of `text` in `encoding` (`"o200k_base"` when null, or `"cl100k_base"`), exactly
/// as tiktoken's `encode_ordinary` counts them.
///
/// # Errors
/// `invalid_input` (field `encoding`) for an unknown encoding.
#[uniffi::export(default(encoding = None))]
pub fn count_tokens(text: String, encoding: Option<String>) -> Result<u64, KeelError> {
    Ok(Encoding::named(encoding.as_deref())?.count(&text))
}
