//! Text as routing reads it: a message's canonical form (what the cache keys on) and its
//! terms (what the skill index scores).
//!
//! - Canonical form: Unicode NFKC, full case folding, whitespace collapsed to one space,
//!   trimmed. "  How's the ACME deal? " and "how's the acme deal?" are one cache entry.
//! - Terms: the canonical form split at Unicode word boundaries (UAX #29, so punctuation never
//!   sticks to a word: "pipeline?" is "pipeline"), stop words dropped, each word reduced by the
//!   Snowball English stemmer ("forecasts", "forecasting" and "forecast" are one term) after
//!   British spellings are read as American ones ("summarise" is "summarize", "analyse" is
//!   "analyze", "behaviour" is "behavior"): messages and skills are written in both.

use std::sync::LazyLock;

use rust_stemmers::{Algorithm, Stemmer};
use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;
use unicode_segmentation::UnicodeSegmentation;

use crate::error::{Error, Result};

/// The longest message routed, in bytes of UTF-8. A longer one is `invalid_input` (field
/// `message`): a route is decided from a question, not a pasted document.
pub const MAX_MESSAGE_BYTES: usize = 32 * 1024;

/// The characters of a message kept in the routing log.
pub const SNIPPET_CHARS: usize = 120;

/// Words that carry no routing signal. Question words stay: "who is" asks for a contact,
/// "when" for a date.
const STOP_WORDS: &[&str] = &[
    "a", "about", "all", "am", "an", "and", "any", "are", "as", "at", "be", "been", "but", "by",
    "can", "could", "did", "do", "does", "for", "from", "get", "give", "had", "has", "have", "he",
    "her", "here", "him", "his", "i", "i'm", "if", "in", "into", "is", "it", "it's", "its", "just",
    "let", "let's", "me", "might", "my", "of", "on", "or", "our", "please", "s", "she", "should",
    "so", "some", "that", "the", "their", "them", "then", "there", "these", "they", "this",
    "those", "to", "up", "us", "was", "we", "were", "which", "whom", "will", "with", "would",
    "you", "your",
];

static STEMMER: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::English));

/// Checks that `message` can be routed: not blank, at most [`MAX_MESSAGE_BYTES`].
///
/// # Errors
/// [`Error::InvalidInput`] naming `message`.
pub fn check_message(message: &str) -> Result<()> {
    if message.len() > MAX_MESSAGE_BYTES {
        return Err(Error::invalid_input(
            "message",
            format!(
                "is {} bytes; at most {MAX_MESSAGE_BYTES} are routed",
                message.len()
            ),
        ));
    }
    if message.trim().is_empty() {
        return Err(Error::invalid_input("message", "must not be empty"));
    }
    Ok(())
}

/// The canonical form of `message`: NFKC, case folded, whitespace collapsed, trimmed.
pub fn canonical(message: &str) -> String {
    // ASCII is its own NFKC form and folds to lower case: the common case skips both passes.
    let folded = if message.is_ascii() {
        std::borrow::Cow::Borrowed(message)
    } else {
        let nfkc: String = message.nfkc().collect();
        std::borrow::Cow::Owned(caseless::default_case_fold_str(&nfkc))
    };
    let mut out = String::with_capacity(folded.len());
    for word in folded.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    if message.is_ascii() {
        out.make_ascii_lowercase();
    }
    out
}

/// True for a word routing ignores.
pub fn is_stop_word(word: &str) -> bool {
    STOP_WORDS.binary_search(&word).is_ok()
}

/// British endings and their American forms, longest first. Both the skills and the messages
/// pass through them, so a word that merely ends the same way ("advise") changes in both.
const SPELLINGS: &[(&str, &str)] = &[
    ("isations", "izations"),
    ("isation", "ization"),
    ("ysing", "yzing"),
    ("ising", "izing"),
    ("isers", "izers"),
    ("ysed", "yzed"),
    ("yses", "yzes"),
    ("ised", "ized"),
    ("ises", "izes"),
    ("iser", "izer"),
    ("ours", "ors"),
    ("yse", "yze"),
    ("ise", "ize"),
    ("our", "or"),
];

/// `word` with a British ending in its American form ("summarise" is "summarize"); words of
/// five letters or fewer ("rise", "hour", "your") are left alone.
fn american(word: &str) -> std::borrow::Cow<'_, str> {
    if word.len() > 5 {
        for (british, american) in SPELLINGS {
            if let Some(stem) = word.strip_suffix(british) {
                return format!("{stem}{american}").into();
            }
        }
    }
    word.into()
}

/// The stem of one (case-folded) word, with a trailing possessive removed.
pub fn stem(word: &str) -> String {
    let word = word
        .strip_suffix("'s")
        .or_else(|| word.strip_suffix("’s"))
        .unwrap_or(word);
    STEMMER.stem(&american(word)).into_owned()
}

/// The terms of canonical text: words at Unicode boundaries, stop words dropped, stemmed.
pub fn terms(canonical: &str) -> Vec<String> {
    canonical
        .unicode_words()
        .filter(|w| !is_stop_word(w))
        .map(stem)
        .collect()
}

/// The terms of `message`'s capitalised words after its first ("Northwind", "Sarah"): names,
/// when the index does not know them.
pub fn name_terms(message: &str) -> Vec<String> {
    message
        .unicode_words()
        .skip(1)
        .filter(|w| w.starts_with(char::is_uppercase))
        .map(|w| stem(&caseless::default_case_fold_str(w)))
        .collect()
}

/// The routing log's hash of a canonical message: the first 32 hex digits of its SHA-256.
pub fn message_hash(canonical: &str) -> String {
    let digest = Sha256::digest(canonical.as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// The first [`SNIPPET_CHARS`] characters of `message`, control characters replaced.
pub fn snippet(message: &str) -> String {
    message
        .chars()
        .take(SNIPPET_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_words_are_sorted_for_binary_search() {
        assert!(STOP_WORDS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn canonical_folds_case_width_and_space() {
        assert_eq!(
            canonical("  How's   the ＡＣＭＥ\tdeal? "),
            "how's the acme deal?"
        );
        assert_eq!(canonical("Straße"), "strasse");
    }

    #[test]
    fn terms_split_at_word_boundaries_and_stem() {
        assert_eq!(
            terms("what's our pipeline? forecasts for q3"),
            ["what", "pipelin", "forecast", "q3"]
        );
        assert_eq!(terms("the acme's renewal"), ["acm", "renew"]);
    }

    #[test]
    fn british_and_american_spellings_are_one_term() {
        for (british, american) in [
            ("summarise", "summarize"),
            ("summarised", "summarized"),
            ("prioritising", "prioritizing"),
            ("organisation", "organization"),
            ("analyse", "analyze"),
            ("behaviour", "behavior"),
        ] {
            assert_eq!(stem(british), stem(american), "{british}");
        }
        assert_eq!(stem("hours"), "hour");
        assert_ne!(stem("summary"), stem("summit"));
    }

    #[test]
    fn check_message_refuses_blank_and_oversized() {
        assert_eq!(check_message(" \n").unwrap_err().field(), Some("message"));
        let long = "a".repeat(MAX_MESSAGE_BYTES + 1);
        assert_eq!(check_message(&long).unwrap_err().field(), Some("message"));
        assert!(check_message("hi").is_ok());
    }
}
