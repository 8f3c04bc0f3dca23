//! One rate limit and one decision shape for every limiter: in process
//! ([`super::LocalLimiter`]) and shared through the database ([`super::SharedLimiter`]).
//!
//! Both run GCRA (the generic cell rate algorithm): a key's state is one theoretical arrival
//! time (TAT). A request admits when `max(tat, now) - now <= tolerance`, and admitting
//! advances the TAT by the emission interval. A [`Limit`] of `limit` per `period_ms` with a
//! `burst` spaces admissions `period / (limit - burst + 1)` apart with a tolerance of
//! `burst - 1` intervals, so **no window of `period_ms` ever admits more than `limit`**, the
//! guarantee a provider's quota needs (a fixed window admits twice the limit across its
//! boundary). A larger burst lets requests come together at the cost of a lower sustained rate.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The longest period a limit may have: 30 days.
pub const MAX_PERIOD_MS: u64 = 30 * 86_400_000;

/// At most `limit` admissions in any window of `period_ms`, `burst` of them at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    /// Admissions per period, 1 to 1,000,000.
    pub limit: u32,
    /// The period in milliseconds (default one minute), 1 ms to 30 days.
    #[serde(default = "Limit::minute")]
    pub period_ms: u64,
    /// How many may come at once, 1 (evenly spaced, the default) to `limit`.
    #[serde(default = "Limit::one")]
    pub burst: u32,
}

impl Limit {
    fn minute() -> u64 {
        60_000
    }

    fn one() -> u32 {
        1
    }

    /// `limit` per minute, evenly spaced.
    pub const fn per_minute(limit: u32) -> Self {
        Limit {
            limit,
            period_ms: 60_000,
            burst: 1,
        }
    }

    /// Checks the ranges; `field` names the limit in the error (`limits.hubspot`).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `{field}.limit`, `{field}.period_ms` or `{field}.burst`.
    #[inline]
    pub fn check(&self, field: &str) -> Result<()> {
        if (1..=1_000_000).contains(&self.limit)
            && (1..=MAX_PERIOD_MS).contains(&self.period_ms)
            && (1..=self.limit).contains(&self.burst)
        {
            return Ok(());
        }
        self.refuse(field)
    }

    #[cold]
    fn refuse(&self, field: &str) -> Result<()> {
        if !(1..=1_000_000).contains(&self.limit) {
            return Err(Error::invalid_input(
                format!("{field}.limit"),
                "must be 1 to 1000000",
            ));
        }
        if !(1..=MAX_PERIOD_MS).contains(&self.period_ms) {
            return Err(Error::invalid_input(
                format!("{field}.period_ms"),
                "must be 1 ms to 30 days",
            ));
        }
        if !(1..=self.limit).contains(&self.burst) {
            return Err(Error::invalid_input(
                format!("{field}.burst"),
                "must be 1 to the limit",
            ));
        }
        Ok(())
    }

    /// The spacing of admissions in milliseconds: `period / (limit - burst + 1)`.
    pub fn emission_ms(&self) -> f64 {
        self.period_ms as f64 / f64::from(self.limit - self.burst + 1)
    }

    /// How far ahead of the clock a key's TAT may be and still admit, in milliseconds.
    pub fn tolerance_ms(&self) -> f64 {
        self.tolerance_of(self.emission_ms())
    }

    #[inline]
    fn tolerance_of(&self, emission: f64) -> f64 {
        f64::from(self.burst - 1) * emission
    }

    /// The decision for a key whose TAT was `tat` at `now` (both in milliseconds), and the
    /// TAT it leaves when admitted alone.
    #[inline]
    pub fn decide(&self, tat: f64, now: f64) -> (Decision, f64) {
        let e = self.emission_ms();
        let t = self.tolerance_of(e);
        let start = tat.max(now);
        let admitted = start - now <= t;
        let next = if admitted { start + e } else { tat };
        (self.decision_with(e, t, admitted, next, now), next)
    }

    /// The decision shape for a key whose TAT is `tat` after the decision at `now`.
    pub fn decision(&self, allowed: bool, tat: f64, now: f64) -> Decision {
        let e = self.emission_ms();
        self.decision_with(e, self.tolerance_of(e), allowed, tat, now)
    }

