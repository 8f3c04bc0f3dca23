//! The skill index: built once per resolved view, scored per message.
//!
//! Every skill becomes two weighted bags of terms (BM25F-style: a term's count in a field times
//! the field's weight): the strong one from what the skill says it is for (key, name, one-word
//! keywords, trigger patterns), the weak one from what illustrates it (example phrases with
//! their names removed, the description, the loose words of multi-word keywords), counted at a
//! quarter. A message is scored against every
//! skill with BM25; the sum saturates into 0 to 1 (`bm25 / (bm25 + SATURATION)`) and is
//! scaled by the share of the message's words the skill shares (names the index does not know
//! left out), so one shared word in a message about something else scores little. On top,
//! phrases: a trigger pattern or multi-word keyword whose terms appear in order, with
//! `[placeholder]`s (`prep for [deal] meeting`) matching one to three words, adds
//! [`PHRASE_WEIGHT`] times the trigger's confidence. The raw score becomes a probability in
//! [`super::calibrate`].

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::text::terms;
use crate::skills::{ResolvedSkill, ResolvedSkills, SkillType};

/// BM25's term-frequency saturation.
const K1: f32 = 1.2;
/// BM25's length normalisation.
const B: f32 = 0.5;
/// Field weights: how much one occurrence of a term counts, by where it occurs.
const PATTERN_WEIGHT: f32 = 3.0;
const KEYWORD_WEIGHT: f32 = 2.0;
const NAME_WEIGHT: f32 = 2.0;
const EXAMPLE_WEIGHT: f32 = 1.0;
const DESCRIPTION_WEIGHT: f32 = 0.5;
/// How much a match in the weak fields (examples, description) counts against one in the
/// strong fields (key, keywords, trigger patterns): an example's incidental words ("look" in
/// "what does the pipeline look like") must not outweigh what a skill says it is for.
const WEAK_WEIGHT: f32 = 0.25;
/// The BM25 score at which a skill explains half of a message.
const SATURATION: f32 = 4.0;
/// What a skill's score keeps when it shares none of the message's other words: a message
/// about pizza that shares one word with a skill ("recommend") is mostly not about it.
const COVER_FLOOR: f64 = 0.0;
/// How much a matched phrase adds to the raw score, times its confidence.
pub const PHRASE_WEIGHT: f64 = 0.5;
/// The confidence of a multi-word keyword matched as a phrase.
const KEYWORD_PHRASE_CONFIDENCE: f64 = 0.6;
/// The most words a `[placeholder]` stands for.
const PLACEHOLDER_WORDS: usize = 3;

/// What made a skill a candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Evidence {
    /// A trigger pattern matched as a phrase.
    Trigger {
        /// The pattern as written.
        pattern: String,
        /// The trigger's confidence.
        confidence: f64,
        /// The trigger's intent label, if it has one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        intent: Option<String>,
    },
    /// A multi-word keyword matched as a phrase.
    Keyword {
        /// The keyword as written.
        keyword: String,
    },
    /// Message terms the skill's text shares.
    Terms {
        /// The shared terms (stemmed), most informative first.
        terms: Vec<String>,
    },
}

/// One skill's score for one message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// The skill.
    pub skill_key: String,
    /// True for a sequence (routed before single skills).
    pub sequence: bool,
    /// The raw score: the share of the message explained plus phrase matches.
    pub score: f64,
    /// The calibrated probability that this skill is the right answer.
    pub confidence: f64,
    /// The share of the message's information the skill shares: its terms weighed by idf, one
    /// no skill holds weighing the most, names left out (a calibration feature).
    #[serde(skip)]
    pub cover: f64,
    /// The raw score's lead over the next competing candidate, 0 unless it leads its kind
    /// (a calibration feature; see [`super::calibrate`]).
    #[serde(skip)]
    pub margin: f64,
    /// What matched.
    pub evidence: Vec<Evidence>,
}

#[derive(Debug, Clone, PartialEq)]
enum Slot {
    Term(String),
    Any,
}

#[derive(Debug)]
struct Phrase {
    skill: u32,
    slots: Vec<Slot>,
    confidence: f64,
    evidence: Evidence,
}

#[derive(Debug)]
struct Entry {
    key: String,
    sequence: bool,
    intent: Option<String>,
    len: (f32, f32),
}

/// A skill holding a term: (skill, weighted frequency in the strong fields, in the weak ones),
/// while building; then (skill, what the term adds to the skill's BM25 score, 0).
type Posting = (u32, f32, f32);

