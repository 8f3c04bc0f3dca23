//! The circuit breaker's state machine, as pure functions of a stored row and the time.
//!
//! Closed → open after `failure_threshold` failures inside a sliding `window`. Open → half-open
//! once `open_until` passes, through an atomic claim in the database that exactly one caller
//! wins (the probe). A failed probe re-opens the circuit with the cooldown doubled (up to
//! `max_cooldown`); a successful probe closes it. Only failures that are the provider's fault
//! count ([`FailureKind::counts`]).
//!
//! The storage layer applies these functions under the row's lock (PostgreSQL `FOR UPDATE`,
//! SQLite `BEGIN IMMEDIATE`), so concurrent reports never lose a failure.

use std::str::FromStr;
use std::time::Duration;

use crate::error::{Error, Result};
pub use crate::fault::FailureKind;

/// Breaker tuning. Defaults are the original's: 3 failures in 5 minutes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerConfig {
    /// Failures inside `window` that open a model's circuit (default 3).
    pub failure_threshold: u32,
    /// Failures inside `window` across a provider's models that open the provider (default 10).
    /// Only failures a model's own circuit counted are counted here.
    pub provider_failure_threshold: u32,
    /// The sliding window (default 5 minutes).
    pub window: Duration,
    /// Cooldown after the first opening (default 30 s); doubles on each failed probe.
    pub cooldown: Duration,
    /// Longest cooldown (default 10 minutes).
    pub max_cooldown: Duration,
    /// A probe not reported within this is given to another caller (default 60 s).
    pub probe_timeout: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 3,
            provider_failure_threshold: 10,
            window: Duration::from_secs(300),
            cooldown: Duration::from_secs(30),
            max_cooldown: Duration::from_secs(600),
            probe_timeout: Duration::from_secs(60),
        }
    }
}

impl BreakerConfig {
    /// The cooldown after `reopen_count` failed probes: `cooldown × 2^n`, capped.
    pub fn cooldown_after(&self, reopen_count: u32) -> Duration {
        let factor = 1u32.checked_shl(reopen_count.min(20)).unwrap_or(u32::MAX);
        self.cooldown.saturating_mul(factor).min(self.max_cooldown)
    }

    fn ms(d: Duration) -> i64 {
        i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
    }
}

/// A circuit's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CircuitState {
    /// Serving.
    Closed,
    /// Not serving until `open_until`.
    Open,
    /// One probe is out; everyone else treats it as open.
    HalfOpen,
}

impl CircuitState {
    /// `closed`, `open` or `half_open`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half_open",
        }
    }
}

impl FromStr for CircuitState {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "closed" => Ok(CircuitState::Closed),
            "open" => Ok(CircuitState::Open),
            "half_open" => Ok(CircuitState::HalfOpen),
            _ => Err(Error::invalid_input(
                "state",
                format!("`{s}` is not one of closed, open, half_open"),
            )),
        }
    }
}

/// A breaker row as stored; times are milliseconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakerRow {
    /// The circuit's state.
    pub state: CircuitState,
    /// Failure times inside the window, oldest first (fewer than the threshold: reaching it
    /// opens the circuit and clears them).
    pub recent_failures: Vec<i64>,
    /// When an open circuit may be probed.
    pub open_until: Option<i64>,
    /// Failed probes since the circuit last closed.
    pub reopen_count: u32,
    /// When the current probe was handed out.
    pub probe_claimed_at: Option<i64>,
}

impl Default for BreakerRow {
    fn default() -> Self {
        Self {
            state: CircuitState::Closed,
            recent_failures: Vec::new(),
            open_until: None,
            reopen_count: 0,
            probe_claimed_at: None,
        }
    }
}

/// What a report did to a circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Nothing to write.
    Unchanged,
    /// Recorded, no state change (a failure below the threshold).
    Counted,
    /// Closed → open.
    Opened,
    /// Half-open → open after a failed probe, with a longer cooldown.
    Reopened,
    /// Half-open → closed after a successful probe.
    Closed,
}

impl Transition {
    /// `unchanged`, `counted`, `opened`, `reopened` or `closed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Unchanged => "unchanged",
            Transition::Counted => "counted",
            Transition::Opened => "opened",
            Transition::Reopened => "reopened",
            Transition::Closed => "closed",
        }
    }
}

impl BreakerRow {
    /// Applies a failure at `now` with `threshold`; returns the new row and what happened.
    pub fn on_failure(
        &self,
        now: i64,
        threshold: u32,
        config: &BreakerConfig,
    ) -> (Self, Transition) {
        let mut next = self.clone();
        match self.state {
            CircuitState::Closed => {
                let since = now - BreakerConfig::ms(config.window);
                next.recent_failures.retain(|t| *t > since);
                next.recent_failures.push(now);
                // Reaching the threshold opens the circuit and clears the window, so a stored
                // window never holds more than `threshold - 1` failures.
                let keep = threshold.max(1) as usize;
                if next.recent_failures.len() >= keep {
                    next.state = CircuitState::Open;
                    next.reopen_count = 0;
                    next.open_until = Some(now + BreakerConfig::ms(config.cooldown_after(0)));
                    next.recent_failures.clear();
                    (next, Transition::Opened)
                } else {
                    (next, Transition::Counted)
                }
            }
            CircuitState::HalfOpen => {
                next.state = CircuitState::Open;
                next.reopen_count = self.reopen_count.saturating_add(1);
                next.open_until =
                    Some(now + BreakerConfig::ms(config.cooldown_after(next.reopen_count)));
                next.probe_claimed_at = None;
                (next, Transition::Reopened)
            }
            // A late failure of a call started before the circuit opened changes nothing.
            CircuitState::Open => (next, Transition::Unchanged),
        }
    }

