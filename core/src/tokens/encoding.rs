//! Exact token counts for OpenAI's byte-pair encodings, through the `tiktoken` crate, or
//! `bpe-openai` for a text with a long run (see [`super::long_run`]). The vocabularies are
//! compiled into both: nothing is downloaded at run time.

use std::cell::Cell;

use serde::{Deserialize, Serialize};

use super::long_run::parts;
use crate::{Error, Result};

/// One of the byte-pair encodings Keel counts exactly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// GPT-4o, GPT-4.1, GPT-5, o1, o3, o4-mini: the default, and Keel's base for estimates.
    #[default]
    O200kBase,
    /// GPT-4, GPT-4 Turbo, GPT-3.5 Turbo, the text-embedding-3 models.
    Cl100kBase,
}

impl Encoding {
    /// Every encoding, in the order of their names.
    pub const ALL: [Encoding; 2] = [Encoding::O200kBase, Encoding::Cl100kBase];

    /// Its name as tiktoken spells it (`o200k_base`).
    pub fn name(self) -> &'static str {
        match self {
            Encoding::O200kBase => "o200k_base",
            Encoding::Cl100kBase => "cl100k_base",
        }
    }

    /// The encoding called `name`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on field `encoding` for a name Keel does not count.
    pub fn parse(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|e| e.name() == name)
            .ok_or_else(|| {
                Error::invalid_input(
                    "encoding",
                    format!("{name:?} is not one of o200k_base, cl100k_base"),
                )
            })
    }

    /// The encoding called `name`, or o200k_base when none is named.
    ///
    /// # Errors
    /// As [`Encoding::parse`].
    pub fn named(name: Option<&str>) -> Result<Self> {
        name.map_or(Ok(Self::default()), Self::parse)
    }

    fn bpe(self) -> &'static tiktoken::CoreBpe {
        warm_piece_cache();
        vocabulary(self.name())
    }

    fn linear(self) -> &'static bpe_openai::Tokenizer {
        match self {
            Encoding::O200kBase => bpe_openai::o200k_base(),
            Encoding::Cl100kBase => bpe_openai::cl100k_base(),
        }
    }

    /// The tokens of `text`, exactly as tiktoken's `encode_ordinary` counts them (special
    /// tokens such as `<|endoftext|>` are ordinary text), in time linear in its length.
    /// Allocates nothing on prose and code: repeated pieces are remembered per thread.
    pub fn count(self, text: &str) -> u64 {
        parts(text)
            .map(|(part, long)| match long {
                true => self.linear().count(part),
                false => self.bpe().count(part),
            } as u64)
            .sum()
    }

    /// The token ids of `text` (`encode_ordinary`), for tests and callers that cut by tokens.
    pub fn encode(self, text: &str) -> Vec<u32> {
        self.bpe().encode(text)
    }
}

/// tiktoken's compiled-in vocabulary `name`.
fn vocabulary(name: &str) -> &'static tiktoken::CoreBpe {
    // Both vocabularies are compiled in (the crate's features in Cargo.toml).
    tiktoken::get_encoding(name).expect("the vocabulary is compiled in")
}

/// Stack for building tiktoken's per-thread piece cache.
const WARM_STACK: usize = 4 << 20;

/// Builds this thread's tiktoken piece cache, once per thread, on a stack segment of its
/// own. tiktoken builds the cache (4,096 slots, about 1.2 MB) on the stack when a thread
/// first counts a piece: more than a JVM or Android thread has (1 MB by default), where it
/// crashed the process. A word no vocabulary holds is counted through the cache to build it.
fn warm_piece_cache() {
    thread_local!(static WARM: Cell<bool> = const { Cell::new(false) });
    if WARM.get() {
        return;
    }
    stacker::grow(WARM_STACK, || {
        let _ = vocabulary(Encoding::O200kBase.name()).count(" qzxjvkqzxjvkqzxjvk");
    });
    WARM.set(true);
}

impl std::fmt::Display for Encoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_known_strings() {
        assert_eq!(Encoding::O200kBase.count(""), 0);
        assert_eq!(Encoding::Cl100kBase.count("hello world"), 2);
        assert_eq!(Encoding::O200kBase.count("<|endoftext|>"), 7);
        assert_eq!(
            Encoding::parse("cl100k_base").unwrap(),
            Encoding::Cl100kBase
        );
        let err = Encoding::parse("p50k_base").unwrap_err();
        assert_eq!(err.field(), Some("encoding"));
    }
}