/// The index of one resolved view.
#[derive(Debug)]
pub struct SkillIndex {
    skills: Vec<Entry>,
    /// term → its idf and postings.
    postings: HashMap<String, (f32, Vec<Posting>)>,
    /// A phrase's first literal term → the phrases starting with it.
    phrases: HashMap<String, Vec<Phrase>>,
    /// Phrases that start with a placeholder.
    open_phrases: Vec<Phrase>,
    average_len: (f32, f32),
    /// The idf of a term no skill holds.
    unknown_idf: f32,
    version: String,
}

/// The slots of a pattern: `[anything]` is a placeholder, stop words are dropped.
fn slots(pattern: &str) -> Vec<Slot> {
    let canonical = super::text::canonical(pattern);
    let mut out = Vec::new();
    for piece in canonical.split(|c: char| c.is_whitespace()) {
        if piece.starts_with('[') && piece.ends_with(']') && piece.len() > 2 {
            if out.last() != Some(&Slot::Any) {
                out.push(Slot::Any);
            }
            continue;
        }
        for term in terms(piece) {
            out.push(Slot::Term(term));
        }
    }
    out
}

/// Whether `slots` match `message` starting at `at`.
fn matches_at(slots: &[Slot], message: &[String], at: usize) -> bool {
    match slots.split_first() {
        None => true,
        Some((Slot::Term(t), rest)) => {
            message.get(at) == Some(t) && matches_at(rest, message, at + 1)
        }
        Some((Slot::Any, rest)) => (1..=PLACEHOLDER_WORDS)
            .any(|n| at + n <= message.len() && matches_at(rest, message, at + n)),
    }
}

/// An example phrase without its capitalised words: the names in "where are we with the Acme
/// deal?" are placeholders for any deal, not words that should route.
fn without_names(example: &str) -> String {
    example
        .split_whitespace()
        .filter(|w| w == &"I" || !w.starts_with(|c: char| c.is_uppercase()))
        .collect::<Vec<_>>()
        .join(" ")
}

fn is_sequence(skill: &ResolvedSkill) -> bool {
    skill.doc.meta.skill_type == SkillType::Sequence
        || skill.doc.category.as_deref() == Some("agent-sequence")
}

/// Skills that wait for a person are never routed to directly (the original's `hitl`).
fn is_routable(skill: &ResolvedSkill) -> bool {
    skill.doc.category.as_deref() != Some("hitl")
}

