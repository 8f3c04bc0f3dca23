//! Cross-channel context (`conversation_context`): what a user discussed about an entity in
//! one channel (a Slack thread, an agent run, a web session), carried into the next. Writers
//! upsert one row per (user, channel, channel reference, entity); the read path is the one the
//! original intended and never shipped (reference §3.8): entity terms from the message, a
//! recency bonus, the top three, a "Prior Conversation Context" block capped at 8,000
//! characters. Rows untouched for 14 days are archived, never deleted.
//!
//! The scoring and the block are pure ([`prior_context`], with vectors); the store reads the
//! user's newest rows and hands them over.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use unicode_segmentation::UnicodeSegmentation;
use uuid::Uuid;

use super::conversation::ConversationChannel;
use crate::error::{Error, Result};
use crate::options::de;

/// The heading of the block.
pub const CONTEXT_HEADING: &str = "## Prior Conversation Context";
/// The most characters of the block, heading included (about 2,000 tokens).
pub const MAX_CONTEXT_CHARS: usize = 8_000;
/// The most entries in the block.
pub const MAX_CONTEXT_ENTRIES: usize = 3;
/// The most entity terms read from a message.
pub const MAX_ENTITY_TERMS: usize = 10;
/// Rows older than this are not read (7 days).
pub const CONTEXT_WINDOW_MS: i64 = 7 * 86_400_000;
/// The most rows the read path scores (the user's newest).
pub const CONTEXT_ROWS_READ: u32 = 20;
/// The most characters of a stored summary.
pub const MAX_SUMMARY_CHARS: usize = 4_000;

/// What a context row is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityType {
    /// A deal.
    Deal,
    /// A contact.
    Contact,
    /// A company.
    Company,
    /// A meeting.
    Meeting,
    /// A task.
    Task,
}

impl EntityType {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deal => "deal",
            Self::Contact => "contact",
            Self::Company => "company",
            Self::Meeting => "meeting",
            Self::Task => "task",
        }
    }

    pub(super) fn parse(name: &str) -> Result<Self> {
        serde_json::from_value(serde_json::Value::String(name.to_owned()))
            .map_err(|_| Error::Internal(format!("a stored entity type {name:?}")))
    }
}

impl ConversationChannel {
    /// The name `conversation_context` stores (the platform's: `web_copilot`, `slack_copilot`,
    /// `fleet_agent`).
    pub fn context_name(self) -> &'static str {
        match self {
            Self::Web => "web_copilot",
            Self::Slack => "slack_copilot",
            Self::Agent => "fleet_agent",
        }
    }

    pub(super) fn from_context_name(name: &str) -> Result<Self> {
        match name {
            "web_copilot" => Ok(Self::Web),
            "slack_copilot" => Ok(Self::Slack),
            "fleet_agent" => Ok(Self::Agent),
            other => Err(Error::Internal(format!("a stored channel {other:?}"))),
        }
    }
}

/// One row of context, as written or read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextEntry {
    /// The org.
    #[serde(deserialize_with = "de::uuid")]
    pub org_id: Uuid,
    /// The user (the platform's auth user id).
    #[serde(deserialize_with = "de::uuid")]
    pub user_id: Uuid,
    /// Where it was discussed (`web`, `slack`, `agent`, or the platform's `web_copilot`,
    /// `slack_copilot`, `fleet_agent`).
    pub channel: ConversationChannel,
    /// The Slack thread's `ts`, the agent run's trace id, the web conversation's id.
    #[serde(default)]
    pub channel_ref: Option<String>,
    /// What it is about.
    pub entity_type: EntityType,
    /// Which one.
    #[serde(deserialize_with = "de::uuid")]
    pub entity_id: Uuid,
    /// What was said about it (at most 4,000 characters).
    pub summary: String,
    /// The entity's name as it was mentioned ("Acme renewal"); the read path matches a
    /// message's names against it as well as the summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_name: Option<String>,
    /// The fleet agent that wrote the row (channel `agent`); its `channel_ref` defaults to
    /// it, so each agent keeps one row per entity, replaced on each run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_name: Option<String>,
    /// When it was last written (RFC 3339); set by the database, ignored on write.
    #[serde(default)]
    pub last_updated: String,
}

