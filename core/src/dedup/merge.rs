//! The merge math, once: the noisy-OR of confidences capped at 0.95, the group confidence the
//! post-scoring merge recomputes, and the original's constants. The statements in
//! [`super::store`] bind these constants instead of restating them.

use serde::Serialize;
use serde_json::{Value, json};

use crate::error::{Error, Result};

/// How long a primary absorbs newcomers with its key: 4 hours from its first sight.
pub const MERGE_WINDOW_MS: i64 = 4 * 3_600_000;
/// The most a merged confidence can reach (the original's MERGE_CONFIDENCE_CAP).
pub const CONFIDENCE_CAP: f64 = 0.95;
/// A group's primary escalates one lane when this many distinct agents have reported it, once.
pub const ESCALATE_AT_AGENTS: usize = 3;
/// A `ready` primary whose group confidence reaches this becomes `approved`
/// (MERGE_CONFIDENCE_THRESHOLD).
pub const APPROVE_AT: f64 = 0.7;
/// A member qualifies for the group confidence above this score (MIN_AGENT_CONFIDENCE,
/// strictly above).
pub const MIN_MEMBER_CONFIDENCE: f64 = 0.6;
/// The group confidence needs at least this many qualifying members (MIN_QUALIFYING_AGENTS).
pub const MIN_QUALIFYING: usize = 2;

/// Checks a confidence: a number from 0 to 1.
///
/// # Errors
/// [`Error::InvalidInput`] on `field` outside 0 to 1, NaN or infinite.
pub fn check_confidence(field: &str, value: f64) -> Result<f64> {
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(Error::invalid_input(field, "must be a number from 0 to 1"))
    }
}

/// The noisy-OR of `scores` capped at [`CONFIDENCE_CAP`]: `min(0.95, 1 - Π(1 - s))`, the
/// chance at least one independent report is right. An empty list is 0.
pub fn noisy_or(scores: &[f64]) -> f64 {
    let miss: f64 = scores.iter().map(|s| 1.0 - s).product();
    (1.0 - miss).min(CONFIDENCE_CAP)
}

/// The group confidence from its members' scores: the noisy-OR of the scores above
/// [`MIN_MEMBER_CONFIDENCE`], or `None` when fewer than [`MIN_QUALIFYING`] qualify.
pub fn group_confidence(scores: &[f64]) -> Option<f64> {
    let qualifying: Vec<f64> = scores
        .iter()
        .copied()
        .filter(|s| *s > MIN_MEMBER_CONFIDENCE)
        .collect();
    (qualifying.len() >= MIN_QUALIFYING).then(|| noisy_or(&qualifying))
}

/// Whether a primary with `agents_before` distinct agents escalates when a new agent joins:
/// exactly when the join makes [`ESCALATE_AT_AGENTS`], so escalation happens once.
pub fn escalates(agents_before: usize, agent_is_new: bool) -> bool {
    agent_is_new && agents_before + 1 == ESCALATE_AT_AGENTS
}

/// One report joining a group: the item, its agent, its confidence and its evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The item's id.
    pub id: String,
    /// The agent that produced it (the item's `source_agent`).
    pub agent: String,
    /// Its confidence: the item's score, else its context's `confidence`.
    pub confidence: Option<f64>,
    /// Its context's `evidence`, each entry attributed to the agent, without repeats.
    pub evidence: Vec<Value>,
}

impl Report {
    /// The report of an item: `confidence_score`, else a `confidence` in the context from 0
    /// to 1 (anything else is ignored); the context's `evidence` array (a single value counts
    /// as one entry), each as `{agent, evidence}`, repeats dropped.
    pub fn of(id: &str, agent: &str, score: Option<f64>, context: &Value) -> Report {
        let confidence = score.or_else(|| {
            context
                .get("confidence")
                .and_then(Value::as_f64)
                .filter(|c| (0.0..=1.0).contains(c))
        });
        let entries: Vec<Value> = match context.get("evidence") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(all)) => all.clone(),
            Some(one) => vec![one.clone()],
        };
        let mut evidence: Vec<Value> = Vec::with_capacity(entries.len());
        for e in entries {
            let entry = json!({"agent": agent, "evidence": e});
            if !evidence.contains(&entry) {
                evidence.push(entry);
            }
        }
        Report {
            id: id.to_owned(),
            agent: agent.to_owned(),
            confidence,
            evidence,
        }
    }
}

/// A group's merged state, as its primary stores it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    /// The noisy-OR of every member's confidence, rounded to 4 places (the column's scale);
    /// `None` while no member has one.
    pub merged_confidence: Option<f64>,
    /// Every distinct agent that reported it, the primary's first.
    pub contributing_agents: Vec<String>,
    /// Every distinct `{agent, evidence}` entry, in arrival order.
    pub merged_evidence: Vec<Value>,
    /// The ids of the items absorbed into it, in order.
    pub merged_from: Vec<String>,
    /// The primary's lane.
    pub queue_priority: u8,
}