/// The version of a view: a hash of its skills' keys and content hashes, so a sync, an
/// override or a context change gives a new one.
pub fn view_version(view: &ResolvedSkills) -> String {
    let mut hash = Sha256::new();
    for skill in &view.skills {
        hash.update(skill.key.as_bytes());
        hash.update([0]);
        hash.update(skill.content_hash.as_bytes());
        hash.update(skill.context_hash.as_bytes());
        hash.update([0]);
    }
    hash.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl SkillIndex {
    /// Indexes the routable skills of `view`.
    pub fn build(view: &ResolvedSkills) -> Self {
        let mut index = SkillIndex {
            skills: Vec::new(),
            postings: HashMap::new(),
            phrases: HashMap::new(),
            open_phrases: Vec::new(),
            average_len: (0.0, 0.0),
            unknown_idf: 0.0,
            version: view_version(view),
        };
        for skill in view.skills.iter().filter(|s| is_routable(s)) {
            index.add(skill);
        }
        let n = index.skills.len().max(1) as f32;
        index.average_len = (
            (index.skills.iter().map(|s| s.len.0).sum::<f32>() / n).max(1.0),
            (index.skills.iter().map(|s| s.len.1).sum::<f32>() / n).max(1.0),
        );
        index.unknown_idf = ((n + 0.5) / 0.5 + 1.0).ln();
        let mut postings = std::mem::take(&mut index.postings);
        for (idf, postings) in postings.values_mut() {
            let df = postings.len() as f32;
            // BM25's idf, floored so a term every skill shares still counts a little.
            *idf = ((n - df + 0.5) / (df + 0.5) + 1.0).ln().max(0.05);
            // Everything a posting adds is known now: routes only sum.
            for posting in postings.iter_mut() {
                *posting = (posting.0, index.part(*idf, posting), 0.0);
            }
        }
        index.postings = postings;
        index
    }

    fn add(&mut self, skill: &Arc<ResolvedSkill>) {
        let id = self.skills.len() as u32;
        let doc = &skill.doc;
        // Two bags: what the skill says it is for (key, name, keywords, trigger patterns) and
        // what merely illustrates it (examples, description).
        let mut strong: HashMap<String, f32> = HashMap::new();
        let mut weak: HashMap<String, f32> = HashMap::new();
        let put = |bag: &mut HashMap<String, f32>, text: &str, weight: f32| {
            for term in terms(&super::text::canonical(text)) {
                *bag.entry(term).or_default() += weight;
            }
        };
        put(&mut strong, &skill.key.replace('-', " "), NAME_WEIGHT);
        if let Some(name) = &doc.display_name {
            put(&mut strong, name, NAME_WEIGHT);
        }
        put(&mut weak, &doc.description, DESCRIPTION_WEIGHT);
        for keyword in &doc.keywords {
            // A multi-word keyword is evidence as a phrase (below); its words alone are
            // incidental ("time" in "book time" is not a question about a calendar).
            let bag = if keyword.contains(' ') {
                &mut weak
            } else {
                &mut strong
            };
            put(bag, keyword, KEYWORD_WEIGHT);
        }
        for trigger in &doc.triggers {
            let pattern: String = trigger
                .pattern
                .split_whitespace()
                .filter(|w| !(w.starts_with('[') && w.ends_with(']')))
                .collect::<Vec<_>>()
                .join(" ");
            put(&mut strong, &pattern, PATTERN_WEIGHT);
            for example in &trigger.examples {
                put(&mut weak, &without_names(example), EXAMPLE_WEIGHT);
            }
        }
        let len = (strong.values().sum(), weak.values().sum());
        let mut terms: HashMap<String, (f32, f32)> = HashMap::new();
        for (term, tf) in strong {
            terms.entry(term).or_default().0 = tf;
        }
        for (term, tf) in weak {
            terms.entry(term).or_default().1 = tf;
        }
        for (term, (s, w)) in terms {
            self.postings.entry(term).or_default().1.push((id, s, w));
        }
        for trigger in &doc.triggers {
            self.add_phrase(
                id,
                &trigger.pattern,
                trigger.confidence,
                Evidence::Trigger {
                    pattern: trigger.pattern.clone(),
                    confidence: trigger.confidence,
                    intent: trigger.intent.clone(),
                },
            );
        }
        for keyword in doc.keywords.iter().filter(|k| k.contains(' ')) {
            self.add_phrase(
                id,
                keyword,
                KEYWORD_PHRASE_CONFIDENCE,
                Evidence::Keyword {
                    keyword: keyword.clone(),
                },
            );
        }
        self.skills.push(Entry {
            key: skill.key.clone(),
            sequence: is_sequence(skill),
            intent: doc.triggers.iter().find_map(|t| t.intent.clone()),
            len,
        });
    }

    fn add_phrase(&mut self, skill: u32, pattern: &str, confidence: f64, evidence: Evidence) {
        let slots = slots(pattern);
        // A phrase of one word is already a term; a pattern of placeholders matches anything.
        let literal = slots.iter().filter(|s| matches!(s, Slot::Term(_))).count();
        if literal < 2 && !(literal == 1 && slots.len() > 1) {
            return;
        }
        let phrase = Phrase {
            skill,
            slots,
            confidence,
            evidence,
        };
        match &phrase.slots[0] {
            Slot::Term(first) => self.phrases.entry(first.clone()).or_default().push(phrase),
            Slot::Any => self.open_phrases.push(phrase),
        }
    }

    /// The view's version (see [`view_version`]).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// How many skills are indexed.
    pub fn len(&self) -> usize {
        self.skills.len()
    }

    /// True when no skill is routable.
    pub fn is_empty(&self) -> bool {
        self.skills.is_empty()
    }

    /// The first trigger intent of skill `id`, if it names one.
    pub(crate) fn intent(&self, id: usize) -> Option<&str> {
        self.skills[id].intent.as_deref()
    }

    /// What one posting (as built) adds to its skill's BM25 score.
    fn part(&self, idf: f32, &(skill, strong, weak): &Posting) -> f32 {
        let len = self.skills[skill as usize].len;
        let saturated = |tf: f32, len: f32, average: f32| {
            tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * len / average))
        };
        idf * (saturated(strong, len.0, self.average_len.0)
            + WEAK_WEIGHT * saturated(weak, len.1, self.average_len.1))
    }

    /// The terms of `message` skill `skill` holds, with what each adds (for the evidence of
    /// the few candidates listed; postings are ordered by skill).
    fn shared_terms<'a>(&self, skill: u32, message: &[&'a str]) -> Vec<(f32, &'a str)> {
        message
            .iter()
            .filter_map(|term| {
                let (_, postings) = self.postings.get(*term)?;
                let at = postings.binary_search_by_key(&skill, |p| p.0).ok()?;
                Some((postings[at].1, *term))
            })
            .collect()
    }

    /// The raw scores of every skill with any match, best first (ties by key), at most `top`.
    /// `names` are the terms of the message's capitalised words ([`super::text::name_terms`]):
    /// one the index does not know is a name ("Northwind"), not a word the skills fail to
    /// explain ("pizza").
    pub fn score(
        &self,
        message_terms: &[String],
        names: &[String],
        top: usize,
    ) -> Vec<(usize, Candidate)> {
        if self.skills.is_empty() || message_terms.is_empty() {
            return Vec::new();
        }
        let mut bm25 = vec![0f32; self.skills.len()];
        // How many of the message's terms each skill shares, and their idf: a shared "who"
        // says little next to an unexplained "moon".
        let mut shared = vec![(0u16, 0f32); self.skills.len()];
        let mut seen: Vec<&str> = Vec::with_capacity(message_terms.len());
        // The message's words a skill should explain (known terms and unknown non-names), and
        // their idf.
        let (mut content, mut content_idf) = (0usize, 0f32);
        for term in message_terms {
            if seen.contains(&term.as_str()) {
                continue;
            }
            seen.push(term);
            let Some((idf, postings)) = self.postings.get(term) else {
                if !names.contains(term) {
                    content += 1;
                    content_idf += self.unknown_idf;
                }
                continue;
            };
            content += 1;
            content_idf += idf;
            for posting in postings {
                let skill = posting.0 as usize;
                bm25[skill] += posting.1;
                shared[skill] = (shared[skill].0.saturating_add(1), shared[skill].1 + idf);
            }
        }
        let mut phrase: Vec<Option<&Phrase>> = vec![None; self.skills.len()];
        for at in 0..message_terms.len() {
            let starting = self.phrases.get(&message_terms[at]).into_iter().flatten();
            for p in starting.chain(&self.open_phrases) {
                let better = phrase[p.skill as usize].is_none_or(|q| p.confidence > q.confidence);
                if better && matches_at(&p.slots, message_terms, at) {
                    phrase[p.skill as usize] = Some(p);
                }
            }
        }
        // Raw scores for every skill, then candidates built for the best `top` only.
        // The share of the message's words a skill shares.
        let cover = |i: usize| (f64::from(shared[i].0) / content.max(1) as f64).min(1.0);
        let mut ranked: Vec<(usize, f64)> = (0..self.skills.len())
            .filter(|&i| bm25[i] > 0.0 || phrase[i].is_some())
            .map(|i| {
                // The cover scales what the skill explains.
                let explained = f64::from(bm25[i] / (bm25[i] + SATURATION))
                    * (COVER_FLOOR + (1.0 - COVER_FLOOR) * cover(i));
                let bonus = phrase[i].map_or(0.0, |p| PHRASE_WEIGHT * p.confidence);
                (i, explained + bonus)
            })
            .collect();
        // Ties go by key: skills are indexed in key order, so by id.
        let order = |a: &(usize, f64), b: &(usize, f64)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if ranked.len() > top && top > 0 {
            ranked.select_nth_unstable_by(top - 1, order);
            ranked.truncate(top);
        }
        ranked.sort_by(order);
        ranked
            .into_iter()
            .map(|(i, score)| {
                let mut evidence: Vec<Evidence> =
                    phrase[i].map(|p| p.evidence.clone()).into_iter().collect();
                let mut terms = self.shared_terms(i as u32, &seen);
                terms.sort_by(|a, b| b.0.total_cmp(&a.0));
                if !terms.is_empty() {
                    evidence.push(Evidence::Terms {
                        terms: terms.iter().map(|t| t.1.to_owned()).collect(),
                    });
                }
                let entry = &self.skills[i];
                (
                    i,
                    Candidate {
                        skill_key: entry.key.clone(),
                        sequence: entry.sequence,
                        score,
                        confidence: 0.0,
                        cover: f64::from(shared[i].1 / content_idf.max(f32::EPSILON)).min(1.0),
                        margin: 0.0,
                        evidence,
                    },
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn placeholders_match_one_to_three_words() {
        let s = slots("prep for [deal] meeting");
        assert_eq!(s.len(), 3);
        assert!(matches_at(&s, &t(&["prep", "acm", "meet"]), 0));
        assert!(matches_at(
            &s,
            &t(&["prep", "big", "acm", "corp", "meet"]),
            0
        ));
        assert!(!matches_at(&s, &t(&["prep", "meet"]), 0));
        assert!(!matches_at(
            &s,
            &t(&["prep", "a", "b", "c", "d", "meet"]),
            0
        ));
    }
}
