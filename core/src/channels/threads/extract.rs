//! Thread context extraction's text, as pure functions: the instructions, the transcript the
//! model reads (the newest messages that fit a token budget, the latest exchange always
//! included, after the previous summary), and a strict reader of its answer.
//!
//! The original read at most ten messages, all from before the current exchange, and kept
//! whatever `JSON.parse` accepted (§5.2, §5.5).

use serde::Serialize;
use serde_json::Value;

use crate::llm::Role;
use crate::memory::{EntityKind, MAX_SUMMARY_CHARS};

/// The reply limit of an extraction call (the original's `max_tokens`).
pub const THREAD_SUMMARY_MAX_TOKENS: u32 = 512;
/// The most tokens of messages the model reads (default).
pub const TRANSCRIPT_TOKENS: u64 = 3_000;
/// The most entities kept from one answer.
pub const MAX_THREAD_ENTITIES: usize = 10;
/// The most characters of an entity's name.
pub const MAX_ENTITY_NAME_CHARS: usize = 200;

/// What the model is told.
pub const THREAD_CONTEXT_INSTRUCTIONS: &str = "You summarise a Slack thread between a sales rep \
and their AI copilot, so the copilot remembers it on the web and in its agents. Write 1 to 3 \
sentences on the topics and the outcomes: decisions, commitments, next steps, numbers and dates. \
When a previous summary is given, update it with the new messages. List the deals, contacts \
and companies the thread clearly mentions, by the name it uses (a person's full name when \
given). Answer with one JSON object and nothing else: {\"summary\": \"<1 to 3 sentences>\", \
\"entities\": [{\"entity_type\": \"deal\" | \"contact\" | \"company\", \"name\": \"<name>\"}]}";

/// A message as the transcript reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct TranscriptMessage {
    /// Its seq.
    pub seq: u64,
    /// Who wrote it.
    pub role: Role,
    /// Its text.
    pub text: String,
    /// Its tokens.
    pub tokens: u64,
}

/// The text the model reads: the previous summary, then the newest `messages` (oldest
/// first) whose tokens fit `budget`; the newest is always read, cut to the budget at four
/// bytes a token when it is longer. The seqs read, first and last.
pub fn thread_transcript(
    previous: Option<&str>,
    messages: &[TranscriptMessage],
    budget: u64,
) -> (String, Option<[u64; 2]>) {
    let mut kept: Vec<&TranscriptMessage> = Vec::new();
    let mut used = 0u64;
    for m in messages.iter().rev() {
        if !kept.is_empty() && used + m.tokens > budget {
            break;
        }
        used += m.tokens;
        kept.push(m);
    }
    kept.reverse();
    let mut out = String::new();
    if let Some(previous) = previous.map(str::trim).filter(|p| !p.is_empty()) {
        out.push_str("Previous summary:\n");
        out.push_str(previous);
        out.push_str("\n\nNew messages:\n");
    }
    let cap = usize::try_from(budget.saturating_mul(4)).unwrap_or(usize::MAX);
    for m in &kept {
        let who = match m.role {
            Role::Assistant => "Copilot",
            _ => "Rep",
        };
        let text = m.text.trim();
        let text = match text.char_indices().nth(cap) {
            Some((at, _)) => format!("{}…", &text[..at]),
            None => text.to_owned(),
        };
        out.push_str(&format!("[{}] {who}: {text}\n", m.seq));
    }
    let range = match (kept.first(), kept.last()) {
        (Some(a), Some(b)) => Some([a.seq, b.seq]),
        _ => None,
    };
    (out, range)
}

/// An entity the thread mentions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MentionedEntity {
    /// What it is.
    pub entity_type: EntityKind,
    /// The name the thread uses.
    pub name: String,
}

/// A valid answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ThreadReading {
    /// The summary.
    pub summary: String,
    /// The entities, without repeats (case ignored), at most 10.
    pub entities: Vec<MentionedEntity>,
    /// Entities of the answer dropped, and why (`entities[2]: …`).
    pub dropped: Vec<String>,
}

