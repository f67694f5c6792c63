//! Binary classification: precision, recall, F1 and accuracy at a threshold, ROC AUC and log
//! loss, as plain functions and as a streaming [`BinaryAccumulator`].
//!
//! Conventions (the same as scikit-learn's, against which they are tested):
//!
//! - A sample is predicted positive when its probability is `>= threshold`.
//! - Precision is 0 when nothing is predicted positive and recall is 0 when no label is positive
//!   (scikit-learn's `zero_division=0`); F1 is `2·TP / (2·TP + FP + FN)`, 0 when that
//!   denominator is 0.
//! - ROC AUC is the probability that a random positive scores above a random negative, ties
//!   counting one half (the Mann–Whitney statistic, equal to the area under the trapezoidal ROC
//!   curve). It is an error ([`Error::SingleClass`]) when the labels hold only one class.
//! - Log loss is the mean of `-ln p` over positives and `-ln(1 - p)` over negatives, with
//!   probabilities clipped to `[ε, 1 - ε]`, `ε = f64::EPSILON`, so it is always finite.

use serde::{Deserialize, Serialize};

use crate::error::{check_finite_parameter, check_non_empty, check_probabilities, check_same_len, ratio_or_zero};
use crate::{Error, Result};

/// A type usable as a binary label: `bool`, or a number that must be 0 or 1.
///
/// Numbers other than 0 and 1 are rejected with [`Error::InvalidBinaryLabel`] rather than
/// guessed at.
pub trait BinaryLabel: Copy {
    /// `Some(true)` for a positive label, `Some(false)` for a negative one, `None` when the value
    /// is not a binary label.
    fn to_binary(self) -> Option<bool>;
    /// The value as `f64`, used in error messages.
    fn to_f64_lossy(self) -> f64;
}

impl BinaryLabel for bool {
    fn to_binary(self) -> Option<bool> {
        Some(self)
    }
    fn to_f64_lossy(self) -> f64 {
        f64::from(u8::from(self))
    }
}

macro_rules! numeric_binary_label {
    ($($t:ty),*) => {$(
        impl BinaryLabel for $t {
            #[allow(clippy::float_cmp)]
            fn to_binary(self) -> Option<bool> {
                if self == 1 as $t {
                    Some(true)
                } else if self == 0 as $t {
                    Some(false)
                } else {
                    None
                }
            }
            fn to_f64_lossy(self) -> f64 {
                self as f64
            }
        }
    )*};
}
numeric_binary_label!(u8, u16, u32, u64, usize, i8, i16, i32, i64, f32, f64);

/// Converts labels to `bool`, failing at the first label that is not binary.
fn to_bools<L: BinaryLabel>(labels: &[L]) -> Result<Vec<bool>> {
    labels
        .iter()
        .enumerate()
        .map(|(index, &l)| l.to_binary().ok_or(Error::InvalidBinaryLabel { index, value: l.to_f64_lossy() }))
        .collect()
}

/// The four counts of a binary confusion matrix, with the metrics derived from them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BinaryConfusion {
    /// Positives predicted positive.
    pub true_positives: u64,
    /// Negatives predicted positive.
    pub false_positives: u64,
    /// Negatives predicted negative.
    pub true_negatives: u64,
    /// Positives predicted negative.
    pub false_negatives: u64,
}

impl BinaryConfusion {
    /// Counts the confusion matrix of `probs >= threshold` against `labels`.
    ///
    /// Scores need not be probabilities here, only finite; the threshold must be finite.
    pub fn from_scores<L: BinaryLabel>(scores: &[f64], labels: &[L], threshold: f64) -> Result<Self> {
        const WHAT: &str = "binary confusion";
        check_finite_parameter("threshold", threshold)?;
        check_same_len(WHAT, ("scores", scores.len()), ("labels", labels.len()))?;
        check_non_empty(WHAT, scores.len() as u64)?;
        crate::error::check_finite("scores", scores)?;
        let labels = to_bools(labels)?;
        let mut confusion = BinaryConfusion::default();
        for (&s, &y) in scores.iter().zip(&labels) {
            confusion.add(s >= threshold, y);
        }
        Ok(confusion)
    }