impl ContextEntry {
    /// Checks what a writer passes.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `summary` (empty or longer than 4,000 characters),
    /// `channel_ref` (empty or longer than 200 bytes), `entity_name` or `agent_name` (blank or
    /// longer than 200 characters).
    pub fn validate(&self) -> Result<()> {
        for (field, name) in [
            ("entity_name", &self.entity_name),
            ("agent_name", &self.agent_name),
        ] {
            if let Some(name) = name {
                crate::idents::short_name(field, name)?;
            }
        }
        let summary = self.summary.trim();
        if summary.is_empty() || summary.chars().count() > MAX_SUMMARY_CHARS {
            return Err(Error::invalid_input(
                "summary",
                format!("must be 1 to {MAX_SUMMARY_CHARS} characters"),
            ));
        }
        if let Some(r) = &self.channel_ref
            && (r.trim().is_empty() || r.len() > 200)
        {
            return Err(Error::invalid_input(
                "channel_ref",
                "must be 1 to 200 bytes",
            ));
        }
        Ok(())
    }

    /// The row's channel reference: the one given, else the agent's name for an agent's row.
    pub fn key_ref(&self) -> Option<String> {
        self.channel_ref.clone().or_else(|| match self.channel {
            ConversationChannel::Agent => self.agent_name.as_ref().map(|a| a.trim().to_owned()),
            _ => None,
        })
    }
}

impl From<super::link::EntityKind> for EntityType {
    fn from(kind: super::link::EntityKind) -> Self {
        match kind {
            super::link::EntityKind::Deal => Self::Deal,
            super::link::EntityKind::Contact => Self::Contact,
            super::link::EntityKind::Company => Self::Company,
        }
    }
}

/// A row the read path chose, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoredContext {
    /// The row.
    pub entry: ContextEntry,
    /// 2 per entity term found in the summary, 3 when under 24 hours old, 1 under 72.
    pub score: u32,
    /// The terms found.
    pub matched: Vec<String>,
}

/// The context carried into a message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PriorContext {
    /// The entity terms read from the message.
    pub terms: Vec<String>,
    /// The rows chosen, best first (at most 3).
    pub entries: Vec<ScoredContext>,
    /// The block to put in the prompt; `None` when nothing was chosen.
    pub block: Option<String>,
}

/// The entity terms of `message`: quoted strings, then runs of capitalised words (a run's
/// leading stop words dropped, so "How" and "What" are not names), without repeats (case
/// ignored), at most 10.
pub fn entity_terms(message: &str) -> Vec<String> {
    let mut terms: Vec<String> = Vec::new();
    let mut push = |term: &str| {
        let term = term.trim();
        if term.chars().count() >= 2
            && terms.len() < MAX_ENTITY_TERMS
            && !terms
                .iter()
                .any(|t| t.to_lowercase() == term.to_lowercase())
        {
            terms.push(term.to_owned());
        }
    };
    // Double quotes only: single ones are mostly apostrophes ("Acme's", "didn't").
    for (open, close) in [('"', '"'), ('“', '”')] {
        let mut rest = message;
        while let Some(start) = rest.find(open) {
            let after = &rest[start + open.len_utf8()..];
            let Some(end) = after.find(close) else { break };
            if end <= 100 {
                push(&after[..end]);
            }
            rest = &after[end + close.len_utf8()..];
        }
    }
    let mut run: Vec<&str> = Vec::new();
    let mut flush = |run: &mut Vec<&str>| {
        let start = run
            .iter()
            .position(|w| !is_leading_word(w))
            .unwrap_or(run.len());
        if start < run.len() {
            push(&run[start..].join(" "));
        }
        run.clear();
    };
    let mut last_end = 0;
    for (at, word) in message.unicode_word_indices() {
        // A run continues only across spaces.
        let gap = &message[last_end..at];
        if !gap.chars().all(|c| c == ' ') {
            flush(&mut run);
        }
        if word.starts_with(char::is_uppercase) {
            run.push(word.trim_end_matches("'s").trim_end_matches("’s"));
        } else {
            flush(&mut run);
        }
        last_end = at + word.len();
    }
    flush(&mut run);
    terms
}

/// Words that start a sentence or a request rather than name something ("How", "Tell", "I").
const LEADING_WORDS: &[&str] = &[
    "a", "and", "any", "are", "but", "can", "could", "did", "do", "does", "find", "give", "had",
    "has", "have", "hello", "hey", "hi", "how", "i", "is", "let", "my", "no", "ok", "okay", "our",
    "please", "should", "show", "so", "tell", "thanks", "the", "was", "we", "were", "what", "when",
    "where", "which", "who", "why", "will", "would", "yes", "you",
];

/// True when a capitalised `word` is not a name by itself (see [`LEADING_WORDS`]).
fn is_leading_word(word: &str) -> bool {
    let lower = word.to_lowercase();
    LEADING_WORDS.binary_search(&lower.as_str()).is_ok()
        || crate::routing::text::is_stop_word(&lower)
}