/// Reads the model's answer: one JSON object (bare or in one code fence) with a `summary`
/// of 1 to 4,000 characters and an optional `entities` list; an entity that is not a deal,
/// contact or company, or whose name is blank or longer than 200 characters, is dropped
/// with its reason.
///
/// # Errors
/// Why the answer as a whole is unusable.
pub fn read_thread_context(answer: &str) -> Result<ThreadReading, String> {
    let text = unfence(answer.trim());
    let value: Value =
        serde_json::from_str(text).map_err(|_| "the answer is not one JSON object".to_owned())?;
    let object = value
        .as_object()
        .ok_or_else(|| "the answer is not one JSON object".to_owned())?;
    let summary = object
        .get("summary")
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or("");
    if summary.is_empty() || summary.chars().count() > MAX_SUMMARY_CHARS {
        return Err(format!(
            "the answer's summary must be 1 to {MAX_SUMMARY_CHARS} characters"
        ));
    }
    let mut reading = ThreadReading {
        summary: summary.to_owned(),
        entities: Vec::new(),
        dropped: Vec::new(),
    };
    let items = match object.get("entities") {
        None | Some(Value::Null) => return Ok(reading),
        Some(Value::Array(items)) => items,
        Some(_) => return Err("the answer's entities is not a list".to_owned()),
    };
    for (i, item) in items.iter().enumerate() {
        let kind = item.get("entity_type").and_then(Value::as_str);
        let kind = match kind {
            Some("deal") => EntityKind::Deal,
            Some("contact") => EntityKind::Contact,
            Some("company") => EntityKind::Company,
            _ => {
                reading.dropped.push(format!(
                    "entities[{i}]: entity_type is not deal, contact or company"
                ));
                continue;
            }
        };
        let name = item.get("name").and_then(Value::as_str).map(str::trim);
        let Some(name) = name.filter(|n| (1..=MAX_ENTITY_NAME_CHARS).contains(&n.chars().count()))
        else {
            reading.dropped.push(format!(
                "entities[{i}]: name must be 1 to {MAX_ENTITY_NAME_CHARS} characters"
            ));
            continue;
        };
        let repeat = reading
            .entities
            .iter()
            .any(|e| e.entity_type == kind && e.name.to_lowercase() == name.to_lowercase());
        if repeat {
            continue;
        }
        if reading.entities.len() == MAX_THREAD_ENTITIES {
            reading
                .dropped
                .push(format!("entities[{i}]: more than {MAX_THREAD_ENTITIES}"));
            continue;
        }
        reading.entities.push(MentionedEntity {
            entity_type: kind,
            name: name.to_owned(),
        });
    }
    Ok(reading)
}

/// The inside of one code fence (```json … ```), or `text`.
fn unfence(text: &str) -> &str {
    let Some(rest) = text.strip_prefix("```") else {
        return text;
    };
    let rest = rest.split_once('\n').map_or(rest, |(_, body)| body);
    rest.trim_end().strip_suffix("```").unwrap_or(rest).trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(seq: u64, role: Role, text: &str, tokens: u64) -> TranscriptMessage {
        TranscriptMessage {
            seq,
            role,
            text: text.into(),
            tokens,
        }
    }

    #[test]
    fn the_budget_keeps_the_newest_and_always_the_latest() {
        let messages = [
            m(1, Role::User, "old", 50),
            m(2, Role::Assistant, "middle", 40),
            m(3, Role::User, "latest", 30),
        ];
        let (text, range) = thread_transcript(Some("Before."), &messages, 70);
        assert_eq!(range, Some([2, 3]));
        assert!(text.starts_with("Previous summary:\nBefore."));
        assert!(text.contains("[2] Copilot: middle\n[3] Rep: latest"));
        let (_, range) = thread_transcript(None, &messages, 1);
        assert_eq!(range, Some([3, 3]));
    }

    #[test]
    fn answers_are_read_strictly() {
        let reading = read_thread_context(
            "```json\n{\"summary\": \"Acme wants a 2-year term.\", \"entities\": [\
             {\"entity_type\": \"company\", \"name\": \"Acme\"},\
             {\"entity_type\": \"company\", \"name\": \"ACME\"},\
             {\"entity_type\": \"meeting\", \"name\": \"QBR\"}]}\n```",
        )
        .unwrap();
        assert_eq!(reading.entities.len(), 1);
        assert_eq!(reading.entities[0].entity_type, EntityKind::Company);
        assert_eq!(reading.dropped.len(), 1);
        assert!(read_thread_context("Sure! Here it is").is_err());
        assert!(read_thread_context("{\"summary\": \"\"}").is_err());
    }
}
