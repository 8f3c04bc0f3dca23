//! `keel.count_tokens`, `keel.count_message_tokens`: token counts, mirroring `keel::tokens`.

use pyo3::prelude::*;

use keel::options::Case;
use keel::tokens::{Encoding, TokenCounter};

use crate::error::Arg;
use crate::json::{Json, to_json};
use crate::runtime::guard;

/// The tokens of `text` in `encoding` (`"o200k_base"` by default, or `"cl100k_base"`), exactly
/// as tiktoken's `encode_ordinary` counts them. The GIL is released while counting.
#[pyfunction]
#[pyo3(signature = (text, encoding = None))]
fn count_tokens(py: Python<'_>, text: Arg<&str>, encoding: Option<Arg<&str>>) -> PyResult<u64> {
    let (text, encoding) = (text.0, encoding.map(|e| e.0));
    guard(|| {
        let encoding = Encoding::named(encoding)?;
        Ok(py.detach(|| encoding.count(text)))
    })
}

/// The input tokens of `messages` (like `keel.types.Message`) sent to `model`: a
/// `keel.types.TokenCount`, exact for OpenAI's models on text, else estimated.
#[pyfunction]
fn count_message_tokens(model: Arg<&str>, messages: &Bound<'_, PyAny>) -> PyResult<Json> {
    let messages = to_json(messages, 0);
    guard(|| {
        let count = TokenCounter::default().count_messages_value(model.0, messages, Case::Snake)?;
        Ok(Json::of(&count))
    })
}

/// Adds this module's functions to `keel._native`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(count_tokens, m)?)?;
    m.add_function(wrap_pyfunction!(count_message_tokens, m)?)
}