    /// Applies a success: only a half-open circuit changes (the probe closes it).
    pub fn on_success(&self) -> (Self, Transition) {
        if self.state != CircuitState::HalfOpen {
            return (self.clone(), Transition::Unchanged);
        }
        (BreakerRow::default(), Transition::Closed)
    }

    /// True when a caller at `now` may try to claim the probe: open with the cooldown over, or
    /// half-open with a probe that was never reported.
    pub fn probe_due(&self, now: i64, config: &BreakerConfig) -> bool {
        match self.state {
            CircuitState::Closed => false,
            CircuitState::Open => self.open_until.is_none_or(|t| now >= t),
            CircuitState::HalfOpen => self
                .probe_claimed_at
                .is_none_or(|t| now >= t + BreakerConfig::ms(config.probe_timeout)),
        }
    }
}

#[cfg(test)]
mod tests {
    //! The state machine with the clock passed in: every time is an explicit `now`.
    use super::*;

    const S: i64 = 1_000;

    fn config() -> BreakerConfig {
        BreakerConfig::default()
    }

    fn fail(row: &BreakerRow, now: i64) -> (BreakerRow, Transition) {
        row.on_failure(now, config().failure_threshold, &config())
    }

    #[test]
    fn the_third_failure_inside_the_window_opens_for_the_cooldown() {
        let (row, t) = fail(&BreakerRow::default(), 0);
        assert_eq!(
            (t, row.recent_failures.clone()),
            (Transition::Counted, vec![0])
        );
        let (row, t) = fail(&row, 10 * S);
        assert_eq!(t, Transition::Counted);
        let (row, t) = fail(&row, 299 * S);
        assert_eq!(t, Transition::Opened);
        assert_eq!(row.state, CircuitState::Open);
        assert_eq!(row.open_until, Some(299 * S + 30 * S));
        assert!(row.recent_failures.is_empty() && row.reopen_count == 0);
    }

    #[test]
    fn failures_slide_out_of_the_window_at_its_edge() {
        let (row, _) = fail(&BreakerRow::default(), 0);
        let (row, _) = fail(&row, 100 * S);
        // 300 s after the first failure it is out of the window (the edge is exclusive).
        let (row, t) = fail(&row, 300 * S);
        assert_eq!(t, Transition::Counted);
        assert_eq!(row.recent_failures, vec![100 * S, 300 * S]);
        let (row, t) = fail(&row, 399 * S);
        assert_eq!(t, Transition::Opened, "{row:?}");
    }

    #[test]
    fn a_lower_threshold_opens_at_once_and_zero_acts_as_one() {
        let mut row = BreakerRow::default();
        for now in [0, 1, 2] {
            row = row.on_failure(now, 5, &config()).0;
        }
        let (row, t) = row.on_failure(3, 2, &config());
        assert_eq!(t, Transition::Opened, "a lower threshold opens at once");
        assert_eq!(row.state, CircuitState::Open);
        let (row, t) = BreakerRow::default().on_failure(0, 0, &config());
        assert_eq!(
            (t, row.state),
            (Transition::Opened, CircuitState::Open),
            "0 acts as 1"
        );
    }

    #[test]
    fn a_late_failure_of_an_open_circuit_changes_nothing() {
        let open = BreakerRow {
            state: CircuitState::Open,
            open_until: Some(30 * S),
            ..BreakerRow::default()
        };
        assert_eq!(fail(&open, 5 * S), (open.clone(), Transition::Unchanged));
        assert_eq!(open.on_success(), (open.clone(), Transition::Unchanged));
    }

    #[test]
    fn a_failed_probe_reopens_with_the_cooldown_doubled_up_to_the_cap() {
        let mut row = BreakerRow {
            state: CircuitState::HalfOpen,
            probe_claimed_at: Some(0),
            ..BreakerRow::default()
        };
        let mut cooldowns = Vec::new();
        for round in 0..7 {
            let now = round * 1_000 * S;
            let (reopened, t) = fail(&row, now);
            assert_eq!(t, Transition::Reopened);
            assert_eq!(reopened.probe_claimed_at, None);
            cooldowns.push((reopened.open_until.unwrap() - now) / S);
            row = BreakerRow {
                state: CircuitState::HalfOpen,
                probe_claimed_at: Some(now),
                ..reopened
            };
        }
        assert_eq!(cooldowns, vec![60, 120, 240, 480, 600, 600, 600]);
        assert_eq!(row.reopen_count, 7);
    }

