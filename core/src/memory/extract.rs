//! Fact extraction's text, as pure functions: the prompt (the original's five categories,
//! fields and guidelines, §3.6, plus provenance and superseding), the transcript the model
//! reads (each turn labelled with its seq), and a strict reader of the model's answer.
//!
//! The original kept whatever `JSON.parse` accepted. Here the answer must be a JSON array
//! (bare or in one code fence) of objects with exactly the documented keys; an item that breaks
//! a rule is rejected with its index, field and reason, and the others are kept. Items under
//! [`MIN_CONFIDENCE`] are dropped, as the original did, and counted.

use serde::Serialize;
use serde_json::{Map, Value};

use super::conversation::StoredMessage;
use super::fact::{FactCategory, MAX_CONTENT_CHARS, MAX_ENTITY_CHARS, MAX_SUBJECT_CHARS};
use crate::llm::Part;

/// Facts the model is less sure of are not kept (the original's threshold).
pub const MIN_CONFIDENCE: f64 = 0.5;
/// The reply limit of an extraction call (the original's `max_tokens`).
pub const EXTRACTION_MAX_TOKENS: u32 = 2_048;
/// The most known facts shown to the model, so it can say which one a new fact replaces.
pub const MAX_KNOWN_FACTS: usize = 20;

/// The bytes of a tool result the model reads.
const TOOL_RESULT_BYTES: usize = 500;

/// The keys an extracted item may have.
const KEYS: [&str; 9] = [
    "category",
    "subject",
    "content",
    "confidence",
    "deal_name",
    "contact_name",
    "company_name",
    "source",
    "supersedes",
];

/// The system prompt of an extraction call.
pub fn extraction_prompt() -> String {
    let mut out = String::from(
        "You extract facts worth remembering from a sales copilot conversation, so later \
         conversations can use them.\n\nCategories:\n",
    );
    for category in FactCategory::ALL {
        out.push_str(&format!(
            "- {}: {}\n",
            category.as_str(),
            category.definition()
        ));
    }
    out.push_str(
        "\nFor each fact give: category; subject (who or what, a few words); content (the fact, \
         one or two sentences); confidence (0 to 1); source (the [#n] numbers of the turns it \
         comes from); and when they apply deal_name, contact_name, company_name. When a fact \
         updates or contradicts a known fact, add supersedes with the known fact's label \
         (\"F2\").\n\nGuidelines: be specific; skip small talk and trivia; skip anything you \
         are less than 0.5 sure of; never invent names.\n\nAnswer with a JSON array of objects \
         and nothing else, or [] when there is nothing worth keeping.",
    );
    out
}

/// A known fact as the model sees it: its label and text.
#[derive(Debug, Clone, PartialEq)]
pub struct KnownFact {
    /// `F1`, `F2`, …
    pub label: String,
    /// `[category] subject: content`.
    pub text: String,
}

/// The user turn of an extraction call: the known facts (labelled `F1`…), then the turns as
/// `[#seq role]: text` blocks separated by blank lines. Tool calls and results are shown by
/// name, results by their first 500 bytes. At most `cap` bytes of turns, oldest first (a
/// first turn longer than that in part); also the seqs of the turns shown.
pub fn extraction_input(
    known: &[KnownFact],
    messages: &[StoredMessage],
    cap: usize,
) -> (String, Vec<u64>) {
    let mut out = String::new();
    if !known.is_empty() {
        out.push_str("Known facts:\n");
        for fact in known {
            out.push_str(&format!("{}: {}\n", fact.label, fact.text));
        }
        out.push('\n');
    }
    out.push_str("Conversation:\n\n");
    let start = out.len();
    let mut shown = Vec::new();
    for message in messages {
        let mut text = String::new();
        for part in &message.content {
            match part {
                Part::Text { text: t } => text.push_str(t),
                Part::ToolCall { name, .. } => text.push_str(&format!("(called {name})")),
                Part::ToolResult { name, content, .. } => text.push_str(&format!(
                    "(result of {}: {})",
                    name.as_deref().unwrap_or("a tool"),
                    super::plan::head(content, TOOL_RESULT_BYTES)
                )),
                _ => text.push_str("(attachment)"),
            }
        }
        let block = format!(
            "[#{} {}]: {}\n\n",
            message.seq,
            message.role.as_str(),
            text.trim()
        );
        let room = cap.saturating_sub(out.len() - start);
        if block.len() > room {
            // A first turn over the cap is read in part rather than not at all.
            if shown.is_empty() {
                out.push_str(super::plan::head(&block, room));
                shown.push(message.seq);
            }
            break;
        }
        out.push_str(&block);
        shown.push(message.seq);
    }
    (out, shown)
}

