//! What a routed message is about, and how sure the answer should sound.
//!
//! - [`Entities`]: the deal, contact, company, competitor and time reference a message names,
//!   read from its capitalised phrases and the words around them ("the **Acme** deal",
//!   "against **Gong**", "with **Sarah Chen**", "**last quarter**"). The original's Slack
//!   classifier read them with four diverging regex copies and no word boundaries.
//! - [`Band`]: the original classifier's confidence bands, `direct` at 0.8 or more,
//!   `with_clarification` at 0.5 or more, else `ask_first`.

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// The confidence from which an answer is given directly.
pub const DIRECT_AT: f64 = 0.8;
/// The confidence from which an answer is given with a clarifying line.
pub const CLARIFY_AT: f64 = 0.5;

/// How an answer should treat its route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Band {
    /// Answer.
    Direct,
    /// Answer, saying what was understood ("I think you're asking about the Acme deal").
    WithClarification,
    /// Ask what was meant first.
    AskFirst,
}

impl Band {
    /// The band of `confidence`.
    pub fn of(confidence: f64) -> Self {
        if confidence >= DIRECT_AT {
            Band::Direct
        } else if confidence >= CLARIFY_AT {
            Band::WithClarification
        } else {
            Band::AskFirst
        }
    }
}

/// What a message names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entities {
    /// A deal, opportunity or account ("Acme" in "the Acme deal").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deal: Option<String>,
    /// A person.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    /// A company.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    /// A competitor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub competitor: Option<String>,
    /// When: "this week", "Q3", "yesterday", "friday".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_reference: Option<String>,
}

impl Entities {
    /// True when nothing was found.
    pub fn is_empty(&self) -> bool {
        *self == Entities::default()
    }
}

/// Capitalised words never taken for a name.
const NOT_NAMES: &[&str] = &[
    "A",
    "AI",
    "An",
    "Any",
    "Are",
    "Can",
    "Could",
    "CRM",
    "Did",
    "Do",
    "Does",
    "Draft",
    "Email",
    "Find",
    "Friday",
    "Get",
    "Give",
    "Has",
    "Have",
    "Hey",
    "Hi",
    "How",
    "I",
    "I'd",
    "I'll",
    "I'm",
    "I've",
    "Is",
    "Keel",
    "Let",
    "Let's",
    "List",
    "Monday",
    "My",
    "Please",
    "Prep",
    "Q1",
    "Q2",
    "Q3",
    "Q4",
    "Remind",
    "Saturday",
    "Schedule",
    "Send",
    "Set",
    "Should",
    "Show",
    "Slack",
    "Summarize",
    "Summarise",
    "Sunday",
    "Tell",
    "The",
    "This",
    "Thursday",
    "Tuesday",
    "Update",
    "Wednesday",
    "What",
    "What's",
    "When",
    "Where",
    "Which",
    "Who",
    "Why",
    "Will",
    "Write",
];

static PHRASE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(\p{Lu}[\p{L}\p{N}&.'’-]*(?:\s+\p{Lu}[\p{L}\p{N}&.'’-]*)*)")
        .expect("phrase regex")
});
static TIME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(?:(?:this|last|next)\s+(?:week|month|quarter|year)|q[1-4]|end\s+of\s+(?:the\s+)?(?:week|month|quarter|year)|today|yesterday|tomorrow|tonight|monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b",
    )
    .expect("time regex")
});
static DEAL_AFTER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^[\s'’s]*(?:deal|opportunity|opp|account|renewal|contract|expansion)\b")
        .expect("deal regex")
});
static COMPETITOR_BEFORE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:vs\.?|versus|against|compared\s+to|compete\s+with|competing\s+with|switch(?:ing)?\s+(?:to|from)|beat|losing\s+to|lost\s+to)\s*$")
        .expect("competitor regex")
});
static CONTACT_BEFORE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:with|to|from|call|email|emailed|ping|met|meet|spoke|talked|who\s+is|know\s+about)\s*$")
        .expect("contact regex")
});

/// True for a capitalised word that is not a name ("How's" too).
fn not_name(word: &str) -> bool {
    let bare = word.trim_end_matches("'s").trim_end_matches("’s");
    NOT_NAMES.contains(&word) || NOT_NAMES.contains(&bare)
}

/// The entities of `message` (its original text: capitals matter).
pub fn extract(message: &str) -> Entities {
    let mut found = Entities {
        time_reference: TIME.find(message).map(|m| m.as_str().to_lowercase()),
        ..Entities::default()
    };
    for m in PHRASE.find_iter(message) {
        let mut words: Vec<&str> = m.as_str().split_whitespace().collect();
        while words.first().is_some_and(|w| not_name(w)) {
            words.remove(0);
        }
        while words.last().is_some_and(|w| not_name(w)) {
            words.pop();
        }
        if words.is_empty() {
            continue;
        }
        let name = words
            .join(" ")
            .trim_end_matches(['.', '\'', '’'])
            .trim_end_matches("'s")
            .to_owned();
        let start = m.start() + m.as_str().find(words[0]).unwrap_or(0);
        let before = &message[..start];
        let after = &message[m.end()..];
        if DEAL_AFTER.is_match(after) {
            found.deal.get_or_insert_with(|| name.clone());
            found.company.get_or_insert(name);
        } else if COMPETITOR_BEFORE.is_match(before) {
            found.competitor.get_or_insert(name);
        } else if words.len() >= 2 || CONTACT_BEFORE.is_match(before) {
            found.contact.get_or_insert(name);
        } else {
            found.company.get_or_insert(name);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_follow_the_original_thresholds() {
        assert_eq!(Band::of(0.8), Band::Direct);
        assert_eq!(Band::of(0.79), Band::WithClarification);
        assert_eq!(Band::of(0.5), Band::WithClarification);
        assert_eq!(Band::of(0.49), Band::AskFirst);
    }

    #[test]
    fn entities_come_from_capitalised_phrases_and_their_neighbours() {
        let e = extract("How's the Acme deal looking for Q3?");
        assert_eq!(e.deal.as_deref(), Some("Acme"));
        assert_eq!(e.company.as_deref(), Some("Acme"));
        assert_eq!(e.time_reference.as_deref(), Some("q3"));
        let e = extract("how do we win against Gong");
        assert_eq!(e.competitor.as_deref(), Some("Gong"));
        let e = extract("When did I last talk to Sarah Chen?");
        assert_eq!(e.contact.as_deref(), Some("Sarah Chen"));
        let e = extract("research Initech before next week");
        assert_eq!(e.company.as_deref(), Some("Initech"));
        assert_eq!(e.time_reference.as_deref(), Some("next week"));
        assert!(extract("what's my pipeline").is_empty());
    }
}
