//! Quality of imputed cells, column by column, measured on cells whose true value was hidden
//! (masked) before imputation.
//!
//! The caller passes, for one column, the true values of the masked cells and the values the
//! imputer filled in, aligned cell by cell. Which metrics apply depends on the column's kind:
//!
//! | kind        | metrics                                                              |
//! |-------------|----------------------------------------------------------------------|
//! | numeric     | MAE, RMSE, both also divided by the standard deviation of the true values; KS statistic |
//! | categorical | accuracy, macro-F1, total variation distance                         |
//! | set-valued  | mean Jaccard index, exact-match rate                                 |
//!
//! **Normalisation** of numeric errors is by the *population standard deviation* (`ddof = 0`)
//! of the true values of the masked cells: `rmse_over_std = RMSE / σ(truth)`. Imputing every
//! cell with the mean of the true values then scores exactly 1, so values below 1 beat that
//! oracle mean and values are comparable across columns of different scales. When the true
//! values are all equal (σ = 0) the normalised errors are `None`.
//!
//! **Distribution distances** compare the imputed values, as a sample, with the true values:
//! the two-sample Kolmogorov–Smirnov statistic for numeric columns, the total variation
//! distance of category frequencies for categorical ones. An imputer that always fills in the
//! mean or the mode scores well on MAE or accuracy but badly here.
//!
//! Categorical macro-F1 averages over the categories that occur among the true or the imputed
//! values (see [`multiclass`](crate::multiclass)); a missing imputation can be passed as its own
//! category, for example with `Option<String>` cells.

use std::collections::HashMap;
use std::hash::Hash;

use serde::{Deserialize, Serialize};

use crate::distance::{jaccard, ks_statistic, total_variation_distance};
use crate::error::{check_finite, check_non_empty, check_same_len};
use crate::multiclass::ClassCounts;
use crate::regression::regression_report;
use crate::{Error, Result};

/// Imputation quality of a numeric column.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NumericImputationMetrics {
    /// Number of masked cells evaluated.
    pub n_cells: u64,
    /// Mean absolute error.
    pub mae: f64,
    /// Root mean squared error.
    pub rmse: f64,
    /// Population standard deviation (`ddof = 0`) of the true values.
    pub true_std: f64,
    /// `mae / true_std`; `None` when `true_std` is 0.
    pub mae_over_std: Option<f64>,
    /// `rmse / true_std`; `None` when `true_std` is 0.
    pub rmse_over_std: Option<f64>,
    /// Two-sample Kolmogorov–Smirnov statistic between imputed and true values.
    pub ks_statistic: f64,
}

/// Imputation quality of a categorical column.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CategoricalImputationMetrics {
    /// Number of masked cells evaluated.
    pub n_cells: u64,
    /// Number of distinct categories among the true and imputed values.
    pub n_categories: usize,
    /// Fraction of cells imputed with their true category.
    pub accuracy: f64,
    /// Macro-averaged F1 over the categories present (scikit-learn's `f1_score(average="macro")`).
    pub macro_f1: f64,
    /// Total variation distance between the category frequencies of imputed and true values.
    pub total_variation: f64,
}

/// Imputation quality of a set-valued column (genres, tags).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SetImputationMetrics {
    /// Number of masked cells evaluated.
    pub n_cells: u64,
    /// Mean over cells of the Jaccard index of imputed and true sets (two empty sets score 1).
    pub mean_jaccard: f64,
    /// Fraction of cells whose imputed set equals the true set.
    pub exact_match: f64,
}

/// The metrics of one column, tagged by kind (`"kind": "numeric"` and so on in JSON).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ColumnMetrics {
    /// A numeric column.
    Numeric(NumericImputationMetrics),
    /// A categorical column.
    Categorical(CategoricalImputationMetrics),
    /// A set-valued column.
    Set(SetImputationMetrics),
}

/// The metrics of one named column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnReport {
    /// The column name.
    pub column: String,
    /// Its metrics.
    pub metrics: ColumnMetrics,
}

/// Imputation quality of a whole table, one entry per column, ready to be saved as JSON.
///
/// ```
/// use rec_metrics::{ColumnMetrics, ImputationReport};
///
/// let mut report = ImputationReport::new();
/// report.add_numeric("age", &[30.0, 40.0, 50.0], &[35.0, 40.0, 45.0])?;
/// report.add_categorical("occupation", &["doctor", "artist"], &["doctor", "doctor"])?;
/// report.add_set("genres", &[vec!["drama"], vec!["comedy", "crime"]], &[vec!["drama"], vec!["crime"]])?;
/// let Some(ColumnMetrics::Numeric(age)) = report.get("age") else { unreachable!() };
/// assert!((age.mae - 10.0 / 3.0).abs() < 1e-12);
/// let json = serde_json::to_string(&report).unwrap();
/// assert!(json.contains(r#""kind":"categorical""#));
/// # Ok::<(), rec_metrics::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImputationReport {
    /// The columns, in the order they were added.
    pub columns: Vec<ColumnReport>,
}