/// One fact the model gave, checked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExtractedFact {
    /// Its category.
    pub category: FactCategory,
    /// Whom or what it concerns.
    pub subject: String,
    /// The fact.
    pub content: String,
    /// The model's confidence.
    pub confidence: f64,
    /// The turns it came from (all the turns read when the model named none).
    pub source_seqs: Vec<u64>,
    /// The deal it names.
    pub deal_name: Option<String>,
    /// The contact it names.
    pub contact_name: Option<String>,
    /// The company it names.
    pub company_name: Option<String>,
    /// The index of the known fact it replaces.
    pub supersedes: Option<usize>,
}

/// An item of the answer that was not kept, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectedFact {
    /// Its place in the answer's array (none: the answer as a whole).
    pub index: Option<usize>,
    /// The key at fault (empty: the item as a whole).
    pub field: String,
    /// Why.
    pub reason: String,
}

/// What [`read_extraction`] found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ExtractionReading {
    /// The facts kept.
    pub facts: Vec<ExtractedFact>,
    /// The items refused.
    pub rejected: Vec<RejectedFact>,
    /// Items dropped for a confidence under [`MIN_CONFIDENCE`].
    pub below_confidence: usize,
}

/// The JSON of an answer: the body of its first code fence, else the text from its first `[`
/// to its last `]`.
fn json_span(text: &str) -> Option<&str> {
    if let Some(open) = text.find("```") {
        let body = &text[open + 3..];
        let body = body.find('\n').map_or(body, |n| &body[n + 1..]);
        if let Some(close) = body.find("```") {
            return Some(body[..close].trim());
        }
    }
    let start = text.find('[')?;
    let end = text.rfind(']')?;
    (end > start).then(|| &text[start..=end])
}

fn reject(index: Option<usize>, field: &str, reason: impl Into<String>) -> RejectedFact {
    RejectedFact {
        index,
        field: field.to_owned(),
        reason: reason.into(),
    }
}

/// A string field: absent is `None`; otherwise a non-empty string of at most `max` characters.
fn text_field(item: &Map<String, Value>, key: &str, max: usize) -> Result<Option<String>, String> {
    match item.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Err("must not be empty".into()),
        Some(Value::String(s)) if s.chars().count() > max => {
            Err(format!("is over {max} characters"))
        }
        Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
        Some(_) => Err("must be a string".into()),
    }
}

/// One item, checked against the turns read (`seqs`) and the number of known facts.
fn read_item(item: &Value, seqs: &[u64], known: usize) -> Result<ExtractedFact, (String, String)> {
    let Value::Object(item) = item else {
        return Err((String::new(), "must be an object".into()));
    };
    if let Some(key) = item.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err((key.clone(), "is not a field of a fact".into()));
    }
    let field = |key: &str, max: usize| text_field(item, key, max).map_err(|r| (key.to_owned(), r));
    let required = |key: &str, max: usize| {
        field(key, max)?.ok_or_else(|| (key.to_owned(), "is required".to_owned()))
    };
    let category = required("category", 32)?;
    let category = FactCategory::parse(&category.to_lowercase()).ok_or_else(|| {
        (
            "category".to_owned(),
            format!("{category:?} is not a category"),
        )
    })?;
    let subject = required("subject", MAX_SUBJECT_CHARS)?;
    let content = required("content", MAX_CONTENT_CHARS)?;
    let confidence = match item.get("confidence") {
        Some(Value::Number(n)) => n.as_f64().filter(|c| (0.0..=1.0).contains(c)),
        _ => None,
    }
    .ok_or_else(|| {
        (
            "confidence".to_owned(),
            "must be a number from 0 to 1".to_owned(),
        )
    })?;
    let source_seqs = match item.get("source") {
        None | Some(Value::Null) => seqs.to_vec(),
        Some(Value::Array(list)) => {
            let mut out = Vec::with_capacity(list.len());
            for value in list {
                let seq = value
                    .as_u64()
                    .or_else(|| value.as_str()?.trim_start_matches('#').parse().ok())
                    .filter(|s| seqs.contains(s))
                    .ok_or_else(|| {
                        (
                            "source".to_owned(),
                            format!("{value} is not a turn that was read"),
                        )
                    })?;
                if !out.contains(&seq) {
                    out.push(seq);
                }
            }
            out.sort_unstable();
            out
        }
        Some(_) => return Err(("source".into(), "must be a list of turn numbers".into())),
    };
    let supersedes = match field("supersedes", 16)? {
        None => None,
        Some(label) => Some(
            label
                .strip_prefix('F')
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|n| (1..=known).contains(n))
                .map(|n| n - 1)
                .ok_or_else(|| {
                    (
                        "supersedes".to_owned(),
                        format!("{label:?} is not a known fact"),
                    )
                })?,
        ),
    };
    Ok(ExtractedFact {
        category,
        subject,
        content,
        confidence,
        source_seqs,
        deal_name: field("deal_name", MAX_ENTITY_CHARS)?,
        contact_name: field("contact_name", MAX_ENTITY_CHARS)?,
        company_name: field("company_name", MAX_ENTITY_CHARS)?,
        supersedes,
    })
}

