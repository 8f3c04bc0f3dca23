//! When a health run alerts: a state machine per agent, so a transition alerts once and a
//! steady state does not (the original alerted every unhealthy agent every 5 minutes, 288 a
//! day, and never said when one recovered, §3.6 item 11).
//!
//! The state is what was last notified and when. A new unhealthy status alerts
//! ([`AlertKind::Raised`]), unless an alert went out less than the cooldown ago and the new
//! status is no worse (flapping); a status that persists is told again every renotify interval
//! ([`AlertKind::Reminder`]); healthy again after an alert is a [`AlertKind::Recovered`]
//! notice. Pure: the store applies the returned state with a compare-and-set, so two health
//! runs at once send each alert once.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::status::HealthStatus;
use crate::error::{Error, Result};

/// No new alert for an agent within this long of its last one, unless it got worse (15 min).
pub const COOLDOWN_MS: u64 = 900_000;
/// A status that persists is told again after this long (4 hours).
pub const RENOTIFY_MS: u64 = 14_400_000;

/// What an agent's alerts last said.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertState {
    /// The status last notified; none when the last notice was a recovery, or nothing was ever
    /// sent.
    #[serde(default)]
    pub notified: Option<HealthStatus>,
    /// When it was sent (RFC 3339).
    #[serde(default)]
    pub notified_at: Option<String>,
}

/// What a notice says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// The agent became unhealthy, or its status changed.
    Raised,
    /// Its unhealthy status persists.
    Reminder,
    /// It is healthy again.
    Recovered,
}

/// The cooldown and the renotify interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertOptions {
    /// Milliseconds (default 900,000).
    pub cooldown_ms: u64,
    /// Milliseconds (default 14,400,000); at least the cooldown.
    pub renotify_ms: u64,
}

impl Default for AlertOptions {
    fn default() -> Self {
        Self {
            cooldown_ms: COOLDOWN_MS,
            renotify_ms: RENOTIFY_MS,
        }
    }
}

/// The decision of one health run for one agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlertDecision {
    /// The notice to send, if any.
    pub notify: Option<AlertKind>,
    /// The state to store (unchanged when nothing is sent).
    pub state: AlertState,
    /// Why nothing is sent, when an alert was held back (`cooldown`).
    pub held: Option<String>,
}

/// The decision for an agent now `status` at `now`, after `state` (see the module docs).
///
/// # Errors
/// [`Error::InvalidInput`] naming `renotify_ms` when under `cooldown_ms`, or
/// `state.notified_at` when not an RFC 3339 time (or missing beside `notified`).
pub fn next_alert(
    state: &AlertState,
    status: HealthStatus,
    now: DateTime<Utc>,
    options: &AlertOptions,
) -> Result<AlertDecision> {
    if options.renotify_ms < options.cooldown_ms {
        return Err(Error::invalid_input(
            "renotify_ms",
            "must be at least cooldown_ms",
        ));
    }
    let at = state
        .notified_at
        .as_deref()
        .map(|t| crate::store::parse_time("state.notified_at", t))
        .transpose()?;
    if state.notified.is_some() && at.is_none() {
        return Err(Error::invalid_input(
            "state.notified_at",
            "is required with state.notified",
        ));
    }
    let age = at.map(|at| u64::try_from((now - at).num_milliseconds()).unwrap_or(0));
    let send = |kind: AlertKind| AlertDecision {
        notify: Some(kind),
        state: AlertState {
            notified: (kind != AlertKind::Recovered).then_some(status),
            notified_at: Some(crate::store::rfc3339(now.timestamp_millis())),
        },
        held: None,
    };
    let keep = |held: Option<&str>| AlertDecision {
        notify: None,
        state: state.clone(),
        held: held.map(str::to_owned),
    };
    Ok(match (state.notified, status.is_unhealthy()) {
        (None, false) => keep(None),
        (Some(_), false) => send(AlertKind::Recovered),
        (Some(was), true) if was == status => {
            if age.is_some_and(|a| a >= options.renotify_ms) {
                send(AlertKind::Reminder)
            } else {
                keep(None)
            }
        }
        (was, true) => {
            // Worse than what was last told; after a recovery, a new alert within the
            // cooldown is flapping.
            let worse = was.is_some_and(|w| status > w);
            let cooling = age.is_some_and(|a| a < options.cooldown_ms);
            if cooling && !worse {
                keep(Some("cooldown"))
            } else {
                send(AlertKind::Raised)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-04T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + chrono::Duration::minutes(minutes)
    }

    #[test]
    fn a_transition_alerts_once_a_steady_state_is_reminded_and_recovery_is_told() {
        let o = AlertOptions::default();
        let first = next_alert(&AlertState::default(), HealthStatus::Critical, at(0), &o).unwrap();
        assert_eq!(first.notify, Some(AlertKind::Raised));
        let again = next_alert(&first.state, HealthStatus::Critical, at(5), &o).unwrap();
        assert_eq!(again.notify, None);
        let later = next_alert(&first.state, HealthStatus::Critical, at(240), &o).unwrap();
        assert_eq!(later.notify, Some(AlertKind::Reminder));
        let better = next_alert(&first.state, HealthStatus::Warning, at(5), &o).unwrap();
        assert_eq!(better.held.as_deref(), Some("cooldown"));
        let ok = next_alert(&first.state, HealthStatus::Healthy, at(5), &o).unwrap();
        assert_eq!(ok.notify, Some(AlertKind::Recovered));
        assert_eq!(ok.state.notified, None);
        let quiet = next_alert(&ok.state, HealthStatus::Healthy, at(10), &o).unwrap();
        assert_eq!(quiet.notify, None);
        let flapping = next_alert(&ok.state, HealthStatus::Critical, at(10), &o).unwrap();
        assert_eq!(flapping.held.as_deref(), Some("cooldown"));
        let worse = next_alert(&better.state, HealthStatus::Critical, at(1), &o);
        assert_eq!(worse.unwrap().notify, None, "the same status as notified");
    }
}
