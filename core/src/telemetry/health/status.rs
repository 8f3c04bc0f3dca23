//! An agent's health from its metrics: the original's thresholds (§3.4) with the seed's intent
//! restored (§3.6 item 10): staleness judged against the agent's own cadence from its latest
//! success ever (not a 24-hour window a daily agent can never fail), an open circuit on a
//! model the agent uses is critical, an agent not in the registry is reported as such, and
//! every status carries all its reasons.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A failure rate from this (percent) makes an agent `warning`.
pub const WARNING_FAILURE_RATE: f64 = 10.0;
/// A failure rate from this (percent) makes an agent `critical`.
pub const CRITICAL_FAILURE_RATE: f64 = 30.0;
/// No success for this many cadences makes an agent `stale`.
pub const STALE_CADENCES: f64 = 2.0;
/// More open dead letters than this make an agent `critical` (1 to this many: `warning`).
pub const DEAD_LETTERS_CRITICAL: u64 = 5;
/// The shortest window metrics are taken over (24 hours).
pub const MIN_WINDOW_MS: u64 = 86_400_000;

/// How an agent is doing, worst last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// Nothing wrong.
    Healthy,
    /// Worth a look.
    Warning,
    /// No success for too long (the agent may be down).
    Stale,
    /// Failing.
    Critical,
}

impl HealthStatus {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Warning => "warning",
            Self::Stale => "stale",
            Self::Critical => "critical",
        }
    }

    /// True for every status but healthy.
    pub fn is_unhealthy(self) -> bool {
        self != Self::Healthy
    }
}

/// An agent's metrics over its window, as the fleet query returns them.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AgentMetrics {
    /// The agent.
    pub agent_name: String,
    /// Its expected cadence in milliseconds; none when it is not in the registry.
    #[serde(default)]
    pub cadence_ms: Option<u64>,
    /// Runs started in the window.
    pub runs: u64,
    /// Runs in the window that ended (not running).
    pub finished: u64,
    /// Runs in the window that failed (`partial` and `budget_exceeded` are not failures).
    pub failed: u64,
    /// Its latest success ever (RFC 3339), whatever the window.
    #[serde(default)]
    pub last_success_at: Option<String>,
    /// Runs still `running` past their deadline.
    #[serde(default)]
    pub stuck: u64,
    /// Its open dead letters.
    #[serde(default)]
    pub dead_letters: u64,
    /// `provider/model` of the models it uses whose circuit is open.
    #[serde(default)]
    pub open_breakers: Vec<String>,
}

/// An agent's status and every reason for it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentStatus {
    /// The agent.
    pub agent_name: String,
    /// The worst status a rule gave (healthy when none did).
    pub status: HealthStatus,
    /// Why, worst first (empty when healthy).
    pub reasons: Vec<String>,
    /// Failed over finished runs, in percent to two decimals; none with no finished run.
    pub failure_rate: Option<f64>,
}

/// The window an agent with `cadence_ms` is judged over: 24 hours, or two cadences when that
/// is longer (so a daily or weekly agent is never judged on less than two runs' worth).
pub fn window_ms(cadence_ms: Option<u64>) -> u64 {
    cadence_ms.map_or(MIN_WINDOW_MS, |c| {
        MIN_WINDOW_MS.max(c.saturating_mul(STALE_CADENCES as u64))
    })
}

/// A duration for a person: minutes under two hours, hours under two days, else days.
pub(super) fn span(ms: u64) -> String {
    let minutes = ms / 60_000;
    match minutes {
        m if m < 120 => format!("{m} min"),
        m if m < 2_880 => format!("{} h", m / 60),
        m => format!("{} d", m / 1_440),
    }
}

