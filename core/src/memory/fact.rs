//! Facts: what the copilot remembers about a user across conversations, each with its
//! provenance (conversation and message seqs), entity links and time. The five categories and
//! their meanings are the original's (`copilot_memories`, §3.6 of the MEM reference).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::store::parse_time;
use crate::error::{Error, Result};

/// The longest subject, in characters.
pub const MAX_SUBJECT_CHARS: usize = 200;
/// The longest content, in characters.
pub const MAX_CONTENT_CHARS: usize = 2_000;
/// The longest entity name or id, in characters.
pub const MAX_ENTITY_CHARS: usize = 200;
/// The most facts written at once.
pub const MAX_FACTS: usize = 100;

/// What a fact is about (the original's five categories).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FactCategory {
    /// Deal specifics, next steps, objections, pricing.
    Deal,
    /// People, roles, preferences, communication style.
    Relationship,
    /// The user's report and communication preferences.
    Preference,
    /// Promises, deadlines, action items.
    Commitment,
    /// Anything else worth keeping.
    Fact,
}

impl FactCategory {
    /// Every category, in the order the extraction prompt lists them.
    pub const ALL: [FactCategory; 5] = [
        FactCategory::Deal,
        FactCategory::Relationship,
        FactCategory::Preference,
        FactCategory::Commitment,
        FactCategory::Fact,
    ];

    /// The name as stored and serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            FactCategory::Deal => "deal",
            FactCategory::Relationship => "relationship",
            FactCategory::Preference => "preference",
            FactCategory::Commitment => "commitment",
            FactCategory::Fact => "fact",
        }
    }

    /// The category named `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// What the category holds, as the extraction prompt defines it.
    pub fn definition(self) -> &'static str {
        match self {
            FactCategory::Deal => "deal specifics, next steps, objections, pricing",
            FactCategory::Relationship => "people, roles, preferences, communication style",
            FactCategory::Preference => "the user's report and communication preferences",
            FactCategory::Commitment => "promises, deadlines, action items",
            FactCategory::Fact => "anything else worth keeping",
        }
    }
}

/// A fact to store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewFact {
    /// What it is about.
    pub category: FactCategory,
    /// Whom or what it concerns, in a few words ("Acme pricing").
    pub subject: String,
    /// The fact itself.
    pub content: String,
    /// How sure the writer is, 0 to 1 (default 1).
    #[serde(default = "certain")]
    pub confidence: f64,
    /// The conversation it came from.
    #[serde(default)]
    pub conversation_id: Option<Uuid>,
    /// The seqs of the messages it came from.
    #[serde(default)]
    pub source_seqs: Vec<u64>,
    /// The deal it mentions, by name.
    #[serde(default)]
    pub deal_name: Option<String>,
    /// The contact it mentions, by name.
    #[serde(default)]
    pub contact_name: Option<String>,
    /// The company it mentions, by name.
    #[serde(default)]
    pub company_name: Option<String>,
    /// The platform's id of the deal (linked, or given).
    #[serde(default)]
    pub deal_id: Option<String>,
    /// The platform's id of the contact.
    #[serde(default)]
    pub contact_id: Option<String>,
    /// The platform's id of the company.
    #[serde(default)]
    pub company_id: Option<String>,
    /// When it was said, RFC 3339 (default: now).
    #[serde(default)]
    pub observed_at: Option<String>,
    /// When it stops being recalled, RFC 3339 (default: never).
    #[serde(default)]
    pub expires_at: Option<String>,
    /// The live fact of the same user this one replaces (kept, marked superseded).
    #[serde(default)]
    pub supersedes: Option<Uuid>,
}

fn certain() -> f64 {
    1.0
}

/// `text` trimmed, non-empty and at most `max` characters, or `invalid_input` naming `field`.
fn bounded(field: &str, text: &str, max: usize) -> Result<()> {
    if text.trim().is_empty() {
        return Err(Error::invalid_input(field, "must not be empty"));
    }
    let chars = text.chars().count();
    if chars > max {
        return Err(Error::invalid_input(
            field,
            format!("is {chars} characters; at most {max}"),
        ));
    }
    Ok(())
}

impl NewFact {
    /// Checks the fact; `at` prefixes its fields in errors (`facts[2]`).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the field: an empty or overlong subject, content, name
    /// or id, an id with a NUL, a confidence outside 0 to 1, a seq of 0, a time that is not
    /// RFC 3339.
    pub fn check(&self, at: &str) -> Result<()> {
        let field = |name: &str| format!("{at}.{name}");
        bounded(&field("subject"), &self.subject, MAX_SUBJECT_CHARS)?;
        bounded(&field("content"), &self.content, MAX_CONTENT_CHARS)?;
        if !(0.0..=1.0).contains(&self.confidence) {
            return Err(Error::invalid_input(
                field("confidence"),
                "must be between 0 and 1",
            ));
        }
        if let Some(i) = self.source_seqs.iter().position(|&s| s == 0) {
            return Err(Error::invalid_input(
                field(&format!("source_seqs[{i}]")),
                "seqs start at 1",
            ));
        }
        // Names are prose (a NUL is stored as U+FFFD); ids are matched exactly, so no NUL.
        for (name, value) in [
            ("deal_name", &self.deal_name),
            ("contact_name", &self.contact_name),
            ("company_name", &self.company_name),
        ] {
            if let Some(value) = value {
                bounded(&field(name), value, MAX_ENTITY_CHARS)?;
            }
        }
        for (name, value) in [
            ("deal_id", &self.deal_id),
            ("contact_id", &self.contact_id),
            ("company_id", &self.company_id),
        ] {
            if let Some(value) = value {
                bounded(&field(name), value, MAX_ENTITY_CHARS)?;
                crate::idents::no_nul(&field(name), value)?;
            }
        }
        for (name, value) in [
            ("observed_at", &self.observed_at),
            ("expires_at", &self.expires_at),
        ] {
            if let Some(value) = value {
                parse_time(&field(name), value)?;
            }
        }
        Ok(())
    }
}

