//! Evaluation on a labelled set: `keel route eval`, `MessageRouter.evaluate` in the bindings.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::calibrate::{Calibration, Observation, expected_calibration_error, fit};
use super::decision::GENERAL;
use super::options::RouteOptions;
use super::request::RouteRequest;
use super::router::MessageRouter;
use crate::error::{Error, Result};
use crate::skills::Channel;

/// The label of a message no skill should answer.
pub const OUT_OF_SCOPE: &str = "out_of_scope";

/// One labelled message (a line of a `.jsonl` file).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LabelledMessage {
    /// The message.
    pub message: String,
    /// Its channel.
    pub channel: String,
    /// A skill key; `general` for a general message ("thanks"); `out_of_scope` when no skill
    /// should answer.
    pub expected: String,
    /// Free text: what the message tests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Reads a `.jsonl` set: one [`LabelledMessage`] a line; blank lines and `//` lines skipped.
///
/// # Errors
/// [`Error::InvalidInput`] naming `line N` for a line that is not a labelled message or names
/// an unknown channel.
pub fn read_labelled(text: &str) -> Result<Vec<LabelledMessage>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with("//") {
            continue;
        }
        let parsed: LabelledMessage = serde_json::from_str(line)
            .map_err(|e| Error::invalid_input(format!("line {}", n + 1), e.to_string()))?;
        Channel::parse(&parsed.channel)
            .map_err(|e| Error::invalid_input(format!("line {}", n + 1), e.message()))?;
        out.push(parsed);
    }
    Ok(out)
}

/// One skill's figures.
#[derive(Debug, Clone, Serialize)]
pub struct SkillScore {
    /// The label (a skill key, `general` or `out_of_scope`).
    pub label: String,
    /// Messages labelled with it.
    pub support: usize,
    /// Messages routed to it.
    pub predicted: usize,
    /// Of which right.
    pub correct: usize,
    /// correct / predicted.
    pub precision: f64,
    /// correct / support.
    pub recall: f64,
}

/// A message routed wrong.
#[derive(Debug, Clone, Serialize)]
pub struct Miss {
    /// The message.
    pub message: String,
    /// Its label.
    pub expected: String,
    /// What it was routed to.
    pub routed: String,
    /// With what confidence.
    pub confidence: f64,
    /// The candidates the router weighed, best first, with their confidences.
    pub candidates: Vec<(String, f64)>,
}

/// The figures of a labelled set.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// Messages routed.
    pub total: usize,
    /// Routed as labelled.
    pub correct: usize,
    /// correct / total.
    pub accuracy: f64,
    /// Per label, by label.
    pub labels: Vec<SkillScore>,
    /// (expected, routed) pairs that were wrong, most frequent first.
    pub confusion: Vec<(String, String, usize)>,
    /// Out-of-scope messages routed to a skill, as a share of the out-of-scope messages.
    pub out_of_scope_false_accepts: f64,
    /// Share of messages decided by each stage.
    pub stages: BTreeMap<String, f64>,
    /// Route latency percentiles in microseconds (uncached: the set is routed with
    /// `skip_cache`).
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// Expected calibration error of the top candidates' confidences.
    pub calibration_error: f64,
    /// The curve fitted on this set (to pass as `calibration`).
    pub fitted: Option<Calibration>,
    /// The messages routed wrong.
    pub misses: Vec<Miss>,
}

