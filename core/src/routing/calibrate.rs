//! From raw scores to probabilities.
//!
//! A candidate's raw score (the share of the message its skill explains plus phrase matches,
//! see [`super::index`]), its margin over the next candidate and its cover (the share of the
//! message's information it shares: its words weighed by idf, a word no skill knows weighing
//! most, names left out) become the probability that it is the right answer through a
//! logistic curve (Platt scaling with three features):
//!
//! ```text
//! z = bias + score_weight * score + margin_weight * margin + cover_weight * cover
//! confidence = 1 / (1 + exp(-z))
//! ```
//!
//! Cover tells a message about something else that shares one word with a skill ("what time
//! is it in Tokyo", "book me a flight") from a short message that is all about it ("book time
//! with Dana"): the first has a lone candidate with a clear margin but half its words
//! unexplained. Weighing by idf makes a shared "who" count for little next to an unexplained
//! "president" in "who is the president of France".
//!
//! [`Calibration::DEFAULT`] was fitted with [`fit`] on `testdata/routing/calibration.jsonl`
//! and `dev.jsonl` together (344 labelled messages, 59 of them out of scope; never on the
//! held-out `test.jsonl`) over the library in `skills/`; the test
//! `calibration_is_fitted_on_the_calibration_and_dev_sets` refits it and fails when the two
//! disagree. `keel route eval set.jsonl --fit-on a.jsonl --fit-on b.jsonl` fits on any
//! labelled sets and evaluates with the fit.

use serde::{Deserialize, Serialize};

/// The logistic curve's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// The intercept.
    pub bias: f64,
    /// The weight of the raw score.
    pub score_weight: f64,
    /// The weight of the margin over the next candidate's raw score.
    pub margin_weight: f64,
    /// The weight of the share of the message's words the candidate shares (0 in curves
    /// fitted before it was a feature).
    #[serde(default)]
    pub cover_weight: f64,
}

impl Calibration {
    /// Fitted on `testdata/routing/calibration.jsonl` and `dev.jsonl` (see the module
    /// documentation).
    pub const DEFAULT: Calibration = Calibration {
        bias: -4.8122,
        score_weight: 7.4516,
        margin_weight: 12.4487,
        cover_weight: 3.6640,
    };

    /// The probability for a raw `score` leading the next candidate by `margin` and sharing
    /// the share `cover` of the message's words.
    pub fn confidence(&self, score: f64, margin: f64, cover: f64) -> f64 {
        let z = self.bias
            + self.score_weight * score
            + self.margin_weight * margin
            + self.cover_weight * cover;
        1.0 / (1.0 + (-z).exp())
    }
}

