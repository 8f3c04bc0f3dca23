//! Which encoding counts a model's tokens, and whether that count is exact.

use serde::Serialize;

use super::Encoding;
use crate::memory::canonical_model_id;
use crate::{Error, Result};

/// Whose tokenizer a model uses: it decides the message framing and whether Keel's count is
/// exact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// OpenAI's models: counted exactly with their own encoding.
    OpenAi,
    /// Claude: estimated from o200k_base, corrected by the usage Anthropic reports.
    Anthropic,
    /// Gemini and Gemma: estimated from o200k_base, corrected by the usage Google reports.
    Google,
    /// Any other model: estimated from o200k_base, corrected by reported usage.
    Other,
}

impl Family {
    /// The ratio of the provider's tokens to o200k_base's before any usage is reported:
    /// Claude's tokenizer spends about a fifth more on English prose, Gemini's about the same.
    pub fn default_factor(self) -> f64 {
        match self {
            Family::Anthropic => 1.2,
            Family::OpenAi | Family::Google | Family::Other => 1.0,
        }
    }

    /// Tokens billed for one image whose size Keel does not know: OpenAI's high-detail
    /// 1024×1024 tile count, Anthropic's width × height / 750 for 1024×1024, Gemini's flat 258.
    pub fn image_tokens(self) -> u64 {
        match self {
            Family::OpenAi => 765,
            Family::Anthropic => 1_398,
            Family::Google => 258,
            Family::Other => 1_000,
        }
    }
}

/// How Keel counts one model's tokens.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TokenModel {
    /// The model id as [`canonical_model_id`] spells it.
    pub canonical_id: String,
    /// Whose tokenizer.
    pub family: Family,
    /// The encoding counted: the model's own for OpenAI, o200k_base under an estimate.
    pub encoding: Encoding,
}

/// Prefixes of OpenAI's models on cl100k_base; every other OpenAI model is on o200k_base.
const CL100K_PREFIXES: [&str; 5] = ["gpt-4", "gpt-3.5", "text-embedding-", "davinci", "babbage"];
/// Prefixes of OpenAI's o200k_base models that [`CL100K_PREFIXES`]' `gpt-4` would catch.
const O200K_GPT4: [&str; 3] = ["gpt-4o", "gpt-4.1", "gpt-4.5"];
/// Prefixes of OpenAI's models.
const OPENAI_PREFIXES: [&str; 8] = [
    "gpt-",
    "chatgpt-",
    "o1",
    "o3",
    "o4",
    "text-embedding-",
    "davinci",
    "babbage",
];

impl TokenModel {
    /// How `model` (any spelling: dated, aliased, `openai/`-prefixed) is counted.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on field `model` for an empty id.
    pub fn of(model: &str) -> Result<Self> {
        let canonical_id = canonical_model_id(model);
        if canonical_id.is_empty() {
            return Err(Error::invalid_input("model", "must not be empty"));
        }
        let starts = |prefixes: &[&str]| prefixes.iter().any(|p| canonical_id.starts_with(p));
        let family = if starts(&OPENAI_PREFIXES) {
            Family::OpenAi
        } else if canonical_id.starts_with("claude") {
            Family::Anthropic
        } else if canonical_id.starts_with("gemini") || canonical_id.starts_with("gemma") {
            Family::Google
        } else {
            Family::Other
        };
        let encoding =
            if family == Family::OpenAi && starts(&CL100K_PREFIXES) && !starts(&O200K_GPT4) {
                Encoding::Cl100kBase
            } else {
                Encoding::O200kBase
            };
        Ok(Self {
            canonical_id,
            family,
            encoding,
        })
    }

    /// True when the count is the provider's own (OpenAI's encodings); false for an estimate.
    pub fn exact(&self) -> bool {
        self.family == Family::OpenAi
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_find_their_encoding() {
        for (model, family, encoding) in [
            ("gpt-4o-2024-08-06", Family::OpenAi, Encoding::O200kBase),
            ("gpt-4.1-mini", Family::OpenAi, Encoding::O200kBase),
            ("gpt-4-turbo", Family::OpenAi, Encoding::Cl100kBase),
            ("gpt-4", Family::OpenAi, Encoding::Cl100kBase),
            ("gpt-3.5-turbo", Family::OpenAi, Encoding::Cl100kBase),
            ("openai/o3-mini", Family::OpenAi, Encoding::O200kBase),
            (
                "claude-sonnet-4-6-20250929",
                Family::Anthropic,
                Encoding::O200kBase,
            ),
            ("gemini-2.5-flash", Family::Google, Encoding::O200kBase),
            ("llama-3.3-70b", Family::Other, Encoding::O200kBase),
        ] {
            let m = TokenModel::of(model).unwrap();
            assert_eq!((m.family, m.encoding), (family, encoding), "{model}");
        }
        assert_eq!(TokenModel::of(" ").unwrap_err().field(), Some("model"));
    }
}