/// `x` rounded to 4 decimal places, as `numeric(5,4)` stores it.
fn four_places(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

impl Group {
    /// The group a primary starts: its own confidence, agent and evidence (the original never
    /// seeded them).
    pub fn seed(primary: &Report, lane: u8) -> Group {
        Group {
            merged_confidence: primary.confidence.map(|c| four_places(noisy_or(&[c]))),
            contributing_agents: vec![primary.agent.clone()],
            merged_evidence: primary.evidence.clone(),
            merged_from: Vec::new(),
            queue_priority: lane,
        }
    }

    /// The group after `report` joins it, and whether the primary escalated: the noisy-OR of
    /// the merged confidence and the report's (capped), the agent added once, its evidence
    /// entries not already present appended, its id recorded, and one lane up when the join
    /// makes the third distinct agent ([`escalates`]).
    pub fn merge(&self, report: &Report) -> (Group, bool) {
        let known: Vec<f64> = self
            .merged_confidence
            .into_iter()
            .chain(report.confidence)
            .collect();
        let new_agent = !self.contributing_agents.contains(&report.agent);
        let escalated = escalates(self.contributing_agents.len(), new_agent);
        let mut next = self.clone();
        next.merged_confidence = (!known.is_empty()).then(|| four_places(noisy_or(&known)));
        if new_agent {
            next.contributing_agents.push(report.agent.clone());
        }
        for entry in &report.evidence {
            if !next.merged_evidence.contains(entry) {
                next.merged_evidence.push(entry.clone());
            }
        }
        if !next.merged_from.contains(&report.id) {
            next.merged_from.push(report.id.clone());
        }
        if escalated {
            next.queue_priority = self.queue_priority.saturating_sub(1);
        }
        (next, escalated)
    }

    /// The group after item `id` arrives for a primary already completed or dismissed: the id
    /// recorded and nothing else, since the work it reported is done (its confidence, agent and
    /// evidence do not join).
    pub fn supersede(&self, id: &str) -> Group {
        let mut next = self.clone();
        if !next.merged_from.iter().any(|m| m == id) {
            next.merged_from.push(id.to_owned());
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noisy_or_caps_and_ignores_nothing() {
        assert!((noisy_or(&[0.5, 0.5]) - 0.75).abs() < 1e-12);
        assert_eq!(noisy_or(&[0.9, 0.9, 0.9]), CONFIDENCE_CAP);
        assert_eq!(noisy_or(&[]), 0.0);
        assert_eq!(group_confidence(&[0.9, 0.6]), None);
        assert!((group_confidence(&[0.7, 0.61, 0.2]).unwrap() - (1.0 - 0.3 * 0.39)).abs() < 1e-12);
        assert!(escalates(2, true) && !escalates(3, true) && !escalates(2, false));
        assert!(check_confidence("c", f64::NAN).is_err() && check_confidence("c", 1.5).is_err());
    }

    #[test]
    fn a_group_seeds_its_primary_counts_each_agent_once_and_escalates_once() {
        let ctx = |c: f64, e: &str| json!({"confidence": c, "evidence": [e, e]});
        let a = Report::of("a", "risk", None, &ctx(0.5, "no reply"));
        assert_eq!(a.evidence.len(), 1);
        let g = Group::seed(&a, 2);
        assert_eq!(g.merged_confidence, Some(0.5));
        let (g, up) = g.merge(&Report::of("b", "risk", None, &ctx(0.5, "no reply")));
        assert!(!up);
        assert_eq!(
            (g.contributing_agents.len(), g.merged_evidence.len()),
            (1, 1)
        );
        assert_eq!(g.merged_confidence, Some(0.75));
        let (g, up) = g.merge(&Report::of("c", "email", None, &ctx(0.2, "bounce")));
        assert!(!up);
        let (g, up) = g.merge(&Report::of("d", "calendar", Some(0.9), &json!({})));
        assert!(up);
        assert_eq!(g.queue_priority, 1);
        assert_eq!(g.merged_confidence, Some(CONFIDENCE_CAP));
        let done = g.supersede("late");
        assert_eq!(done.merged_from.last().map(String::as_str), Some("late"));
        assert_eq!(
            (
                done.merged_confidence,
                done.contributing_agents.len(),
                done.queue_priority
            ),
            (
                g.merged_confidence,
                g.contributing_agents.len(),
                g.queue_priority
            ),
            "a superseded report adds nothing but its id"
        );
        assert_eq!(done.supersede("late").merged_from, done.merged_from);
        let (g, up) = g.merge(&Report::of("e", "slack", None, &json!({})));
        assert!(!up, "escalation happens once");
        assert_eq!(g.queue_priority, 1);
        assert_eq!(g.merged_from, ["b", "c", "d", "e"]);
    }
}