/// The status of an agent with `m` at `now` under the original's thresholds (see the module
/// docs): no success within 2 cadences (or no run at all) is stale; a failure rate from 30 %
/// critical, from 10 % warning; a stuck run critical; more than 5 dead letters critical, 1 to
/// 5 warning; an open circuit on a model it uses critical; not registered, warning. The worst
/// wins (critical over stale over warning); the reasons are all kept, worst first.
///
/// # Errors
/// [`Error::InvalidInput`] naming `cadence_ms` when 0, `failed` when above `finished`,
/// `finished` when above `runs`, or `last_success_at` when not an RFC 3339 time.
pub fn agent_status(m: &AgentMetrics, now: DateTime<Utc>) -> Result<AgentStatus> {
    if m.cadence_ms == Some(0) {
        return Err(Error::invalid_input("cadence_ms", "must be at least 1"));
    }
    if m.finished > m.runs {
        return Err(Error::invalid_input("finished", "must be at most runs"));
    }
    if m.failed > m.finished {
        return Err(Error::invalid_input("failed", "must be at most finished"));
    }
    let last_success = m
        .last_success_at
        .as_deref()
        .map(|t| crate::store::parse_time("last_success_at", t))
        .transpose()?;
    let mut found: Vec<(HealthStatus, String)> = Vec::new();
    match m.cadence_ms {
        None => found.push((
            HealthStatus::Warning,
            "not in the agent registry: its cadence is unknown, so staleness is not judged".into(),
        )),
        Some(cadence) => {
            let stale_after = (cadence as f64 * STALE_CADENCES) as u64;
            match last_success {
                None if m.runs == 0 => found.push((
                    HealthStatus::Stale,
                    format!(
                        "no run in the last {} and no success ever: the agent may never have run",
                        span(window_ms(Some(cadence)))
                    ),
                )),
                None => {}
                Some(at) => {
                    let since = u64::try_from((now - at).num_milliseconds()).unwrap_or(0);
                    if since > stale_after {
                        found.push((
                            HealthStatus::Stale,
                            format!(
                                "no successful run in {} (expected every {})",
                                span(since),
                                span(cadence)
                            ),
                        ));
                    }
                }
            }
        }
    }
    let failure_rate =
        (m.finished > 0).then(|| (m.failed as f64 * 10_000.0 / m.finished as f64).round() / 100.0);
    if let Some(rate) = failure_rate {
        let window = span(window_ms(m.cadence_ms));
        let line = format!(
            "failure rate {rate}% over {window} ({} of {} runs)",
            m.failed, m.finished
        );
        if rate >= CRITICAL_FAILURE_RATE {
            found.push((HealthStatus::Critical, line));
        } else if rate >= WARNING_FAILURE_RATE {
            found.push((HealthStatus::Warning, line));
        }
    }
    if m.stuck > 0 {
        found.push((
            HealthStatus::Critical,
            format!("{} run(s) still running past their deadline", m.stuck),
        ));
    }
    if m.dead_letters > DEAD_LETTERS_CRITICAL {
        found.push((
            HealthStatus::Critical,
            format!("{} open dead letters", m.dead_letters),
        ));
    } else if m.dead_letters > 0 {
        found.push((
            HealthStatus::Warning,
            format!("{} open dead letter(s)", m.dead_letters),
        ));
    }
    for breaker in &m.open_breakers {
        found.push((
            HealthStatus::Critical,
            format!("circuit open for {breaker}, a model it uses"),
        ));
    }
    // Worst first; a rule's order among equals.
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    Ok(AgentStatus {
        agent_name: m.agent_name.clone(),
        status: found.first().map_or(HealthStatus::Healthy, |f| f.0),
        reasons: found.into_iter().map(|f| f.1).collect(),
        failure_rate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics() -> AgentMetrics {
        AgentMetrics {
            agent_name: "cc-enrich".into(),
            cadence_ms: Some(15 * 60_000),
            runs: 96,
            finished: 96,
            failed: 0,
            last_success_at: Some("2026-12-04T11:50:00Z".into()),
            stuck: 0,
            dead_letters: 0,
            open_breakers: Vec::new(),
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-04T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn the_worst_wins_and_every_reason_is_kept() {
        assert_eq!(
            agent_status(&metrics(), now()).unwrap().status,
            HealthStatus::Healthy
        );
        let m = AgentMetrics {
            failed: 12,
            dead_letters: 2,
            last_success_at: Some("2026-12-04T10:00:00Z".into()),
            ..metrics()
        };
        let s = agent_status(&m, now()).unwrap();
        assert_eq!(s.status, HealthStatus::Stale);
        assert_eq!(s.failure_rate, Some(12.5));
        assert_eq!(s.reasons.len(), 3, "{:?}", s.reasons);
        let m = AgentMetrics {
            open_breakers: vec!["anthropic/claude-haiku-4-5".into()],
            ..m
        };
        assert_eq!(
            agent_status(&m, now()).unwrap().status,
            HealthStatus::Critical
        );
    }

    #[test]
    fn a_weekly_agent_is_judged_over_two_weeks() {
        assert_eq!(window_ms(Some(7 * 86_400_000)), 14 * 86_400_000);
        assert_eq!(window_ms(Some(60_000)), MIN_WINDOW_MS);
        assert_eq!(window_ms(None), MIN_WINDOW_MS);
    }
}
