//! The message router's options and a route's own, defaults written once.

use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;
use uuid::Uuid;

use super::calibrate::Calibration;
use crate::error::{Error, Result};
use crate::options::de;

/// The original's `SEQUENCE_CONFIDENCE_THRESHOLD`.
pub const SEQUENCE_THRESHOLD: f64 = 0.7;
/// The original's `INDIVIDUAL_CONFIDENCE_THRESHOLD`.
pub const SKILL_THRESHOLD: f64 = 0.5;
/// The original's `SEMANTIC_SIMILARITY_THRESHOLD`.
pub const SEMANTIC_THRESHOLD: f64 = 0.6;
/// Two candidates closer than this in confidence are ambiguous.
pub const AMBIGUITY_MARGIN: f64 = 0.1;
/// The original's `CACHE_TTL_MS`.
pub const CACHE_TTL: Duration = Duration::from_secs(120);

/// When a stage's answer is accepted. Per org in [`RouterOptions::org_thresholds`].
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    /// Least confidence for a sequence skill (default 0.7, the original's).
    #[serde(deserialize_with = "de::probability")]
    pub sequence: f64,
    /// Least confidence for a single skill (default 0.5, the original's).
    #[serde(deserialize_with = "de::probability")]
    pub skill: f64,
    /// Least cosine similarity for the embedding stage (default 0.6, the original's).
    #[serde(deserialize_with = "de::probability")]
    pub semantic: f64,
    /// The first two candidates closer than this in confidence are ambiguous (default 0.1):
    /// the LLM stage may decide between them when the route allows it.
    #[serde(deserialize_with = "de::probability")]
    pub ambiguity_margin: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            sequence: SEQUENCE_THRESHOLD,
            skill: SKILL_THRESHOLD,
            semantic: SEMANTIC_THRESHOLD,
            ambiguity_margin: AMBIGUITY_MARGIN,
        }
    }
}

impl Thresholds {
    fn check(&self, field: &str) -> Result<()> {
        for (name, value) in [
            ("sequence", self.sequence),
            ("skill", self.skill),
            ("semantic", self.semantic),
            ("ambiguity_margin", self.ambiguity_margin),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(Error::invalid_input(
                    format!("{field}.{name}"),
                    format!("must be between 0 and 1, got {value}"),
                ));
            }
        }
        Ok(())
    }
}

/// Message router tuning.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RouterOptions {
    /// How long a decision is served from the cache (seconds; default 120, the original's).
    #[serde(deserialize_with = "de::secs")]
    pub cache_ttl: Duration,
    /// Most decisions cached (default 10,000); 0 turns the cache off.
    pub cache_capacity: usize,
    /// Acceptance thresholds for orgs without their own.
    pub thresholds: Thresholds,
    /// Thresholds per org id.
    pub org_thresholds: HashMap<Uuid, Thresholds>,
    /// The score-to-probability curve (default [`Calibration::DEFAULT`]).
    pub calibration: Calibration,
    /// How many candidates a decision lists (default 5, at least 1).
    #[serde(deserialize_with = "de::at_least_one")]
    pub candidates: usize,
    /// Write every decision to `routing_logs` (default true).
    pub log: bool,
    /// Longest the LLM stage may take before the route falls through (seconds; default 3).
    #[serde(deserialize_with = "de::secs")]
    pub llm_timeout: Duration,
}

impl Default for RouterOptions {
    fn default() -> Self {
        Self {
            cache_ttl: CACHE_TTL,
            cache_capacity: 10_000,
            thresholds: Thresholds::default(),
            org_thresholds: HashMap::new(),
            calibration: Calibration::DEFAULT,
            candidates: 5,
            log: true,
            llm_timeout: Duration::from_secs(3),
        }
    }
}

impl RouterOptions {
    /// Checks options built in Rust as deserializing checks them: thresholds within 0 to 1, at
    /// least one candidate.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the field.
    pub fn check(&self) -> Result<()> {
        self.thresholds.check("thresholds")?;
        for (org, thresholds) in &self.org_thresholds {
            thresholds.check(&format!("org_thresholds.{org}"))?;
        }
        if self.candidates == 0 {
            return Err(Error::invalid_input("candidates", "must be at least 1"));
        }
        Ok(())
    }

    /// The thresholds of `org`.
    pub fn thresholds_of(&self, org: Uuid) -> &Thresholds {
        self.org_thresholds.get(&org).unwrap_or(&self.thresholds)
    }
}

/// A route's own options.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RouteOptions {
    /// Let the LLM stage decide when nothing earlier is confident (default false: it costs a
    /// model call).
    pub allow_llm: bool,
    /// Skip the cache lookup (the decision is still cached).
    pub skip_cache: bool,
    /// The trace this route belongs to (default: a new one).
    #[serde(deserialize_with = "de::opt_uuid")]
    pub trace_id: Option<Uuid>,
}

/// Which rows of the routing log to read.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogQuery {
    /// How far back (seconds; default 3,600).
    #[serde(deserialize_with = "de::secs")]
    pub since: Duration,
    /// Most rows, newest first (default 100).
    pub limit: u32,
}

impl Default for LogQuery {
    fn default() -> Self {
        Self {
            since: Duration::from_secs(3600),
            limit: 100,
        }
    }
}