impl Default for Calibration {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// One labelled observation: a top candidate's raw score and margin, and whether it was right.
#[derive(Debug, Clone, Copy)]
pub struct Observation {
    /// The raw score.
    pub score: f64,
    /// The margin over the next candidate.
    pub margin: f64,
    /// The share of the message's information the candidate shares (see [`super::index`]).
    pub cover: f64,
    /// True when the candidate was the labelled answer.
    pub correct: bool,
}

/// Fits the curve by maximum likelihood (Newton's method on the four parameters, with a
/// small ridge so a separable set still converges). `None` when the set has no positive or no
/// negative observation.
#[allow(clippy::needless_range_loop)]
pub fn fit(observations: &[Observation]) -> Option<Calibration> {
    let positives = observations.iter().filter(|o| o.correct).count();
    if positives == 0 || positives == observations.len() {
        return None;
    }
    const RIDGE: f64 = 0.01;
    let mut w = [0.0f64; N];
    for _ in 0..100 {
        let mut grad = [0.0f64; N];
        let mut hess = [[0.0f64; N]; N];
        for o in observations {
            let x = [1.0, o.score, o.margin, o.cover];
            let z: f64 = (0..N).map(|i| w[i] * x[i]).sum();
            let p = 1.0 / (1.0 + (-z).exp());
            let y = if o.correct { 1.0 } else { 0.0 };
            for i in 0..N {
                grad[i] += (p - y) * x[i];
                for j in 0..N {
                    hess[i][j] += p * (1.0 - p) * x[i] * x[j];
                }
            }
        }
        for i in 0..N {
            grad[i] += RIDGE * w[i];
            hess[i][i] += RIDGE;
        }
        let step = solve(hess, grad)?;
        for i in 0..N {
            w[i] -= step[i];
        }
        if step.iter().map(|s| s.abs()).fold(0.0, f64::max) < 1e-9 {
            break;
        }
    }
    Some(Calibration {
        bias: w[0],
        score_weight: w[1],
        margin_weight: w[2],
        cover_weight: w[3],
    })
}

/// The curve's parameters: bias and three weights.
const N: usize = 4;

/// Solves `a x = b` by Gaussian elimination with partial pivoting.
#[allow(clippy::needless_range_loop)] // matrix arithmetic reads best with indices
fn solve(mut a: [[f64; N]; N], mut b: [f64; N]) -> Option<[f64; N]> {
    for col in 0..N {
        let pivot = (col..N).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        for row in col + 1..N {
            let f = a[row][col] / a[col][col];
            for k in col..N {
                a[row][k] -= f * a[col][k];
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = [0.0; N];
    for row in (0..N).rev() {
        let rest: f64 = (row + 1..N).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - rest) / a[row][row];
    }
    Some(x)
}

/// Expected calibration error over `observations` with `bins` equal-width bins of
/// confidence: how far, on average, stated confidence is from observed accuracy.
pub fn expected_calibration_error(
    calibration: &Calibration,
    observations: &[Observation],
    bins: usize,
) -> f64 {
    if observations.is_empty() || bins == 0 {
        return 0.0;
    }
    let mut sums = vec![(0.0f64, 0.0f64, 0usize); bins];
    for o in observations {
        let p = calibration.confidence(o.score, o.margin, o.cover);
        let bin = ((p * bins as f64) as usize).min(bins - 1);
        sums[bin].0 += p;
        sums[bin].1 += if o.correct { 1.0 } else { 0.0 };
        sums[bin].2 += 1;
    }
    let n = observations.len() as f64;
    sums.iter()
        .filter(|s| s.2 > 0)
        .map(|s| (s.0 - s.1).abs() / n)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_recovers_a_known_curve() {
        let truth = Calibration {
            bias: -3.0,
            score_weight: 6.0,
            margin_weight: 2.0,
            cover_weight: 1.5,
        };
        // Deterministic observations whose share of positives follows `truth` exactly.
        let mut observations = Vec::new();
        for i in 0..40 {
            for j in 0..5 {
                for c in 0..4 {
                    let score = f64::from(i) / 40.0;
                    let margin = f64::from(j) / 10.0;
                    let cover = f64::from(c) / 3.0;
                    let p = truth.confidence(score, margin, cover);
                    let positives = (p * 20.0).round() as usize;
                    for k in 0..20 {
                        observations.push(Observation {
                            score,
                            margin,
                            cover,
                            correct: k < positives,
                        });
                    }
                }
            }
        }
        let fitted = fit(&observations).expect("fits");
        assert!((fitted.bias - truth.bias).abs() < 0.3, "{fitted:?}");
        assert!(
            (fitted.score_weight - truth.score_weight).abs() < 0.5,
            "{fitted:?}"
        );
        assert!(
            (fitted.cover_weight - truth.cover_weight).abs() < 0.3,
            "{fitted:?}"
        );
        assert!(expected_calibration_error(&fitted, &observations, 10) < 0.03);
    }

    #[test]
    fn fit_needs_both_outcomes() {
        let one = Observation {
            score: 0.5,
            margin: 0.1,
            cover: 1.0,
            correct: true,
        };
        assert!(fit(&[one, one]).is_none());
    }
}
