//! Multi-class classification: per-class and macro/micro/weighted precision, recall and F1,
//! accuracy and the confusion matrix, as plain functions and as a streaming
//! [`MulticlassAccumulator`].
//!
//! Labels are class indices `0..n_classes`. Conventions (scikit-learn's, with
//! `zero_division=0` and the default `labels=None`):
//!
//! - A class never predicted has precision 0; a class absent from the true labels has recall 0;
//!   per-class F1 is `2·TP / (support + predicted)`.
//! - **Macro** and **weighted** averages run over the classes that occur in the true labels or
//!   in the predictions, like scikit-learn with `labels=None`. Classes in `0..n_classes` that
//!   occur in neither still get a (zero) row in the per-class table and the confusion matrix,
//!   but do not pull the averages down.
//! - The weighted average weights each class by its support (number of true labels).
//! - Micro precision, recall and F1 all equal the accuracy (every sample has one true and one
//!   predicted class).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{check_non_empty, check_same_len, ratio_or_zero};
use crate::{Error, Result};

/// A dense confusion matrix: `rows[t][p]` counts samples of true class `t` predicted as `p`
/// (scikit-learn's layout). Serialised as a nested JSON array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConfusionMatrix {
    rows: Vec<Vec<u64>>,
}

impl ConfusionMatrix {
    /// Number of classes (rows, and columns).
    pub fn n_classes(&self) -> usize {
        self.rows.len()
    }

    /// Samples of class `true_class` predicted as `predicted_class`; `None` out of range.
    pub fn count(&self, true_class: usize, predicted_class: usize) -> Option<u64> {
        self.rows.get(true_class)?.get(predicted_class).copied()
    }

    /// The rows, one per true class.
    pub fn rows(&self) -> &[Vec<u64>] {
        &self.rows
    }
}

/// Precision, recall and F1 of one class.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    /// `TP / predicted`, 0 when the class is never predicted.
    pub precision: f64,
    /// `TP / support`, 0 when the class never occurs in the true labels.
    pub recall: f64,
    /// `2·TP / (support + predicted)`, 0 when both are 0.
    pub f1: f64,
    /// Number of true labels of this class.
    pub support: u64,
    /// Number of predictions of this class.
    pub predicted: u64,
}

/// An average of per-class precision, recall and F1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AveragedMetrics {
    /// Averaged precision.
    pub precision: f64,
    /// Averaged recall.
    pub recall: f64,
    /// Averaged F1 (the average of per-class F1 scores, not the F1 of averaged precision and
    /// recall).
    pub f1: f64,
}

/// Every multi-class metric of one evaluation, ready to be saved as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MulticlassReport {
    /// Number of samples.
    pub n_samples: u64,
    /// Number of classes declared (`0..n_classes`).
    pub n_classes: usize,
    /// Number of classes that occur in the true labels or the predictions: the classes the
    /// macro and weighted averages run over.
    pub n_classes_present: usize,
    /// Fraction of samples whose prediction equals the true label.
    pub accuracy: f64,
    /// Per-class metrics, indexed by class.
    pub per_class: Vec<ClassMetrics>,
    /// Unweighted mean over the classes present.
    pub macro_avg: AveragedMetrics,
    /// Metrics of the pooled counts; all three equal the accuracy.
    pub micro_avg: AveragedMetrics,
    /// Mean over the classes present, weighted by support.
    pub weighted_avg: AveragedMetrics,
    /// The confusion matrix, `n_classes × n_classes`.
    pub confusion_matrix: ConfusionMatrix,
}

/// Per-class counts from which every metric except the confusion matrix follows.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ClassCounts {
    pub(crate) correct: Vec<u64>,
    pub(crate) predicted: Vec<u64>,
    pub(crate) support: Vec<u64>,
}

/// The metrics derived from [`ClassCounts`].
pub(crate) struct ClassSummary {
    pub(crate) n_samples: u64,
    pub(crate) n_present: usize,
    pub(crate) accuracy: f64,
    pub(crate) per_class: Vec<ClassMetrics>,
    pub(crate) macro_avg: AveragedMetrics,
    pub(crate) micro_avg: AveragedMetrics,
    pub(crate) weighted_avg: AveragedMetrics,
}

impl ClassCounts {
    pub(crate) fn new(n_classes: usize) -> Self {
        Self { correct: vec![0; n_classes], predicted: vec![0; n_classes], support: vec![0; n_classes] }
    }