fn label_of(route: &str, out_of_scope: bool) -> String {
    match (route, out_of_scope) {
        (GENERAL, true) => OUT_OF_SCOPE.to_owned(),
        (route, _) => route.to_owned(),
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// [`evaluate`] on a `.jsonl` text (see [`read_labelled`]) for the org id `org_id`: what the
/// bindings call.
///
/// # Errors
/// As [`read_labelled`] and [`evaluate`]; `invalid_input` naming `org_id` for a bad id.
pub async fn evaluate_jsonl(
    router: &MessageRouter,
    org_id: &str,
    labelled: &str,
    allow_llm: bool,
) -> Result<Evaluation> {
    let org = crate::options::require_uuid("org_id", org_id)?;
    let set = read_labelled(labelled)?;
    evaluate(router, org, &set, allow_llm).await
}

/// Routes every message of `set` for `org` (cache skipped, so each is computed) and scores
/// the answers. `allow_llm` lets the LLM stage run when the router has one.
///
/// # Errors
/// As [`MessageRouter::route`]; a message that cannot be routed fails the evaluation with its
/// line's error.
pub async fn evaluate(
    router: &MessageRouter,
    org: Uuid,
    set: &[LabelledMessage],
    allow_llm: bool,
) -> Result<Evaluation> {
    let calibration = router.options().calibration;
    let mut correct = 0;
    let mut latencies = Vec::with_capacity(set.len());
    let mut stages: BTreeMap<String, usize> = BTreeMap::new();
    let mut per_label: HashMap<String, (usize, usize, usize)> = HashMap::new();
    let mut confusion: HashMap<(String, String), usize> = HashMap::new();
    let mut observations = Vec::new();
    let mut misses = Vec::new();
    let (mut oos, mut oos_accepted) = (0usize, 0usize);
    for case in set {
        let mut request = RouteRequest::new(case.message.clone(), &case.channel, org)?;
        request.options = RouteOptions {
            allow_llm,
            skip_cache: true,
            trace_id: None,
        };
        let routed = router.route(&request).await?;
        latencies.push(routed.duration.as_secs_f64() * 1e6);
        let stage = serde_json::to_value(routed.stage)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        *stages.entry(stage).or_default() += 1;
        let got = label_of(&routed.route, routed.out_of_scope);
        per_label.entry(case.expected.clone()).or_default().0 += 1;
        per_label.entry(got.clone()).or_default().1 += 1;
        if case.expected == OUT_OF_SCOPE {
            oos += 1;
            oos_accepted += usize::from(routed.skill_key.is_some());
        }
        if got == case.expected {
            correct += 1;
            per_label.entry(got).or_default().2 += 1;
        } else {
            *confusion
                .entry((case.expected.clone(), got.clone()))
                .or_default() += 1;
            misses.push(Miss {
                message: case.message.clone(),
                expected: case.expected.clone(),
                routed: got,
                confidence: routed.confidence,
                candidates: routed
                    .candidates
                    .iter()
                    .map(|c| (c.skill_key.clone(), c.confidence))
                    .collect(),
            });
        }
        if routed.general_intent.is_none()
            && let Some(top) = routed.candidates.first()
        {
            observations.push(Observation {
                score: top.score,
                margin: top.margin,
                cover: top.cover,
                correct: top.skill_key == case.expected,
            });
        }
    }
    latencies.sort_by(f64::total_cmp);
    let total = set.len();
    let share = |n: usize| {
        if total == 0 {
            0.0
        } else {
            n as f64 / total as f64
        }
    };
    let mut labels: Vec<SkillScore> = per_label
        .into_iter()
        .map(|(label, (support, predicted, right))| SkillScore {
            label,
            support,
            predicted,
            correct: right,
            precision: if predicted == 0 {
                0.0
            } else {
                right as f64 / predicted as f64
            },
            recall: if support == 0 {
                0.0
            } else {
                right as f64 / support as f64
            },
        })
        .collect();
    labels.sort_by(|a, b| a.label.cmp(&b.label));
    let mut confusion: Vec<(String, String, usize)> =
        confusion.into_iter().map(|((e, r), n)| (e, r, n)).collect();
    confusion.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| (&a.0, &a.1).cmp(&(&b.0, &b.1))));
    Ok(Evaluation {
        total,
        correct,
        accuracy: share(correct),
        labels,
        confusion,
        out_of_scope_false_accepts: if oos == 0 {
            0.0
        } else {
            oos_accepted as f64 / oos as f64
        },
        stages: stages.into_iter().map(|(k, n)| (k, share(n))).collect(),
        p50_us: percentile(&latencies, 0.5),
        p99_us: percentile(&latencies, 0.99),
        calibration_error: expected_calibration_error(&calibration, &observations, 10),
        fitted: fit(&observations),
        misses,
    })
}
