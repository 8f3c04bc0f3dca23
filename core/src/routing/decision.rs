//! What a route returns.

use std::sync::Arc;
use std::time::Duration;

use serde::ser::{SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::entities::{Band, Entities};
use super::index::{Candidate, Evidence};
use super::rules::GeneralIntent;
use crate::options::Case;

/// The route of a message no skill answers.
pub const GENERAL: &str = "general";

/// How the decision was reached, in the original's terms (`cache` is not one: a cached
/// decision keeps the stage that made it, and says `cached: true`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchedBy {
    /// A sequence skill, from the skill index.
    SequenceTrigger,
    /// A single skill, from the skill index.
    SkillTrigger,
    /// A skill, by embedding similarity.
    Semantic,
    /// A skill, chosen by the LLM classifier among the top candidates.
    Llm,
    /// No skill: a general message, or nothing fits.
    General,
}

/// The stage that decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// The general-message rules.
    Rules,
    /// The skill index.
    Index,
    /// Embedding similarity.
    Embedding,
    /// The LLM classifier.
    Llm,
    /// Nothing was confident: general, out of scope.
    Fallback,
}

impl Stage {
    /// Every stage, in the order a message meets them.
    pub const ALL: [Stage; 5] = [
        Stage::Rules,
        Stage::Index,
        Stage::Embedding,
        Stage::Llm,
        Stage::Fallback,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Rules => "rules",
            Stage::Index => "index",
            Stage::Embedding => "embedding",
            Stage::Llm => "llm",
            Stage::Fallback => "fallback",
        }
    }
}

/// A routing decision, as cached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// The skill key, or `general`.
    pub route: String,
    /// The skill key when a skill was chosen.
    pub skill_key: Option<String>,
    /// The calibrated probability that `route` is right (for `general` from the rules, 1.0;
    /// for out of scope, one minus the best candidate's).
    pub confidence: f64,
    /// How it was reached.
    pub matched_by: MatchedBy,
    /// Kept for the original's shape, which declared it and never set it; skills do not name
    /// a model yet, so it is always `None`.
    pub model_override: Option<String>,
    /// The stage that decided.
    pub stage: Stage,
    /// True when no skill of the org fits (as opposed to a general message such as "thanks").
    pub out_of_scope: bool,
    /// What a general message is.
    pub general_intent: Option<GeneralIntent>,
    /// The intent label: the matched trigger's `intent`, else the skill's first one.
    pub intent: Option<String>,
    /// True when the first two candidates are within the ambiguity margin.
    pub ambiguous: bool,
    /// The best candidates, best first.
    pub candidates: Vec<Candidate>,
    /// What matched for the chosen skill.
    pub evidence: Vec<Evidence>,
    /// The version the decision was computed against: the org's skills for the channel, the
    /// routing code and the options that shape a decision.
    pub skills_version: String,
    /// What the message names.
    pub entities: Entities,
    /// How an answer should treat the route.
    pub band: Band,
}

impl Decision {
    /// A decision for `skill` (`None`: `general`) with no candidates, evidence or intent yet;
    /// the band follows `confidence`.
    pub fn new(
        skill: Option<String>,
        confidence: f64,
        matched_by: MatchedBy,
        stage: Stage,
        skills_version: String,
        entities: Entities,
    ) -> Self {
        Decision {
            route: skill.clone().unwrap_or_else(|| GENERAL.into()),
            skill_key: skill,
            confidence,
            matched_by,
            model_override: None,
            stage,
            out_of_scope: false,
            general_intent: None,
            intent: None,
            ambiguous: false,
            candidates: Vec::new(),
            evidence: Vec::new(),
            skills_version,
            entities,
            band: Band::of(confidence),
        }
    }
}

/// One route: the decision, and this call's trace, time and provenance.
#[derive(Debug, Clone)]
pub struct Routed {
    /// The decision (shared with the cache).
    pub decision: Arc<Decision>,
    /// This call's trace id.
    pub trace_id: Uuid,
    /// How long this call took.
    pub duration: Duration,
    /// True when the decision came from the cache.
    pub cached: bool,
}

impl std::ops::Deref for Routed {
    type Target = Decision;

    fn deref(&self) -> &Decision {
        &self.decision
    }
}

impl Routed {
    /// How long this call took, in milliseconds (what `duration_ms` holds).
    pub fn duration_ms(&self) -> f64 {
        self.duration.as_secs_f64() * 1000.0
    }

    /// The names of the fields a route serializes to, in order.
    pub const FIELDS: [&'static str; 18] = [
        "route",
        "skill_key",
        "confidence",
        "matched_by",
        "model_override",
        "stage",
        "out_of_scope",
        "general_intent",
        "intent",
        "ambiguous",
        "candidates",
        "evidence",
        "skills_version",
        "entities",
        "band",
        "trace_id",
        "duration_ms",
        "cached",
    ];