    pub(crate) fn add(&mut self, t: usize, p: usize) {
        self.support[t] += 1;
        self.predicted[p] += 1;
        if t == p {
            self.correct[t] += 1;
        }
    }

    /// Callers guarantee at least one sample was added.
    pub(crate) fn summary(&self) -> ClassSummary {
        let n_samples: u64 = self.support.iter().sum();
        let n_correct: u64 = self.correct.iter().sum();
        let per_class: Vec<ClassMetrics> = (0..self.support.len())
            .map(|c| {
                let (tp, support, predicted) = (self.correct[c], self.support[c], self.predicted[c]);
                ClassMetrics {
                    precision: ratio_or_zero(tp, predicted),
                    recall: ratio_or_zero(tp, support),
                    f1: ratio_or_zero(2 * tp, support + predicted),
                    support,
                    predicted,
                }
            })
            .collect();
        let present: Vec<&ClassMetrics> = per_class.iter().filter(|m| m.support + m.predicted > 0).collect();
        let n_present = present.len();
        let mean = |f: fn(&ClassMetrics) -> f64| present.iter().map(|m| f(m)).sum::<f64>() / n_present as f64;
        let weighted = |f: fn(&ClassMetrics) -> f64| {
            present.iter().map(|m| m.support as f64 * f(m)).sum::<f64>() / n_samples as f64
        };
        let accuracy = ratio_or_zero(n_correct, n_samples);
        ClassSummary {
            n_samples,
            n_present,
            accuracy,
            macro_avg: AveragedMetrics {
                precision: mean(|m| m.precision),
                recall: mean(|m| m.recall),
                f1: mean(|m| m.f1),
            },
            micro_avg: AveragedMetrics { precision: accuracy, recall: accuracy, f1: accuracy },
            weighted_avg: AveragedMetrics {
                precision: weighted(|m| m.precision),
                recall: weighted(|m| m.recall),
                f1: weighted(|m| m.f1),
            },
            per_class,
        }
    }
}

/// Fails with [`Error::LabelOutOfRange`] at the first label `>= n_classes`.
fn check_labels(what: &'static str, labels: &[usize], n_classes: usize) -> Result<()> {
    match labels.iter().position(|&l| l >= n_classes) {
        None => Ok(()),
        Some(index) => Err(Error::LabelOutOfRange { what, index, label: labels[index], n_classes }),
    }
}

/// Computes every multi-class metric at once; see [`MulticlassReport`] and the
/// [module docs](self).
///
/// Errors on empty or misaligned input, `n_classes == 0` and labels `>= n_classes`.
pub fn multiclass_report(y_true: &[usize], y_pred: &[usize], n_classes: usize) -> Result<MulticlassReport> {
    let mut acc = MulticlassAccumulator::try_new(n_classes)?;
    acc.update(y_true, y_pred)?;
    acc.finish()
}

/// The `n_classes × n_classes` confusion matrix of `y_pred` against `y_true`.
pub fn confusion_matrix(y_true: &[usize], y_pred: &[usize], n_classes: usize) -> Result<ConfusionMatrix> {
    let mut acc = MulticlassAccumulator::try_new(n_classes)?;
    acc.update(y_true, y_pred)?;
    check_non_empty("confusion matrix", acc.n_samples())?;
    Ok(acc.confusion_matrix())
}

/// Fraction of positions where `y_pred` equals `y_true`, for labels of any type.
pub fn accuracy<T: PartialEq>(y_true: &[T], y_pred: &[T]) -> Result<f64> {
    check_same_len("accuracy", ("y_true", y_true.len()), ("y_pred", y_pred.len()))?;
    check_non_empty("accuracy", y_true.len() as u64)?;
    let hits = y_true.iter().zip(y_pred).filter(|(t, p)| t == p).count();
    Ok(hits as f64 / y_true.len() as f64)
}