impl ImputationReport {
    /// An empty report.
    pub fn new() -> Self {
        Self::default()
    }

    /// The metrics of column `column`, if it was added.
    pub fn get(&self, column: &str) -> Option<&ColumnMetrics> {
        self.columns.iter().find(|c| c.column == column).map(|c| &c.metrics)
    }

    /// Evaluates and adds a numeric column; see [`numeric_imputation_metrics`].
    pub fn add_numeric(&mut self, column: &str, truth: &[f64], imputed: &[f64]) -> Result<&ColumnMetrics> {
        self.push(column, || numeric_imputation_metrics(truth, imputed).map(ColumnMetrics::Numeric))
    }

    /// Evaluates and adds a categorical column; see [`categorical_imputation_metrics`].
    pub fn add_categorical<T: Eq + Hash>(
        &mut self,
        column: &str,
        truth: &[T],
        imputed: &[T],
    ) -> Result<&ColumnMetrics> {
        self.push(column, || categorical_imputation_metrics(truth, imputed).map(ColumnMetrics::Categorical))
    }

    /// Evaluates and adds a set-valued column; see [`set_imputation_metrics`].
    pub fn add_set<T: Eq + Hash, S: AsRef<[T]>>(
        &mut self,
        column: &str,
        truth: &[S],
        imputed: &[S],
    ) -> Result<&ColumnMetrics> {
        self.push(column, || set_imputation_metrics(truth, imputed).map(ColumnMetrics::Set))
    }

    /// Adds the column unless its name is taken or `compute` fails; errors name the column.
    fn push(&mut self, column: &str, compute: impl FnOnce() -> Result<ColumnMetrics>) -> Result<&ColumnMetrics> {
        if self.get(column).is_some() {
            let reason = "the column is already in the report".to_owned();
            return Err(Error::InvalidParameter { name: "column", reason }.in_column(column));
        }
        let metrics = compute().map_err(|e| e.in_column(column))?;
        self.columns.push(ColumnReport { column: column.to_owned(), metrics });
        Ok(&self.columns[self.columns.len() - 1].metrics)
    }
}

/// Numeric imputation metrics of the masked cells of one column; see the [module docs](self).
///
/// Errors on empty, misaligned or non-finite input.
pub fn numeric_imputation_metrics(truth: &[f64], imputed: &[f64]) -> Result<NumericImputationMetrics> {
    const WHAT: &str = "numeric imputation metrics";
    check_same_len(WHAT, ("truth", truth.len()), ("imputed", imputed.len()))?;
    check_non_empty(WHAT, truth.len() as u64)?;
    check_finite("truth", truth)?;
    check_finite("imputed", imputed)?;
    let errors = regression_report(truth, imputed)?;
    let n = truth.len() as f64;
    let mean = truth.iter().sum::<f64>() / n;
    let true_std = (truth.iter().map(|t| (t - mean) * (t - mean)).sum::<f64>() / n).sqrt();
    let over_std = |v: f64| (true_std > 0.0).then(|| v / true_std);
    Ok(NumericImputationMetrics {
        n_cells: errors.n_samples,
        mae: errors.mae,
        rmse: errors.rmse,
        true_std,
        mae_over_std: over_std(errors.mae),
        rmse_over_std: over_std(errors.rmse),
        ks_statistic: ks_statistic(imputed, truth)?,
    })
}

/// Categorical imputation metrics of the masked cells of one column; categories may be of any
/// hashable type. Errors on empty or misaligned input.
pub fn categorical_imputation_metrics<T: Eq + Hash>(
    truth: &[T],
    imputed: &[T],
) -> Result<CategoricalImputationMetrics> {
    const WHAT: &str = "categorical imputation metrics";
    check_same_len(WHAT, ("truth", truth.len()), ("imputed", imputed.len()))?;
    check_non_empty(WHAT, truth.len() as u64)?;
    let mut index: HashMap<&T, usize> = HashMap::new();
    let mut pairs = Vec::with_capacity(truth.len());
    for (t, p) in truth.iter().zip(imputed) {
        let next = index.len();
        let t = *index.entry(t).or_insert(next);
        let next = index.len();
        let p = *index.entry(p).or_insert(next);
        pairs.push((t, p));
    }
    let mut counts = ClassCounts::new(index.len());
    for (t, p) in pairs {
        counts.add(t, p);
    }
    let summary = counts.summary();
    Ok(CategoricalImputationMetrics {
        n_cells: summary.n_samples,
        n_categories: summary.n_present,
        accuracy: summary.accuracy,
        macro_f1: summary.macro_avg.f1,
        total_variation: total_variation_distance(imputed, truth)?,
    })
}