    fn add(&mut self, predicted: bool, actual: bool) {
        match (predicted, actual) {
            (true, true) => self.true_positives += 1,
            (true, false) => self.false_positives += 1,
            (false, false) => self.true_negatives += 1,
            (false, true) => self.false_negatives += 1,
        }
    }

    /// Number of samples counted.
    pub fn total(&self) -> u64 {
        self.true_positives + self.false_positives + self.true_negatives + self.false_negatives
    }

    /// `TP / (TP + FP)`; 0 when nothing is predicted positive (scikit-learn's `zero_division=0`).
    pub fn precision(&self) -> f64 {
        ratio_or_zero(self.true_positives, self.true_positives + self.false_positives)
    }

    /// `TP / (TP + FN)`; 0 when no label is positive (scikit-learn's `zero_division=0`).
    pub fn recall(&self) -> f64 {
        ratio_or_zero(self.true_positives, self.true_positives + self.false_negatives)
    }

    /// `2·TP / (2·TP + FP + FN)`, the harmonic mean of precision and recall; 0 when there are
    /// neither positive labels nor positive predictions.
    pub fn f1(&self) -> f64 {
        ratio_or_zero(2 * self.true_positives, 2 * self.true_positives + self.false_positives + self.false_negatives)
    }

    /// `(TP + TN) / total`; 0 for an empty matrix.
    pub fn accuracy(&self) -> f64 {
        ratio_or_zero(self.true_positives + self.true_negatives, self.total())
    }
}

/// Every binary metric of one evaluation, ready to be saved as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BinaryReport {
    /// The threshold at which probabilities became predictions (`p >= threshold` is positive).
    pub threshold: f64,
    /// Number of samples.
    pub n_samples: u64,
    /// Number of positive labels.
    pub n_positive: u64,
    /// The confusion matrix at `threshold`.
    pub confusion: BinaryConfusion,
    /// Precision at `threshold` (0 when nothing is predicted positive).
    pub precision: f64,
    /// Recall at `threshold` (0 when no label is positive).
    pub recall: f64,
    /// F1 at `threshold`.
    pub f1: f64,
    /// Accuracy at `threshold`.
    pub accuracy: f64,
    /// ROC AUC; `None` when the labels hold only one class (where [`roc_auc`] is an error), so
    /// that the threshold metrics of such a batch can still be reported.
    pub roc_auc: Option<f64>,
    /// Mean log loss (natural logarithm), probabilities clipped to `[ε, 1 - ε]`.
    pub log_loss: f64,
}

/// Computes every binary metric at once; see [`BinaryReport`] and the [module docs](self).
///
/// `probs` must be probabilities of the positive class in `[0, 1]`; `labels` are `bool` or 0/1
/// numbers. Errors on empty or misaligned input, non-probabilities, non-binary labels and a
/// non-finite threshold.
pub fn binary_report<L: BinaryLabel>(probs: &[f64], labels: &[L], threshold: f64) -> Result<BinaryReport> {
    let mut acc = BinaryAccumulator::try_new(threshold)?;
    acc.update(probs, labels)?;
    acc.finish()
}

/// ROC AUC of `scores` (any finite numbers; higher means more likely positive) against `labels`.
///
/// Ties count one half, which makes the value equal to scikit-learn's `roc_auc_score`. Errors
/// with [`Error::SingleClass`] when all labels are equal, and on empty, misaligned or
/// non-finite input.
pub fn roc_auc<L: BinaryLabel>(scores: &[f64], labels: &[L]) -> Result<f64> {
    check_same_len("roc_auc", ("scores", scores.len()), ("labels", labels.len()))?;
    check_non_empty("roc_auc", scores.len() as u64)?;
    crate::error::check_finite("scores", scores)?;
    let labels = to_bools(labels)?;
    let (mut pos, mut neg) = (Vec::new(), Vec::new());
    for (&s, &y) in scores.iter().zip(&labels) {
        if y {
            pos.push(s)
        } else {
            neg.push(s)
        }
    }
    auc_from_split(pos, neg).ok_or(Error::SingleClass { metric: "ROC AUC" })
}