/// Checks a batch of facts (`facts[i]` in errors): 1 to [`MAX_FACTS`], each valid.
///
/// # Errors
/// [`Error::InvalidInput`] naming the batch or the fact's field.
pub fn check_facts(facts: &[NewFact]) -> Result<()> {
    if facts.is_empty() || facts.len() > MAX_FACTS {
        return Err(Error::invalid_input(
            "facts",
            format!("must hold 1 to {MAX_FACTS} facts"),
        ));
    }
    for (i, fact) in facts.iter().enumerate() {
        fact.check(&format!("facts[{i}]"))?;
    }
    Ok(())
}

/// A stored fact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fact {
    /// Its id.
    pub id: Uuid,
    /// The org.
    pub org_id: Uuid,
    /// The user it is remembered for.
    pub user_id: String,
    /// What it is about.
    pub category: FactCategory,
    /// Whom or what it concerns.
    pub subject: String,
    /// The fact itself.
    pub content: String,
    /// How sure the writer was, 0 to 1.
    pub confidence: f64,
    /// The conversation it came from.
    pub conversation_id: Option<Uuid>,
    /// The seqs of the messages it came from.
    pub source_seqs: Vec<u64>,
    /// The deal it mentions, by name.
    pub deal_name: Option<String>,
    /// The contact it mentions, by name.
    pub contact_name: Option<String>,
    /// The company it mentions, by name.
    pub company_name: Option<String>,
    /// The platform's id of the deal.
    pub deal_id: Option<String>,
    /// The platform's id of the contact.
    pub contact_id: Option<String>,
    /// The platform's id of the company.
    pub company_id: Option<String>,
    /// When it was said (RFC 3339).
    pub observed_at: String,
    /// When it was stored (RFC 3339).
    pub created_at: String,
    /// When it stops being recalled (RFC 3339).
    pub expires_at: Option<String>,
    /// The fact that replaced it.
    pub superseded_by: Option<Uuid>,
    /// When it was replaced (RFC 3339).
    pub superseded_at: Option<String>,
    /// How many recalls returned it.
    pub access_count: u64,
    /// When a recall last returned it (RFC 3339).
    pub last_accessed_at: Option<String>,
}

/// The "## Relevant Memories" block the original put into the prompt: one
/// `- **subject** (category): content` line per fact, in the order given; empty for none.
pub fn memories_block<'a>(facts: impl IntoIterator<Item = &'a Fact>) -> String {
    let mut out = String::new();
    for fact in facts {
        if out.is_empty() {
            out.push_str("## Relevant Memories\n");
        }
        out.push_str(&format!(
            "- **{}** ({}): {}\n",
            one_line(&fact.subject),
            fact.category.as_str(),
            one_line(&fact.content)
        ));
    }
    out
}

/// `text` on one line: line breaks become spaces.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fact() -> NewFact {
        serde_json::from_value(serde_json::json!({
            "category": "deal", "subject": "Acme pricing", "content": "Wants 10% off"
        }))
        .unwrap()
    }

    #[test]
    fn categories_round_trip() {
        for c in FactCategory::ALL {
            assert_eq!(FactCategory::parse(c.as_str()), Some(c));
        }
        assert_eq!(FactCategory::parse("Deal"), None);
    }

    #[test]
    fn check_names_the_field() {
        assert!(fact().check("facts[0]").is_ok());
        let mut bad = fact();
        bad.confidence = 1.5;
        let err = bad.check("facts[0]").unwrap_err();
        assert_eq!(err.field(), Some("facts[0].confidence"));
        let mut bad = fact();
        bad.subject = " ".into();
        assert_eq!(
            bad.check("facts[1]").unwrap_err().field(),
            Some("facts[1].subject")
        );
        let mut bad = fact();
        bad.source_seqs = vec![3, 0];
        assert_eq!(
            bad.check("f").unwrap_err().field(),
            Some("f.source_seqs[1]")
        );
        let mut bad = fact();
        bad.observed_at = Some("yesterday".into());
        assert_eq!(bad.check("f").unwrap_err().field(), Some("f.observed_at"));
        assert_eq!(check_facts(&[]).unwrap_err().field(), Some("facts"));
    }
}