/// Set-valued imputation metrics of the masked cells of one column: each cell is a list whose
/// order and duplicates are ignored. Errors on empty or misaligned input.
pub fn set_imputation_metrics<T: Eq + Hash, S: AsRef<[T]>>(truth: &[S], imputed: &[S]) -> Result<SetImputationMetrics> {
    const WHAT: &str = "set imputation metrics";
    check_same_len(WHAT, ("truth", truth.len()), ("imputed", imputed.len()))?;
    check_non_empty(WHAT, truth.len() as u64)?;
    let scores: Vec<f64> = truth.iter().zip(imputed).map(|(t, p)| jaccard(t.as_ref(), p.as_ref())).collect();
    let n = scores.len() as f64;
    Ok(SetImputationMetrics {
        n_cells: scores.len() as u64,
        mean_jaccard: scores.iter().sum::<f64>() / n,
        exact_match: scores.iter().filter(|&&s| s == 1.0).count() as f64 / n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn numeric_by_hand() {
        // Errors 1, -1, 2, 0: MAE 1, RMSE sqrt(6/4). Truth mean 2.5, population std sqrt(1.25).
        let m = numeric_imputation_metrics(&[1.0, 2.0, 3.0, 4.0], &[2.0, 1.0, 5.0, 4.0]).unwrap();
        assert!(close(m.mae, 1.0));
        assert!(close(m.rmse, 1.5f64.sqrt()));
        assert!(close(m.true_std, 1.25f64.sqrt()));
        assert!(close(m.rmse_over_std.unwrap(), (1.5f64 / 1.25).sqrt()));
        assert!(close(m.mae_over_std.unwrap(), 1.0 / 1.25f64.sqrt()));
        // Imputed {1, 2, 4, 5} vs true {1, 2, 3, 4}: largest gap 1/4 at 3.
        assert!(close(m.ks_statistic, 0.25));
    }

    #[test]
    fn mean_imputation_has_unit_normalised_rmse() {
        let truth = [3.0, 7.0, 1.0, 9.0];
        let m = numeric_imputation_metrics(&truth, &[5.0; 4]).unwrap();
        assert!(close(m.rmse_over_std.unwrap(), 1.0));
        assert!(close(m.ks_statistic, 0.5));
    }

    #[test]
    fn constant_truth_has_no_normalised_errors() {
        let m = numeric_imputation_metrics(&[2.0, 2.0], &[2.0, 3.0]).unwrap();
        assert_eq!((m.mae_over_std, m.rmse_over_std), (None, None));
    }

    #[test]
    fn categorical_by_hand() {
        // Truth a a b c, imputed a b b b. a: TP 1, support 2, predicted 1 -> F1 2/3.
        // b: TP 1, support 1, predicted 3 -> F1 1/2. c: F1 0.
        let m = categorical_imputation_metrics(&["a", "a", "b", "c"], &["a", "b", "b", "b"]).unwrap();
        assert!(close(m.accuracy, 0.5));
        assert!(close(m.macro_f1, (2.0 / 3.0 + 0.5) / 3.0));
        // Frequencies: truth (1/2, 1/4, 1/4), imputed (1/4, 3/4, 0): ½ (1/4 + 1/2 + 1/4).
        assert!(close(m.total_variation, 0.5));
        assert_eq!(m.n_categories, 3);
    }

    #[test]
    fn sets_by_hand() {
        let truth = [vec![1, 2], vec![3], vec![]];
        let imputed = [vec![2, 1, 1], vec![4], vec![]];
        let m = set_imputation_metrics(&truth, &imputed).unwrap();
        assert!(close(m.mean_jaccard, 2.0 / 3.0));
        assert!(close(m.exact_match, 2.0 / 3.0));
    }

    #[test]
    fn report_names_the_failing_column_and_rejects_duplicates() {
        let mut r = ImputationReport::new();
        let err = r.add_numeric("price", &[1.0, 2.0], &[1.0, f64::NAN]).unwrap_err();
        assert_eq!(err.to_string(), "column 'price': imputed: value at index 1 is not finite (NaN)");
        assert!(r.columns.is_empty());
        r.add_categorical("city", &[1, 2], &[1, 1]).unwrap();
        let err = r.add_categorical("city", &[1], &[1]).unwrap_err();
        assert!(matches!(err, Error::Column { ref column, .. } if column == "city"));
        assert!(matches!(r.add_set::<u8, Vec<u8>>("tags", &[], &[]), Err(Error::Column { .. })));
        assert_eq!(r.columns.len(), 1);
    }
}