/// Reads a model's answer: the facts, the items refused and why, and how many were under
/// [`MIN_CONFIDENCE`]. `seqs` are the turns the model read; `known` the number of known facts
/// it was shown. Pure and total: a malformed answer is one rejection, never an error.
pub fn read_extraction(answer: &str, seqs: &[u64], known: usize) -> ExtractionReading {
    let mut reading = ExtractionReading::default();
    let Some(span) = json_span(answer) else {
        reading
            .rejected
            .push(reject(None, "", "the answer holds no JSON array"));
        return reading;
    };
    let items = match serde_json::from_str::<Value>(span) {
        Ok(Value::Array(items)) => items,
        Ok(_) => {
            reading
                .rejected
                .push(reject(None, "", "the answer is not a JSON array"));
            return reading;
        }
        Err(e) => {
            reading
                .rejected
                .push(reject(None, "", format!("the answer is not JSON: {e}")));
            return reading;
        }
    };
    for (i, item) in items.iter().enumerate() {
        match read_item(item, seqs, known) {
            Ok(fact) if fact.confidence < MIN_CONFIDENCE => reading.below_confidence += 1,
            Ok(fact) => reading.facts.push(fact),
            Err((field, reason)) => reading.rejected.push(reject(Some(i), &field, reason)),
        }
    }
    reading
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_fenced_answer_and_rejects_what_breaks_the_rules() {
        let answer = "Here you go:\n```json\n[\
            {\"category\": \"deal\", \"subject\": \"Acme\", \"content\": \"Wants 10% off\", \
             \"confidence\": 0.9, \"source\": [3, \"#4\"], \"company_name\": \"Acme\"},\
            {\"category\": \"gossip\", \"subject\": \"x\", \"content\": \"y\", \"confidence\": 1},\
            {\"category\": \"fact\", \"subject\": \"x\", \"content\": \"y\", \"confidence\": 0.2},\
            {\"category\": \"fact\", \"subject\": \"x\", \"content\": \"y\", \"confidence\": 0.7, \"source\": [99]},\
            {\"category\": \"fact\", \"subject\": \"x\", \"content\": \"y\", \"confidence\": 0.7, \"why\": 1},\
            {\"category\": \"commitment\", \"subject\": \"Demo\", \"content\": \"Friday\", \"confidence\": 0.8, \"supersedes\": \"F1\"}\
        ]\n```";
        let r = read_extraction(answer, &[3, 4, 5], 1);
        assert_eq!(r.facts.len(), 2);
        assert_eq!(r.facts[0].source_seqs, [3, 4]);
        assert_eq!(r.facts[0].company_name.as_deref(), Some("Acme"));
        assert_eq!(r.facts[1].source_seqs, [3, 4, 5]);
        assert_eq!(r.facts[1].supersedes, Some(0));
        assert_eq!(r.below_confidence, 1);
        let fields: Vec<_> = r
            .rejected
            .iter()
            .map(|x| (x.index, x.field.as_str()))
            .collect();
        assert_eq!(
            fields,
            [(Some(1), "category"), (Some(3), "source"), (Some(4), "why")]
        );
    }

    #[test]
    fn a_malformed_answer_is_one_rejection() {
        assert_eq!(read_extraction("nothing to add", &[1], 0).rejected.len(), 1);
        assert_eq!(read_extraction("[{]", &[1], 0).rejected.len(), 1);
        assert_eq!(read_extraction("[]", &[1], 0), ExtractionReading::default());
    }

    #[test]
    fn the_prompt_lists_the_five_categories() {
        let prompt = extraction_prompt();
        for c in FactCategory::ALL {
            assert!(prompt.contains(&format!("- {}: ", c.as_str())));
        }
    }
}
