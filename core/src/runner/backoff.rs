//! How long to wait before the next attempt, and how many attempts each kind of failure gets.
//!
//! Delays grow by `factor` from `base_ms` up to `cap_ms` (the ceiling of retry `n` is
//! `min(cap, base × factor^n)`), then jitter spreads them: *full* draws from `[0, ceiling]`
//! (the agent runner, as AWS recommends), *equal* from `[ceiling / 2, ceiling]` (dead letters,
//! which should not come back at once). A `Retry-After` the failure carried is a floor. Draws
//! come from ChaCha8, so a seed gives the same schedule in every language (the vectors in
//! `testdata/retry_schedules.json` pin it).

use std::collections::BTreeMap;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use serde::{Deserialize, Deserializer, Serialize};

use super::classify::{ERROR_KINDS, ErrorKind};

/// How jitter spreads a delay under its ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Jitter {
    /// Uniform in `[0, ceiling]`.
    Full,
    /// Uniform in `[ceiling / 2, ceiling]`.
    Equal,
    /// The ceiling itself.
    None,
}

/// A capped exponential backoff with jitter.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Backoff {
    /// The ceiling of the first retry, in milliseconds.
    pub base_ms: u64,
    /// How much each retry's ceiling grows (at least 1).
    pub factor: f64,
    /// The largest ceiling, in milliseconds.
    pub cap_ms: u64,
    /// How delays spread under the ceiling.
    pub jitter: Jitter,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base_ms: 1_000,
            factor: 4.0,
            cap_ms: 4_000,
            jitter: Jitter::Full,
        }
    }
}

impl Backoff {
    /// The dead-letter default: the original queue's `min(1 min × 4^n, 1 h)`, equal jitter.
    pub const DEAD_LETTER: Backoff = Backoff {
        base_ms: 60_000,
        factor: 4.0,
        cap_ms: 3_600_000,
        jitter: Jitter::Equal,
    };

    /// A backoff with full jitter.
    pub const fn full(base_ms: u64, cap_ms: u64) -> Self {
        Backoff {
            base_ms,
            factor: 4.0,
            cap_ms,
            jitter: Jitter::Full,
        }
    }

    /// The ceiling of retry `retry` (0 for the first), in milliseconds.
    pub fn ceiling(&self, retry: u32) -> u64 {
        let grown = self.base_ms as f64 * self.factor.max(1.0).powi(retry.min(64) as i32);
        grown.min(self.cap_ms as f64) as u64
    }

    /// The delay before retry `retry`, at least `retry_after_ms`, drawn from `rng`.
    pub fn delay(&self, retry: u32, retry_after_ms: Option<u64>, rng: &mut Draws) -> u64 {
        let ceiling = self.ceiling(retry);
        let drawn = match self.jitter {
            Jitter::Full => rng.upto(ceiling),
            Jitter::Equal => ceiling / 2 + rng.upto(ceiling - ceiling / 2),
            Jitter::None => ceiling,
        };
        drawn.max(retry_after_ms.unwrap_or(0))
    }
}

/// The random draws of jitter: seeded for vectors and tests, else from fresh entropy.
#[derive(Debug, Clone)]
pub struct Draws(ChaCha8Rng);

impl Draws {
    /// Draws that repeat for a seed.
    pub fn seeded(seed: u64) -> Self {
        Draws(ChaCha8Rng::seed_from_u64(seed))
    }

    /// Draws from a fresh random seed.
    pub fn fresh() -> Self {
        Self::seeded(uuid::Uuid::new_v4().as_u64_pair().0)
    }

    /// Uniform in `[0, max]` (modulo of a 64-bit draw: the bias is below 2^-32 for delays
    /// under 49 days).
    pub fn upto(&mut self, max: u64) -> u64 {
        match max.checked_add(1) {
            Some(span) => self.0.next_u64() % span,
            None => self.0.next_u64(),
        }
    }
}

/// The attempts and backoff of one kind of failure.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindPolicy {
    /// Attempts in all for failures of this kind (1 means no retry).
    pub max_attempts: u32,
    /// The wait before each retry.
    #[serde(default)]
    pub backoff: Backoff,
}

/// Retries per kind of failure. Each kind counts its own attempts; `max_attempts` caps the
/// attempts of a run whatever its kinds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryPolicy {
    /// Attempts of a run in all (the original's cap: 4).
    pub max_attempts: u32,
    /// Per kind; kinds not named keep their defaults.
    #[serde(deserialize_with = "over_defaults")]
    pub kinds: BTreeMap<ErrorKind, KindPolicy>,
}