/// Streaming multi-class metrics: feed batches with [`update`](Self::update), read the result
/// with [`finish`](Self::finish).
///
/// Memory is `O(n_classes)` plus one entry per distinct (true, predicted) pair seen. The dense
/// confusion matrix is only built by [`finish`](Self::finish) and
/// [`confusion_matrix`](Self::confusion_matrix), and takes `8 · n_classes²` bytes; for very many
/// classes (imputed categorical columns), use
/// [`categorical_imputation_metrics`](crate::categorical_imputation_metrics), which never builds
/// it.
///
/// ```
/// use rec_metrics::MulticlassAccumulator;
///
/// let mut acc = MulticlassAccumulator::try_new(3)?;
/// acc.update(&[0, 1, 2], &[0, 2, 2])?;
/// acc.update(&[2], &[1])?;
/// let report = acc.finish()?;
/// assert_eq!(report.accuracy, 0.5);
/// assert_eq!(report.confusion_matrix.count(2, 1), Some(1));
/// # Ok::<(), rec_metrics::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct MulticlassAccumulator {
    counts: ClassCounts,
    /// Off-diagonal cells of the confusion matrix; the diagonal is `counts.correct`.
    confusions: BTreeMap<(usize, usize), u64>,
}

impl MulticlassAccumulator {
    /// An empty accumulator for labels `0..n_classes`; `n_classes` must be at least 1.
    pub fn try_new(n_classes: usize) -> Result<Self> {
        if n_classes == 0 {
            return Err(Error::InvalidParameter { name: "n_classes", reason: "must be at least 1".into() });
        }
        Ok(Self { counts: ClassCounts::new(n_classes), confusions: BTreeMap::new() })
    }

    /// Number of classes.
    pub fn n_classes(&self) -> usize {
        self.counts.support.len()
    }

    /// Number of samples seen so far.
    pub fn n_samples(&self) -> u64 {
        self.counts.support.iter().sum()
    }

    /// Adds a batch of true and predicted labels.
    ///
    /// The batch is checked as a whole first: on error nothing of it is counted. An empty batch
    /// is allowed and changes nothing.
    pub fn update(&mut self, y_true: &[usize], y_pred: &[usize]) -> Result<()> {
        check_same_len("MulticlassAccumulator::update", ("y_true", y_true.len()), ("y_pred", y_pred.len()))?;
        let n = self.n_classes();
        check_labels("y_true", y_true, n)?;
        check_labels("y_pred", y_pred, n)?;
        for (&t, &p) in y_true.iter().zip(y_pred) {
            self.counts.add(t, p);
            if t != p {
                *self.confusions.entry((t, p)).or_insert(0) += 1;
            }
        }
        Ok(())
    }

    /// Adds everything `other` has seen. Fails if the numbers of classes differ.
    pub fn merge(&mut self, other: &MulticlassAccumulator) -> Result<()> {
        if self.n_classes() != other.n_classes() {
            return Err(Error::InvalidParameter {
                name: "n_classes",
                reason: format!("cannot merge accumulators of {} and {} classes", self.n_classes(), other.n_classes()),
            });
        }
        let pairs = [
            (&mut self.counts.correct, &other.counts.correct),
            (&mut self.counts.predicted, &other.counts.predicted),
            (&mut self.counts.support, &other.counts.support),
        ];
        for (mine, theirs) in pairs {
            mine.iter_mut().zip(theirs).for_each(|(a, b)| *a += b);
        }
        for (&cell, &count) in &other.confusions {
            *self.confusions.entry(cell).or_insert(0) += count;
        }
        Ok(())
    }

    /// The dense confusion matrix of everything seen so far (all zeros if nothing was seen).
    pub fn confusion_matrix(&self) -> ConfusionMatrix {
        let n = self.n_classes();
        let mut rows = vec![vec![0u64; n]; n];
        for (c, row) in rows.iter_mut().enumerate() {
            row[c] = self.counts.correct[c];
        }
        for (&(t, p), &count) in &self.confusions {
            rows[t][p] = count;
        }
        ConfusionMatrix { rows }
    }