/// True when `term` occurs in `text` as whole words (case ignored).
fn contains_words(text: &str, term: &str) -> bool {
    let (text, term) = (text.to_lowercase(), term.to_lowercase());
    let boundary = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
    text.match_indices(&term).any(|(at, _)| {
        boundary(text[..at].chars().next_back()) && boundary(text[at + term.len()..].chars().next())
    })
}

/// The context carried into `message` from `rows` (the user's newest rows) at `now`: rows older
/// than 7 days are skipped; each scores 2 per entity term found in its summary (whole words,
/// case ignored), plus 3 when under 24 hours old or 1 under 72; rows scoring 0 are dropped; the
/// best 3 (newest first on ties) make the block, capped at 8,000 characters.
pub fn prior_context(message: &str, rows: &[ContextEntry], now: DateTime<Utc>) -> PriorContext {
    let terms = entity_terms(message);
    let mut scored: Vec<(ScoredContext, i64)> = rows
        .iter()
        .filter_map(|row| {
            let at = DateTime::parse_from_rfc3339(&row.last_updated).ok()?;
            let age = (now - at.with_timezone(&Utc)).num_milliseconds();
            if age > CONTEXT_WINDOW_MS {
                return None;
            }
            let matched: Vec<String> = terms
                .iter()
                .filter(|t| {
                    contains_words(&row.summary, t)
                        || row
                            .entity_name
                            .as_deref()
                            .is_some_and(|n| contains_words(n, t))
                })
                .cloned()
                .collect();
            let recency = match age {
                a if a < 86_400_000 => 3,
                a if a < 3 * 86_400_000 => 1,
                _ => 0,
            };
            let score = 2 * matched.len() as u32 + recency;
            (score > 0).then(|| {
                let entry = ScoredContext {
                    entry: row.clone(),
                    score,
                    matched,
                };
                (entry, at.timestamp_millis())
            })
        })
        .collect();
    scored.sort_by(|a, b| b.0.score.cmp(&a.0.score).then(b.1.cmp(&a.1)));
    scored.truncate(MAX_CONTEXT_ENTRIES);
    let entries: Vec<ScoredContext> = scored.into_iter().map(|(s, _)| s).collect();
    let block = (!entries.is_empty()).then(|| block(&entries));
    PriorContext {
        terms,
        entries,
        block,
    }
}

/// The block: the heading, then `[Context from <channel> — <entity type> — <date>]: summary`
/// per entry (`<channel> (<agent>)` and `<entity type> <name>` when the row has them), cut
/// at 8,000 characters (an entry cut short ends with "…").
fn block(entries: &[ScoredContext]) -> String {
    let mut out = String::from(CONTEXT_HEADING);
    let mut chars = out.chars().count();
    for e in entries {
        let date = e.entry.last_updated.get(..10).unwrap_or("");
        let channel = match &e.entry.agent_name {
            Some(agent) => format!("{} ({agent})", e.entry.channel.context_name()),
            None => e.entry.channel.context_name().to_owned(),
        };
        let entity = match &e.entry.entity_name {
            Some(name) => format!("{} {name}", e.entry.entity_type.as_str()),
            None => e.entry.entity_type.as_str().to_owned(),
        };
        let line = format!(
            "\n[Context from {channel} — {entity} — {date}]: {}",
            e.entry.summary.trim()
        );
        let n = line.chars().count();
        if chars + n <= MAX_CONTEXT_CHARS {
            out.push_str(&line);
            chars += n;
            continue;
        }
        let room = MAX_CONTEXT_CHARS.saturating_sub(chars + 1);
        if room > 40 {
            out.extend(line.chars().take(room));
            out.push('…');
        }
        break;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_are_names_and_quotes_not_sentence_starts() {
        assert_eq!(
            entity_terms("How is the Acme Corp renewal going with \"Project Falcon\"?"),
            vec!["Project Falcon", "Acme Corp"]
        );
        assert_eq!(
            entity_terms("What did Sarah say about Acme's pricing?"),
            vec!["Sarah", "Acme"]
        );
        assert!(entity_terms("thanks! how are you?").is_empty());
    }

    #[test]
    fn leading_words_are_sorted() {
        assert!(LEADING_WORDS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn a_term_matches_whole_words_only() {
        assert!(contains_words("Acme moved to legal.", "acme"));
        assert!(!contains_words("Acmeville moved to legal.", "Acme"));
    }
}