    /// One field as JSON, by its name as `case` spells it (what a binding's
    /// `decision["confidence"]` or `decision.skillKey` reads without converting the rest);
    /// records inside it are spelled in `case` too. `None` for a name not in
    /// [`Routed::FIELDS`].
    pub fn field(&self, name: &str, case: Case) -> Option<serde_json::Value> {
        let name = Self::FIELDS.iter().find(|f| match case {
            Case::Snake => **f == name,
            Case::Camel => case.spell(f) == name,
        })?;
        let d = &*self.decision;
        let value = |v: &dyn erased::Record| v.to_value(case);
        Some(match *name {
            "route" => value(&d.route),
            "skill_key" => value(&d.skill_key),
            "confidence" => value(&d.confidence),
            "matched_by" => value(&d.matched_by),
            "model_override" => value(&d.model_override),
            "stage" => value(&d.stage),
            "out_of_scope" => value(&d.out_of_scope),
            "general_intent" => value(&d.general_intent),
            "intent" => value(&d.intent),
            "ambiguous" => value(&d.ambiguous),
            "candidates" => value(&d.candidates),
            "evidence" => value(&d.evidence),
            "skills_version" => value(&d.skills_version),
            "entities" => value(&d.entities),
            "band" => value(&d.band),
            "trace_id" => value(&self.trace_id),
            "duration_ms" => value(&self.duration_ms()),
            _ => value(&self.cached),
        })
    }
}

/// A serializable value behind a reference, for [`Routed::field`].
mod erased {
    use crate::options::Case;

    pub trait Record {
        fn to_value(&self, case: Case) -> serde_json::Value;
    }

    impl<T: serde::Serialize> Record for T {
        fn to_value(&self, case: Case) -> serde_json::Value {
            crate::record::to_value(self, case)
        }
    }
}

impl Serialize for Routed {
    /// The decision's fields, then `trace_id`, `duration_ms` and `cached`, as one struct (so
    /// the bindings spell every field in their own case).
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let d = &*self.decision;
        let mut out = serializer.serialize_struct("Routed", 18)?;
        out.serialize_field("route", &d.route)?;
        out.serialize_field("skill_key", &d.skill_key)?;
        out.serialize_field("confidence", &d.confidence)?;
        out.serialize_field("matched_by", &d.matched_by)?;
        out.serialize_field("model_override", &d.model_override)?;
        out.serialize_field("stage", &d.stage)?;
        out.serialize_field("out_of_scope", &d.out_of_scope)?;
        out.serialize_field("general_intent", &d.general_intent)?;
        out.serialize_field("intent", &d.intent)?;
        out.serialize_field("ambiguous", &d.ambiguous)?;
        out.serialize_field("candidates", &d.candidates)?;
        out.serialize_field("evidence", &d.evidence)?;
        out.serialize_field("skills_version", &d.skills_version)?;
        out.serialize_field("entities", &d.entities)?;
        out.serialize_field("band", &d.band)?;
        out.serialize_field("trace_id", &self.trace_id)?;
        out.serialize_field("duration_ms", &self.duration_ms())?;
        out.serialize_field("cached", &self.cached)?;
        out.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_route_serializes_every_field_of_its_decision() {
        let decision = Decision::new(
            None,
            1.0,
            MatchedBy::General,
            Stage::Rules,
            "v".into(),
            Entities::default(),
        );
        let serde_json::Value::Object(fields) = serde_json::to_value(&decision).unwrap() else {
            unreachable!()
        };
        let routed = Routed {
            decision: Arc::new(decision),
            trace_id: Uuid::nil(),
            duration: Duration::from_millis(2),
            cached: true,
        };
        let serde_json::Value::Object(all) = serde_json::to_value(&routed).unwrap() else {
            unreachable!()
        };
        assert_eq!(all.len(), fields.len() + 3);
        assert!(fields.keys().all(|k| all.get(k) == fields.get(k)));
        assert_eq!(all["duration_ms"], 2.0);
        // `field` reads each one as the whole serializes it, and nothing else.
        let names: Vec<&str> = all.keys().map(String::as_str).collect();
        let mut listed = Routed::FIELDS.to_vec();
        listed.sort_unstable();
        assert_eq!(names, listed);
        for name in Routed::FIELDS {
            assert_eq!(
                routed.field(name, Case::Snake).as_ref(),
                all.get(name),
                "{name}"
            );
        }
        assert_eq!(routed.field("nope", Case::Snake), None);
        assert_eq!(routed.field("skillsVersion", Case::Camel), Some("v".into()));
        assert_eq!(routed.field("skills_version", Case::Camel), None);
    }
}