/// Mean log loss of probabilities `probs` against `labels`; see the [module docs](self).
pub fn log_loss<L: BinaryLabel>(probs: &[f64], labels: &[L]) -> Result<f64> {
    check_same_len("log_loss", ("probs", probs.len()), ("labels", labels.len()))?;
    check_non_empty("log_loss", probs.len() as u64)?;
    check_probabilities("probs", probs)?;
    let labels = to_bools(labels)?;
    let total: f64 = probs.iter().zip(&labels).map(|(&p, &y)| sample_log_loss(p, y)).sum();
    Ok(total / probs.len() as f64)
}

/// `-ln p` for a positive, `-ln(1 - p)` for a negative, clipped like scikit-learn.
fn sample_log_loss(p: f64, positive: bool) -> f64 {
    let eps = f64::EPSILON;
    let q = if positive { p } else { 1.0 - p };
    -q.clamp(eps, 1.0 - eps).ln()
}

/// Mann–Whitney AUC from the scores of positives and negatives; `None` if either is empty.
///
/// The numerator is counted exactly in integers (twice the number of won pairs plus ties), so
/// it stays exact for any sample size that fits in memory.
fn auc_from_split(mut pos: Vec<f64>, mut neg: Vec<f64>) -> Option<f64> {
    if pos.is_empty() || neg.is_empty() {
        return None;
    }
    // Scores are finite, so `total_cmp` agrees with `<` except that it orders -0.0 before 0.0;
    // the walk below compares with `<` and `==`, which treat them as the same score.
    pos.sort_unstable_by(f64::total_cmp);
    neg.sort_unstable_by(f64::total_cmp);
    let mut twice_wins: u128 = 0;
    // `j` counts the negatives strictly below the current positive score.
    let (mut i, mut j) = (0usize, 0usize);
    while i < pos.len() {
        let s = pos[i];
        let mut same_pos = 0usize;
        while i < pos.len() && pos[i] == s {
            same_pos += 1;
            i += 1;
        }
        while j < neg.len() && neg[j] < s {
            j += 1;
        }
        let mut ties = 0usize;
        while j + ties < neg.len() && neg[j + ties] == s {
            ties += 1;
        }
        twice_wins += same_pos as u128 * (2 * j as u128 + ties as u128);
    }
    let pairs = pos.len() as f64 * neg.len() as f64;
    Some(twice_wins as f64 / (2.0 * pairs))
}

/// Streaming binary metrics: feed batches with [`update`](Self::update), read the result with
/// [`finish`](Self::finish).
///
/// Threshold counts and the log loss take constant memory; the exact ROC AUC keeps every score
/// (8 bytes a sample). Accumulators built with the same threshold can be [merged](Self::merge),
/// for example after evaluating shards in parallel.
///
/// ```
/// use rec_metrics::BinaryAccumulator;
///
/// let mut acc = BinaryAccumulator::try_new(0.5)?;
/// acc.update(&[0.9, 0.2], &[true, false])?;
/// acc.update(&[0.6, 0.4], &[0u8, 1])?;
/// let report = acc.finish()?;
/// assert_eq!(report.n_samples, 4);
/// assert_eq!(report.precision, 0.5);
/// assert_eq!(report.roc_auc, Some(0.75));
/// # Ok::<(), rec_metrics::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct BinaryAccumulator {
    threshold: f64,
    confusion: BinaryConfusion,
    log_loss_sum: f64,
    pos_scores: Vec<f64>,
    neg_scores: Vec<f64>,
}

impl Default for BinaryAccumulator {
    /// An empty accumulator with threshold 0.5.
    fn default() -> Self {
        Self {
            threshold: 0.5,
            confusion: BinaryConfusion::default(),
            log_loss_sum: 0.0,
            pos_scores: Vec::new(),
            neg_scores: Vec::new(),
        }
    }
}

impl BinaryAccumulator {
    /// An empty accumulator with threshold 0.5.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty accumulator with the given threshold, which must be finite.
    pub fn try_new(threshold: f64) -> Result<Self> {
        check_finite_parameter("threshold", threshold)?;
        Ok(Self { threshold, ..Self::default() })
    }

    /// The threshold in use.
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    /// Number of samples seen so far.
    pub fn n_samples(&self) -> u64 {
        self.confusion.total()
    }