    /// The metrics of everything seen so far; [`Error::Empty`] if nothing was seen.
    pub fn finish(&self) -> Result<MulticlassReport> {
        check_non_empty("multi-class metrics", self.n_samples())?;
        let s = self.counts.summary();
        Ok(MulticlassReport {
            n_samples: s.n_samples,
            n_classes: self.n_classes(),
            n_classes_present: s.n_present,
            accuracy: s.accuracy,
            per_class: s.per_class,
            macro_avg: s.macro_avg,
            micro_avg: s.micro_avg,
            weighted_avg: s.weighted_avg,
            confusion_matrix: self.confusion_matrix(),
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
    fn hand_computed_three_classes() {
        // Class 2 is never predicted; class 3 never occurs at all.
        let y_true = [0, 0, 0, 1, 1, 2];
        let y_pred = [0, 0, 1, 1, 0, 1];
        let r = multiclass_report(&y_true, &y_pred, 4).unwrap();
        assert_eq!(
            r.confusion_matrix.rows(),
            &[vec![2, 1, 0, 0], vec![1, 1, 0, 0], vec![0, 1, 0, 0], vec![0, 0, 0, 0]]
        );
        assert!(close(r.accuracy, 3.0 / 6.0));
        // Class 0: TP 2, predicted 3, support 3. Class 1: TP 1, predicted 3, support 2.
        // Class 2: TP 0, predicted 0, support 1.
        let p = [2.0 / 3.0, 1.0 / 3.0, 0.0];
        let rc = [2.0 / 3.0, 1.0 / 2.0, 0.0];
        let f = [4.0 / 6.0, 2.0 / 5.0, 0.0];
        for c in 0..3 {
            assert!(close(r.per_class[c].precision, p[c]), "precision of class {c}");
            assert!(close(r.per_class[c].recall, rc[c]), "recall of class {c}");
            assert!(close(r.per_class[c].f1, f[c]), "f1 of class {c}");
        }
        assert_eq!(r.n_classes_present, 3);
        assert!(close(r.macro_avg.precision, (p[0] + p[1]) / 3.0));
        assert!(close(r.macro_avg.recall, (rc[0] + rc[1]) / 3.0));
        assert!(close(r.macro_avg.f1, (f[0] + f[1]) / 3.0));
        assert!(close(r.weighted_avg.precision, (3.0 * p[0] + 2.0 * p[1]) / 6.0));
        assert!(close(r.weighted_avg.recall, (3.0 * rc[0] + 2.0 * rc[1]) / 6.0));
        assert!(close(r.weighted_avg.f1, (3.0 * f[0] + 2.0 * f[1]) / 6.0));
        assert_eq!(r.micro_avg.f1, r.accuracy);
    }

    #[test]
    fn class_only_predicted_counts_in_macro() {
        // Class 1 never occurs in y_true but is predicted: precision 0, recall 0, in the average.
        let r = multiclass_report(&[0, 0], &[0, 1], 2).unwrap();
        assert_eq!(r.n_classes_present, 2);
        assert!(close(r.macro_avg.recall, 0.5 * (0.5 + 0.0)));
        assert!(close(r.macro_avg.precision, 0.5 * (1.0 + 0.0)));
        assert!(close(r.weighted_avg.recall, 0.5));
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert!(matches!(multiclass_report(&[], &[], 2), Err(Error::Empty { .. })));
        assert!(matches!(multiclass_report(&[0], &[0, 1], 2), Err(Error::LengthMismatch { .. })));
        assert!(matches!(
            multiclass_report(&[0, 2], &[0, 1], 2),
            Err(Error::LabelOutOfRange { what: "y_true", index: 1, label: 2, n_classes: 2 })
        ));
        assert!(matches!(multiclass_report(&[0], &[5], 2), Err(Error::LabelOutOfRange { what: "y_pred", .. })));
        assert!(matches!(MulticlassAccumulator::try_new(0), Err(Error::InvalidParameter { .. })));
        assert!(matches!(confusion_matrix(&[], &[], 3), Err(Error::Empty { .. })));
        assert!(matches!(accuracy::<u8>(&[], &[]), Err(Error::Empty { .. })));
    }

    #[test]
    fn merge_equals_one_pass() {
        let (t, p) = ([0, 1, 2, 2, 1, 0, 2], [0, 2, 2, 1, 1, 1, 0]);
        let whole = multiclass_report(&t, &p, 3).unwrap();
        let mut a = MulticlassAccumulator::try_new(3).unwrap();
        a.update(&t[..4], &p[..4]).unwrap();
        let mut b = MulticlassAccumulator::try_new(3).unwrap();
        b.update(&t[4..], &p[4..]).unwrap();
        a.merge(&b).unwrap();
        assert_eq!(a.finish().unwrap(), whole);
        assert!(a.merge(&MulticlassAccumulator::try_new(4).unwrap()).is_err());
    }

    #[test]
    fn accuracy_works_on_any_label_type() {
        assert!(close(accuracy(&["a", "b", "c"], &["a", "x", "c"]).unwrap(), 2.0 / 3.0));
    }
}