    /// [`Limit::decision`] with the emission interval `e` and tolerance `t` computed once.
    #[inline]
    fn decision_with(&self, e: f64, t: f64, allowed: bool, tat: f64, now: f64) -> Decision {
        let ahead = (tat - now).max(0.0);
        // Admissions still possible now: those whose start stays within the tolerance. The
        // clock's float rounding (about 1e-4 ms at today's epoch) must not cost one.
        let remaining = if ahead > t + e {
            0
        } else {
            ((t + e - ahead) / e + 1e-6) as u32
        };
        let retry_after_ms = if allowed || ahead <= t {
            0
        } else {
            (ahead - t).ceil() as u64
        };
        Decision {
            allowed,
            limit: self.limit,
            remaining: remaining.min(self.burst),
            retry_after_ms,
            reset_after_ms: ahead.ceil() as u64,
            key: None,
        }
    }
}

/// What a limiter decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// Whether the request may go now.
    pub allowed: bool,
    /// The limit per period (the tightest, for several keys).
    pub limit: u32,
    /// Requests that would still be admitted now (the fewest, for several keys).
    pub remaining: u32,
    /// When denied, how long until a retry can admit, in milliseconds (0 when allowed).
    pub retry_after_ms: u64,
    /// How long until the key is idle again (its whole burst available), in milliseconds.
    pub reset_after_ms: u64,
    /// For several keys: the one that denied (the longest wait), or none.
    pub key: Option<String>,
}

impl Decision {
    /// The decision of several keys decided together: allowed when all are, the fewest
    /// remaining, the tightest limit and the longest waits; `key` names the denying key with
    /// the longest wait.
    pub fn combine(keys: &[&str], decisions: Vec<Decision>) -> Decision {
        let mut out = Decision {
            allowed: true,
            limit: u32::MAX,
            remaining: u32::MAX,
            retry_after_ms: 0,
            reset_after_ms: 0,
            key: None,
        };
        for (key, d) in keys.iter().zip(decisions) {
            out.allowed &= d.allowed;
            out.limit = out.limit.min(d.limit);
            out.remaining = out.remaining.min(d.remaining);
            out.reset_after_ms = out.reset_after_ms.max(d.reset_after_ms);
            if !d.allowed && (out.key.is_none() || d.retry_after_ms > out.retry_after_ms) {
                out.retry_after_ms = d.retry_after_ms;
                out.key = Some((*key).to_owned());
            }
        }
        out
    }
}

/// Checks the keys of one acquisition: 1 to 16 of them, each 1 to 200 characters, none twice.
///
/// # Errors
/// [`Error::InvalidInput`] on `keys`.
pub fn check_keys(keys: &[&str]) -> Result<()> {
    if keys.is_empty() || keys.len() > 16 {
        return Err(Error::invalid_input("keys", "must be 1 to 16 keys"));
    }
    for (i, key) in keys.iter().enumerate() {
        if key.is_empty() || key.chars().count() > 200 {
            return Err(Error::invalid_input(
                "keys",
                "each key must be 1 to 200 characters",
            ));
        }
        if keys[..i].contains(key) {
            return Err(Error::invalid_input(
                "keys",
                format!("{key} is named twice"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evenly_spaced_admits_one_per_interval() {
        let l = Limit::per_minute(8);
        assert_eq!(l.emission_ms(), 7_500.0);
        let (d, tat) = l.decide(0.0, 1_000.0);
        assert!(d.allowed);
        assert_eq!(tat, 8_500.0);
        let (d, _) = l.decide(tat, 2_000.0);
        assert!(!d.allowed);
        assert_eq!(d.retry_after_ms, 6_500);
    }

    #[test]
    fn a_burst_comes_at_once_and_never_exceeds_the_window() {
        let l = Limit {
            limit: 10,
            period_ms: 60_000,
            burst: 4,
        };
        let (mut tat, mut admitted) = (0.0, Vec::new());
        let mut now = 0.0;
        while now < 300_000.0 {
            let (d, next) = l.decide(tat, now);
            if d.allowed {
                admitted.push(now);
                tat = next;
            }
            now += 10.0;
        }
        for (i, &start) in admitted.iter().enumerate() {
            let in_window = admitted[i..]
                .iter()
                .take_while(|&&t| t < start + 60_000.0)
                .count();
            assert!(in_window <= 10, "{in_window} admitted from {start}");
        }
        assert_eq!(admitted[..4], [0.0, 0.0 + 10.0, 20.0, 30.0]);
    }
}