    /// Adds a batch of probabilities and their labels.
    ///
    /// The batch is checked as a whole first: on error nothing of it is counted. An empty batch
    /// is allowed and changes nothing.
    pub fn update<L: BinaryLabel>(&mut self, probs: &[f64], labels: &[L]) -> Result<()> {
        check_same_len("BinaryAccumulator::update", ("probs", probs.len()), ("labels", labels.len()))?;
        check_probabilities("probs", probs)?;
        let labels = to_bools(labels)?;
        for (&p, &y) in probs.iter().zip(&labels) {
            self.confusion.add(p >= self.threshold, y);
            self.log_loss_sum += sample_log_loss(p, y);
            if y {
                self.pos_scores.push(p)
            } else {
                self.neg_scores.push(p)
            }
        }
        Ok(())
    }

    /// Adds everything `other` has seen. Fails if the thresholds differ.
    pub fn merge(&mut self, other: &BinaryAccumulator) -> Result<()> {
        if self.threshold.to_bits() != other.threshold.to_bits() {
            return Err(Error::InvalidParameter {
                name: "threshold",
                reason: format!("cannot merge accumulators with thresholds {} and {}", self.threshold, other.threshold),
            });
        }
        let c = &mut self.confusion;
        c.true_positives += other.confusion.true_positives;
        c.false_positives += other.confusion.false_positives;
        c.true_negatives += other.confusion.true_negatives;
        c.false_negatives += other.confusion.false_negatives;
        self.log_loss_sum += other.log_loss_sum;
        self.pos_scores.extend_from_slice(&other.pos_scores);
        self.neg_scores.extend_from_slice(&other.neg_scores);
        Ok(())
    }