    #[test]
    fn cooldown_doubles_without_overflow() {
        let c = config();
        let secs = |n| c.cooldown_after(n).as_secs();
        assert_eq!(
            [secs(0), secs(1), secs(2), secs(4), secs(5)],
            [30, 60, 120, 480, 600]
        );
        assert_eq!(secs(u32::MAX), 600);
        let uncapped = BreakerConfig {
            max_cooldown: Duration::MAX,
            ..c
        };
        assert_eq!(
            uncapped.cooldown_after(40),
            Duration::from_secs(30) * (1 << 20)
        );
    }

    #[test]
    fn only_the_probe_closes_and_closing_forgets_everything() {
        let closed = BreakerRow {
            recent_failures: vec![1, 2],
            ..BreakerRow::default()
        };
        assert_eq!(closed.on_success(), (closed.clone(), Transition::Unchanged));
        let probing = BreakerRow {
            state: CircuitState::HalfOpen,
            reopen_count: 3,
            probe_claimed_at: Some(7),
            open_until: Some(9),
            recent_failures: vec![],
        };
        assert_eq!(
            probing.on_success(),
            (BreakerRow::default(), Transition::Closed)
        );
    }

    #[test]
    fn a_probe_comes_due_when_the_cooldown_ends_and_again_if_never_reported() {
        let c = config();
        assert!(!BreakerRow::default().probe_due(i64::MAX, &c));
        let open = BreakerRow {
            state: CircuitState::Open,
            open_until: Some(30 * S),
            ..BreakerRow::default()
        };
        assert!(!open.probe_due(30 * S - 1, &c));
        assert!(open.probe_due(30 * S, &c));
        let unknown_end = BreakerRow {
            open_until: None,
            ..open.clone()
        };
        assert!(unknown_end.probe_due(0, &c));
        let claimed = BreakerRow {
            state: CircuitState::HalfOpen,
            probe_claimed_at: Some(100 * S),
            ..open
        };
        assert!(!claimed.probe_due(160 * S - 1, &c), "the probe is out");
        assert!(
            claimed.probe_due(160 * S, &c),
            "an unreported probe is handed out again"
        );
    }

    #[test]
    fn stored_names_are_fixed_and_read_back() {
        let states = [
            (CircuitState::Closed, "closed"),
            (CircuitState::Open, "open"),
            (CircuitState::HalfOpen, "half_open"),
        ];
        for (state, name) in states {
            assert_eq!(
                (state.as_str(), name.parse::<CircuitState>().unwrap()),
                (name, state)
            );
        }
        assert_eq!(
            "ajar".parse::<CircuitState>().unwrap_err().field(),
            Some("state")
        );
        let kinds = [
            (FailureKind::Timeout, "timeout", true),
            (FailureKind::ServerError, "server_error", true),
            (FailureKind::RateLimited, "rate_limited", true),
            (FailureKind::Overloaded, "overloaded", true),
            (FailureKind::ClientError, "client_error", false),
            (FailureKind::ContextTooLong, "context_too_long", false),
        ];
        for (kind, name, counts) in kinds {
            assert_eq!(kind.as_str(), name);
            assert_eq!(name.parse::<FailureKind>().unwrap(), kind);
            assert_eq!(kind.counts(), counts, "{name}");
        }
        assert_eq!(
            "meteor".parse::<FailureKind>().unwrap_err().field(),
            Some("kind")
        );
        let transitions = [
            (Transition::Unchanged, "unchanged"),
            (Transition::Counted, "counted"),
            (Transition::Opened, "opened"),
            (Transition::Reopened, "reopened"),
            (Transition::Closed, "closed"),
        ];
        for (transition, name) in transitions {
            assert_eq!(transition.as_str(), name);
        }
    }

    #[test]
    fn statuses_map_to_kinds() {
        let cases = [
            (None, FailureKind::Timeout),
            (Some(408), FailureKind::Timeout),
            (Some(504), FailureKind::Timeout),
            (Some(429), FailureKind::RateLimited),
            (Some(529), FailureKind::Overloaded),
            (Some(413), FailureKind::ContextTooLong),
            (Some(500), FailureKind::ServerError),
            (Some(599), FailureKind::ServerError),
            (Some(400), FailureKind::ClientError),
            (Some(499), FailureKind::ClientError),
            (Some(302), FailureKind::Timeout),
            (Some(600), FailureKind::Timeout),
        ];
        for (status, kind) in cases {
            assert_eq!(FailureKind::from_status(status), kind, "{status:?}");
        }
    }

    #[test]
    fn only_the_providers_faults_count() {
        for (status, counts) in [
            (None, true),
            (Some(429), true),
            (Some(500), true),
            (Some(529), true),
        ] {
            assert_eq!(
                FailureKind::from_status(status).counts(),
                counts,
                "{status:?}"
            );
        }
        for status in [400, 401, 403, 404, 413, 422] {
            assert!(!FailureKind::from_status(Some(status)).counts(), "{status}");
        }
    }
}