/// The original runner's table (§3.2), with jitter: transient 3 attempts after 1 s then 4 s,
/// context 2 at once, model 2 after 0.5 s, validation 1, unknown 2 after 1 s; rate limits 3
/// after 1 s growing to 30 s (honouring `Retry-After`), timeouts 2 after 1 s.
fn default_kind(kind: ErrorKind) -> KindPolicy {
    let (max_attempts, backoff) = match kind {
        ErrorKind::Transient => (3, Backoff::full(1_000, 4_000)),
        ErrorKind::RateLimited => (3, Backoff::full(1_000, 30_000)),
        ErrorKind::Timeout => (2, Backoff::full(1_000, 4_000)),
        ErrorKind::ContextExceeded => (2, Backoff::full(0, 0)),
        ErrorKind::ModelUnavailable => (2, Backoff::full(500, 500)),
        ErrorKind::Validation => (1, Backoff::full(0, 0)),
        ErrorKind::Unknown => (2, Backoff::full(1_000, 1_000)),
    };
    KindPolicy {
        max_attempts,
        backoff,
    }
}

fn over_defaults<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<BTreeMap<ErrorKind, KindPolicy>, D::Error> {
    let mut kinds = RetryPolicy::default().kinds;
    kinds.extend(BTreeMap::<ErrorKind, KindPolicy>::deserialize(d)?);
    Ok(kinds)
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            kinds: ERROR_KINDS
                .into_iter()
                .map(|k| (k, default_kind(k)))
                .collect(),
        }
    }
}

impl RetryPolicy {
    /// The policy of `kind`.
    pub fn of(&self, kind: ErrorKind) -> KindPolicy {
        self.kinds
            .get(&kind)
            .copied()
            .unwrap_or_else(|| default_kind(kind))
    }

    /// The wait before another attempt after a failure of `kind`, when one is allowed:
    /// `kind_attempts` attempts have failed with this kind, `attempts` in all.
    pub fn next_delay(
        &self,
        kind: ErrorKind,
        kind_attempts: u32,
        attempts: u32,
        retry_after_ms: Option<u64>,
        draws: &mut Draws,
    ) -> Option<u64> {
        let policy = self.of(kind);
        if kind_attempts >= policy.max_attempts || attempts >= self.max_attempts {
            return None;
        }
        Some(
            policy
                .backoff
                .delay(kind_attempts.saturating_sub(1), retry_after_ms, draws),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_follow_the_original_tables() {
        let transient = RetryPolicy::default().of(ErrorKind::Transient).backoff;
        assert_eq!(
            [0, 1, 2].map(|n| transient.ceiling(n)),
            [1_000, 4_000, 4_000]
        );
        assert_eq!(
            [0, 1, 2, 3, 4].map(|n| Backoff::DEAD_LETTER.ceiling(n)),
            [60_000, 240_000, 960_000, 3_600_000, 3_600_000]
        );
    }

    #[test]
    fn jitter_stays_under_the_ceiling_and_over_retry_after() {
        let mut draws = Draws::seeded(7);
        for n in 0..200 {
            let d = Backoff::DEAD_LETTER.delay(n % 5, None, &mut draws);
            let c = Backoff::DEAD_LETTER.ceiling(n % 5);
            assert!(d >= c / 2 && d <= c, "{d} outside [{}, {c}]", c / 2);
        }
        assert_eq!(
            Backoff::full(1_000, 4_000).delay(0, Some(9_000), &mut draws),
            9_000
        );
    }

    #[test]
    fn each_kind_counts_its_own_attempts_under_the_cap() {
        let policy = RetryPolicy::default();
        let mut draws = Draws::seeded(1);
        assert!(
            policy
                .next_delay(ErrorKind::Validation, 1, 1, None, &mut draws)
                .is_none()
        );
        assert!(
            policy
                .next_delay(ErrorKind::Transient, 2, 2, None, &mut draws)
                .is_some()
        );
        assert!(
            policy
                .next_delay(ErrorKind::Transient, 3, 3, None, &mut draws)
                .is_none()
        );
        assert!(
            policy
                .next_delay(ErrorKind::Unknown, 1, 4, None, &mut draws)
                .is_none()
        );
    }

    #[test]
    fn a_partial_policy_keeps_the_other_defaults() {
        let policy: RetryPolicy = serde_json::from_value(
            serde_json::json!({"kinds": {"validation": {"max_attempts": 2}}}),
        )
        .unwrap();
        assert_eq!(policy.of(ErrorKind::Validation).max_attempts, 2);
        assert_eq!(policy.of(ErrorKind::Transient).max_attempts, 3);
    }
}