    /// The metrics of everything seen so far; [`Error::Empty`] if nothing was seen.
    ///
    /// The accumulator is left as it was, so it can keep taking batches.
    pub fn finish(&self) -> Result<BinaryReport> {
        let n = self.confusion.total();
        check_non_empty("binary metrics", n)?;
        let c = self.confusion;
        Ok(BinaryReport {
            threshold: self.threshold,
            n_samples: n,
            n_positive: c.true_positives + c.false_negatives,
            confusion: c,
            precision: c.precision(),
            recall: c.recall(),
            f1: c.f1(),
            accuracy: c.accuracy(),
            roc_auc: auc_from_split(self.pos_scores.clone(), self.neg_scores.clone()),
            log_loss: self.log_loss_sum / n as f64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn hand_computed_threshold_metrics() {
        // p >= 0.5 -> predictions 1 1 0 1 0 0 against labels 1 0 1 1 0 0:
        // TP = 2, FP = 1, FN = 1, TN = 2.
        let probs = [0.9, 0.8, 0.3, 0.5, 0.1, 0.49];
        let labels = [1u8, 0, 1, 1, 0, 0];
        let r = binary_report(&probs, &labels, 0.5).unwrap();
        assert_eq!(
            r.confusion,
            BinaryConfusion { true_positives: 2, false_positives: 1, true_negatives: 2, false_negatives: 1 }
        );
        assert!(close(r.precision, 2.0 / 3.0));
        assert!(close(r.recall, 2.0 / 3.0));
        assert!(close(r.f1, 2.0 / 3.0));
        assert!(close(r.accuracy, 4.0 / 6.0));
        // Positives 0.9, 0.5, 0.3; negatives 0.8, 0.49, 0.1. Pairs won: 0.9 beats all 3,
        // 0.5 beats 0.49 and 0.1, 0.3 beats 0.1: 6 of 9.
        assert!(close(r.roc_auc.unwrap(), 6.0 / 9.0));
        let expected_ll = -(0.9f64.ln() + 0.2f64.ln() + 0.3f64.ln() + 0.5f64.ln() + 0.9f64.ln() + 0.51f64.ln()) / 6.0;
        assert!(close(r.log_loss, expected_ll));
    }

    #[test]
    fn asymmetric_counts_catch_swapped_formulas() {
        // TP = 1, FP = 3, FN = 0, TN = 1: precision 1/4, recall 1, F1 = 2/5.
        let c =
            BinaryConfusion::from_scores(&[0.9, 0.8, 0.7, 0.6, 0.1], &[true, false, false, false, false], 0.5).unwrap();
        assert!(close(c.precision(), 0.25));
        assert!(close(c.recall(), 1.0));
        assert!(close(c.f1(), 0.4));
        assert!(close(c.accuracy(), 0.4));
    }

    #[test]
    fn ties_count_one_half_in_auc() {
        assert!(close(roc_auc(&[0.5, 0.5], &[1, 0]).unwrap(), 0.5));
        // Positive 0.7 ties one negative and beats the other: (1 + 0.5) / 2.
        assert!(close(roc_auc(&[0.7, 0.7, 0.2], &[true, false, false]).unwrap(), 0.75));
        // -0.0 and 0.0 are the same score.
        assert!(close(roc_auc(&[-0.0, 0.0], &[true, false]).unwrap(), 0.5));
        assert!(close(roc_auc(&[0.1, 0.9, 0.8], &[1.0, 0.0, 0.0]).unwrap(), 0.0));
    }

    #[test]
    fn never_predicted_positive_gives_zero_precision() {
        let r = binary_report(&[0.1, 0.2, 0.3], &[1, 0, 1], 0.5).unwrap();
        assert_eq!(r.precision, 0.0);
        assert_eq!(r.recall, 0.0);
        assert_eq!(r.f1, 0.0);
    }

    #[test]
    fn single_class_auc_is_an_error_but_the_report_survives() {
        assert_eq!(roc_auc(&[0.1, 0.9], &[1, 1]), Err(Error::SingleClass { metric: "ROC AUC" }));
        let r = binary_report(&[0.1, 0.9], &[0, 0], 0.5).unwrap();
        assert_eq!(r.roc_auc, None);
        assert_eq!(r.n_positive, 0);
    }

    #[test]
    fn log_loss_is_clipped_and_finite() {
        let ll = log_loss(&[0.0, 1.0], &[true, false]).unwrap();
        assert!(close(ll, -(f64::EPSILON.ln())));
        assert!(close(log_loss(&[1.0, 0.0], &[true, false]).unwrap(), -(1.0 - f64::EPSILON).ln()));
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert!(matches!(binary_report::<u8>(&[], &[], 0.5), Err(Error::Empty { .. })));
        assert!(matches!(binary_report(&[0.5], &[1, 0], 0.5), Err(Error::LengthMismatch { .. })));
        assert!(matches!(binary_report(&[f64::NAN], &[1], 0.5), Err(Error::NonFinite { index: 0, .. })));
        assert!(matches!(binary_report(&[1.2], &[1], 0.5), Err(Error::ProbabilityOutOfRange { .. })));
        assert!(matches!(binary_report(&[0.2, 0.3], &[1, 2], 0.5), Err(Error::InvalidBinaryLabel { index: 1, .. })));
        assert!(matches!(binary_report(&[0.2], &[0.5], 0.5), Err(Error::InvalidBinaryLabel { .. })));
        assert!(matches!(binary_report(&[0.2], &[1], f64::NAN), Err(Error::InvalidParameter { .. })));
        assert!(matches!(roc_auc(&[f64::INFINITY, 0.0], &[1, 0]), Err(Error::NonFinite { .. })));
        assert!(matches!(BinaryAccumulator::new().finish(), Err(Error::Empty { .. })));
    }

    #[test]
    fn a_failed_update_counts_nothing() {
        let mut acc = BinaryAccumulator::new();
        acc.update(&[0.7], &[1]).unwrap();
        assert!(acc.update(&[0.2, f64::NAN], &[0, 1]).is_err());
        assert_eq!(acc.n_samples(), 1);
    }

    #[test]
    fn batches_and_merges_agree_with_one_pass() {
        let probs = [0.9, 0.8, 0.3, 0.5, 0.1, 0.49, 0.5, 0.65];
        let labels = [1, 0, 1, 1, 0, 0, 0, 1];
        let whole = binary_report(&probs, &labels, 0.5).unwrap();
        let mut a = BinaryAccumulator::new();
        a.update(&probs[..3], &labels[..3]).unwrap();
        let mut b = BinaryAccumulator::new();
        b.update(&probs[3..], &labels[3..]).unwrap();
        a.merge(&b).unwrap();
        let merged = a.finish().unwrap();
        assert_eq!(merged.confusion, whole.confusion);
        assert_eq!(merged.roc_auc, whole.roc_auc);
        assert!(close(merged.log_loss, whole.log_loss));
        let other = BinaryAccumulator::try_new(0.3).unwrap();
        assert!(a.merge(&other).is_err());
    }
}
