//! [`TokenCounter`]: counts for a model, with the per-model correction learnt from the usage
//! providers report through Keel's LLM calls.

use std::collections::HashMap;
use std::sync::RwLock;

use super::message::{raw_request_tokens, scaled};
use super::{TokenCount, TokenModel};
use crate::Result;
use crate::llm::Message;
use crate::memory::messages_from_value;
use crate::options::Case;

/// How far one report moves a model's factor towards the ratio it shows.
pub const SMOOTHING: f64 = 0.3;
/// Reports on requests smaller than this many counted tokens are too noisy to learn from.
pub const MIN_CALIBRATION_TOKENS: u64 = 32;
/// The bounds of a learnt factor: a ratio outside them is a misreport, not a tokenizer.
pub const FACTOR_BOUNDS: (f64, f64) = (0.5, 4.0);

/// Counts tokens for models, exact for OpenAI's and calibrated for the others. One per
/// [`crate::llm::Llm`] handle learns from its calls; [`TokenCounter::default`] starts from
/// each family's default factor.
#[derive(Debug, Default)]
pub struct TokenCounter {
    /// Learnt factors by canonical model id.
    factors: RwLock<HashMap<String, f64>>,
}

impl TokenCounter {
    /// The correction for `model`: 1 for an exact count, else the learnt factor or the
    /// family's default.
    pub fn factor(&self, model: &TokenModel) -> f64 {
        if model.exact() {
            return 1.0;
        }
        let factors = self.factors.read().unwrap_or_else(|e| e.into_inner());
        factors
            .get(&model.canonical_id)
            .copied()
            .unwrap_or_else(|| model.family.default_factor())
    }

    /// The tokens of `text` alone (no message framing) for `model`.
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] on field `model` for an empty id.
    pub fn count_text(&self, model: &str, text: &str) -> Result<TokenCount> {
        let model = TokenModel::of(model)?;
        let factor = self.factor(&model);
        Ok(count(
            &model,
            model.encoding.count(text),
            model.exact(),
            factor,
        ))
    }

    /// The input tokens of a request of `messages` to `model`: each message's framing, role,
    /// text, tool calls, tool results and images, and the reply's priming.
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] on field `model` for an empty id.
    pub fn count_messages(&self, model: &str, messages: &[Message]) -> Result<TokenCount> {
        self.count_request(model, None, messages)
    }

    /// The input tokens of a request to `model` of `system` text and `messages`: what a
    /// model call's credit reservation is counted at.
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] on field `model` for an empty id.
    pub fn count_request(
        &self,
        model: &str,
        system: Option<&str>,
        messages: &[Message],
    ) -> Result<TokenCount> {
        let model = TokenModel::of(model)?;
        let system = system.map(system_message);
        let (raw, exact) = raw_request_tokens(&model, system.iter().chain(messages));
        let factor = self.factor(&model);
        Ok(count(&model, raw, exact && model.exact(), factor))
    }

    /// [`TokenCounter::count_messages`] with the messages as a binding passes them (a JSON
    /// list, keys spelt in `case`).
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] naming the field: `model`, or the message and its field
    /// (`messages[0].role`).
    pub fn count_messages_value(
        &self,
        model: &str,
        messages: serde_json::Value,
        case: Case,
    ) -> Result<TokenCount> {
        let messages = messages_from_value(messages, case)?;
        self.count_messages(model, &messages)
    }

    /// Learns from a provider's report: a request of `messages` to `model`, with its
    /// `system` text, was billed `reported` input tokens. Exact models, small requests and
    /// ratios outside [`FACTOR_BOUNDS`] teach nothing. Returns the model's factor after it.
    pub fn observe(
        &self,
        model: &str,
        system: Option<&str>,
        messages: &[Message],
        reported: u64,
    ) -> Option<f64> {
        let model = TokenModel::of(model).ok()?;
        // An exact model has nothing to learn: its request is not counted at all.
        if model.exact() {
            return None;
        }
        let system = system.map(system_message);
        let (raw, _) = raw_request_tokens(&model, system.iter().chain(messages));
        if raw < MIN_CALIBRATION_TOKENS {
            return None;
        }
        let ratio = reported as f64 / raw as f64;
        if !(FACTOR_BOUNDS.0..=FACTOR_BOUNDS.1).contains(&ratio) {
            return None;
        }
        let mut factors = self.factors.write().unwrap_or_else(|e| e.into_inner());
        let factor = factors
            .entry(model.canonical_id.clone())
            .or_insert_with(|| model.family.default_factor());
        *factor += SMOOTHING * (ratio - *factor);
        Some(*factor)
    }
}

fn count(model: &TokenModel, raw: u64, exact: bool, factor: f64) -> TokenCount {
    TokenCount {
        tokens: scaled(raw, factor),
        exact,
        encoding: model.encoding,
        model: model.canonical_id.clone(),
        factor,
    }
}

/// A request's system text as the turn it is counted as.
fn system_message(text: &str) -> Message {
    Message {
        role: crate::llm::Role::System,
        content: vec![crate::llm::Part::text(text)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_move_an_estimate_towards_the_billed_ratio() {
        let counter = TokenCounter::default();
        let messages = vec![Message::user("word ".repeat(200))];
        let before = counter
            .count_messages("claude-sonnet-4-6", &messages)
            .unwrap();
        assert!(!before.exact);
        assert_eq!(before.factor, 1.2);
        let raw = (before.tokens as f64 / 1.2).round() as u64;
        for _ in 0..40 {
            counter.observe("claude-sonnet-4-6-20250929", None, &messages, raw * 3 / 2);
        }
        let after = counter
            .count_messages("claude-sonnet-4-6", &messages)
            .unwrap();
        assert!((after.factor - 1.5).abs() < 0.01, "{}", after.factor);
        // A misreport and an exact model teach nothing.
        assert_eq!(
            counter.observe("claude-sonnet-4-6", None, &messages, raw * 10),
            None
        );
        assert_eq!(counter.observe("gpt-4o", None, &messages, raw * 2), None);
        assert!(counter.count_messages("gpt-4o", &messages).unwrap().exact);
    }
}
