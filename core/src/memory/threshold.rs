//! When a conversation must be compacted for a model.
//!
//! The original's `getCompactionThreshold` (reference §3.3) is
//! `floor((context window − system prompt − response − tools) × 0.75)` with 4,096, 8,192 and
//! 4,096 tokens reserved, over a second table of context windows keyed by exact model id: a
//! dated id from the model router (`claude-sonnet-4-6-20250929`) missed it and fell back to
//! 200,000, and nothing called it. Here the formula and its constants are the defaults, the
//! context window comes from the model matrix (no second table), and a model id is matched by
//! its canonical form, so a dated, versioned or `-latest` id finds its row and an id the
//! matrix does not know is an error naming the field, never a silent default.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::models::Matrix;

/// The original's share of what is left of the window once the reservations are taken.
pub const DEFAULT_RATIO: f64 = 0.75;

/// What a compaction threshold reserves, in tokens, and the share of the rest it uses. Every
/// default is the original's.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThresholdOptions {
    /// Tokens reserved for the system prompt (default 4,096).
    pub system_prompt_tokens: u32,
    /// Tokens reserved for the response (default 8,192).
    pub output_tokens: u32,
    /// Tokens reserved for tool definitions (default 4,096).
    pub tools_tokens: u32,
    /// The share of what is left that a conversation may fill before it is compacted
    /// (default 0.75; more than 0, at most 1).
    pub ratio: f64,
}

impl Default for ThresholdOptions {
    fn default() -> Self {
        Self {
            system_prompt_tokens: 4_096,
            output_tokens: 8_192,
            tools_tokens: 4_096,
            ratio: DEFAULT_RATIO,
        }
    }
}

impl ThresholdOptions {
    /// The tokens reserved in all.
    pub fn reserved(&self) -> u64 {
        u64::from(self.system_prompt_tokens)
            + u64::from(self.output_tokens)
            + u64::from(self.tools_tokens)
    }
}

/// A model's compaction threshold and what it was computed from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompactionThreshold {
    /// The model id as the matrix names it (`claude-haiku-4-5-20251001`).
    pub model_id: String,
    /// Its canonical form, what ids are matched by (`claude-haiku-4-5`).
    pub canonical_id: String,
    /// The model's context window, from the matrix.
    pub context_window: u32,
    /// Tokens reserved for the system prompt, the response and tools.
    pub reserved_tokens: u64,
    /// A conversation above this many tokens is compacted.
    pub threshold: u64,
}

/// The threshold for a `context_window` of tokens:
/// `floor((context_window − reserved) × ratio)`.
///
/// # Errors
/// [`Error::InvalidInput`]: `ratio` outside (0, 1] or not a number (field `ratio`), or
/// reservations that leave nothing of the window (field `context_window`).
pub fn threshold(context_window: u32, options: &ThresholdOptions) -> Result<u64> {
    if !(options.ratio > 0.0 && options.ratio <= 1.0) {
        return Err(Error::invalid_input(
            "ratio",
            format!("must be more than 0 and at most 1, not {}", options.ratio),
        ));
    }
    let reserved = options.reserved();
    let left = u64::from(context_window).saturating_sub(reserved);
    if left == 0 {
        return Err(Error::invalid_input(
            "context_window",
            format!("{reserved} tokens reserved leave nothing of a {context_window}-token window"),
        ));
    }
    Ok((left as f64 * options.ratio).floor() as u64)
}

/// A model id's canonical form, what [`CompactionThreshold`] matches ids by: lower case, with
/// a provider or API path prefix (`anthropic/`, `models/`), a `-latest` tag, a date
/// (`-20250929`, `-2025-09-29`, `@20250929`) and a three-digit version (`-001`) taken off the
/// end. `claude-sonnet-4-6-20250929` and `anthropic/claude-sonnet-4-6` are `claude-sonnet-4-6`;
/// `gemini-2.0-flash-001` is `gemini-2.0-flash`.
pub fn canonical_model_id(id: &str) -> String {
    let id = id.trim().to_lowercase();
    let mut id = id.rsplit('/').next().unwrap_or_default().to_owned();
    if let Some(stripped) = id.strip_suffix("-latest") {
        id.truncate(stripped.len());
    }
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    // A date: `-YYYYMMDD`, `@YYYYMMDD` or `-YYYY-MM-DD`.
    for separator in ['-', '@'] {
        if let Some((head, tail)) = id.rsplit_once(separator)
            && digits(tail, 8)
            && !head.is_empty()
        {
            id.truncate(head.len());
        }
    }
    if id.len() > 11 {
        let (head, tail) = id.split_at(id.len() - 11);
        let parts: Vec<&str> = tail.split('-').collect();
        if parts.len() == 4
            && parts[0].is_empty()
            && digits(parts[1], 4)
            && digits(parts[2], 2)
            && digits(parts[3], 2)
            && !head.is_empty()
        {
            id.truncate(head.len());
        }
    }
    if let Some((head, tail)) = id.rsplit_once('-')
        && digits(tail, 3)
        && !head.is_empty()
    {
        id.truncate(head.len());
    }
    id
}

impl CompactionThreshold {
    /// The threshold of `model` (any spelling [`canonical_model_id`] maps to a row of
    /// `matrix`), platform rows first.
    ///
    /// # Errors
    /// [`Error::InvalidInput`]: a model the matrix does not know (field `model`), or the
    /// errors of [`threshold`].
    pub fn of(matrix: &Matrix, model: &str, options: &ThresholdOptions) -> Result<Self> {
        let canonical_id = canonical_model_id(model);
        if canonical_id.is_empty() {
            return Err(Error::invalid_input("model", "must not be empty"));
        }
        let row = matrix
            .rows()
            .find(|row| canonical_model_id(&row.model_id) == canonical_id)
            .ok_or_else(|| {
                Error::invalid_input(
                    "model",
                    format!(
                        "{model:?} is not in the model matrix (add a row with its context window)"
                    ),
                )
            })?;
        Ok(Self {
            model_id: row.model_id.to_string(),
            canonical_id,
            context_window: row.context_window,
            reserved_tokens: options.reserved(),
            threshold: threshold(row.context_window, options)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_original_constants_give_the_original_figure() {
        let options = ThresholdOptions::default();
        assert_eq!(threshold(200_000, &options).unwrap(), 137_712);
        assert_eq!(threshold(1_000_000, &options).unwrap(), 737_712);
    }

    #[test]
    fn dates_versions_and_prefixes_come_off() {
        for (id, canonical) in [
            ("claude-sonnet-4-6-20250929", "claude-sonnet-4-6"),
            ("Claude-Haiku-4-5@20251001", "claude-haiku-4-5"),
            ("anthropic/claude-opus-4-6", "claude-opus-4-6"),
            ("models/gemini-2.0-flash-001", "gemini-2.0-flash"),
            ("gpt-4o-2024-08-06", "gpt-4o"),
            ("claude-3-5-sonnet-latest", "claude-3-5-sonnet"),
            ("gpt-4o", "gpt-4o"),
            ("20250929", "20250929"),
        ] {
            assert_eq!(canonical_model_id(id), canonical, "{id}");
        }
    }
}
