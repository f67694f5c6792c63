//! Regression: MAE, MSE, RMSE and R², as plain functions and as a streaming
//! [`RegressionAccumulator`].
//!
//! R² is `1 - SS_res / SS_tot` with `SS_tot = Σ (y - ȳ)²`. When the true values are all equal
//! (`SS_tot = 0`, which includes a single sample) it follows scikit-learn's `force_finite=True`:
//! 1 for a perfect prediction, 0 otherwise. (scikit-learn itself returns NaN for fewer than two
//! samples; this crate applies the constant-target rule there too, so the report stays finite.)

use serde::{Deserialize, Serialize};

use crate::error::{check_finite, check_non_empty, check_same_len};
use crate::Result;

/// Every regression metric of one evaluation, ready to be saved as JSON.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RegressionReport {
    /// Number of samples.
    pub n_samples: u64,
    /// Mean absolute error.
    pub mae: f64,
    /// Mean squared error.
    pub mse: f64,
    /// Root mean squared error.
    pub rmse: f64,
    /// Coefficient of determination; see the [module docs](self) for a constant target.
    pub r2: f64,
}

/// Computes MAE, MSE, RMSE and R² at once; errors on empty, misaligned or non-finite input.
pub fn regression_report(y_true: &[f64], y_pred: &[f64]) -> Result<RegressionReport> {
    let mut acc = RegressionAccumulator::new();
    acc.update(y_true, y_pred)?;
    acc.finish()
}

/// Mean absolute error.
pub fn mae(y_true: &[f64], y_pred: &[f64]) -> Result<f64> {
    Ok(regression_report(y_true, y_pred)?.mae)
}

/// Mean squared error.
pub fn mse(y_true: &[f64], y_pred: &[f64]) -> Result<f64> {
    Ok(regression_report(y_true, y_pred)?.mse)
}

/// Root mean squared error.
pub fn rmse(y_true: &[f64], y_pred: &[f64]) -> Result<f64> {
    Ok(regression_report(y_true, y_pred)?.rmse)
}

/// Coefficient of determination R²; see the [module docs](self) for a constant target.
pub fn r2(y_true: &[f64], y_pred: &[f64]) -> Result<f64> {
    Ok(regression_report(y_true, y_pred)?.r2)
}

/// Streaming regression metrics in constant memory.
///
/// The variance of the true values is accumulated with Welford's update (and Chan's formula
/// when [merging](Self::merge)), which stays accurate when the values are large and close
/// together.
///
/// ```
/// use rec_metrics::RegressionAccumulator;
///
/// let mut acc = RegressionAccumulator::new();
/// acc.update(&[1.0, 2.0], &[1.5, 2.0])?;
/// acc.update(&[3.0], &[2.5])?;
/// let report = acc.finish()?;
/// assert!((report.mae - 1.0 / 3.0).abs() < 1e-12);
/// # Ok::<(), rec_metrics::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RegressionAccumulator {
    n: u64,
    abs_sum: f64,
    sq_sum: f64,
    mean_true: f64,
    /// Σ (y - ȳ)² over the true values seen so far.
    m2_true: f64,
}

impl RegressionAccumulator {
    /// An empty accumulator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of samples seen so far.
    pub fn n_samples(&self) -> u64 {
        self.n
    }

    /// Adds a batch of true values and predictions.
    ///
    /// The batch is checked as a whole first: on error nothing of it is counted. An empty batch
    /// is allowed and changes nothing.
    pub fn update(&mut self, y_true: &[f64], y_pred: &[f64]) -> Result<()> {
        check_same_len("RegressionAccumulator::update", ("y_true", y_true.len()), ("y_pred", y_pred.len()))?;
        check_finite("y_true", y_true)?;
        check_finite("y_pred", y_pred)?;
        for (&t, &p) in y_true.iter().zip(y_pred) {
            let err = t - p;
            self.abs_sum += err.abs();
            self.sq_sum += err * err;
            self.n += 1;
            let delta = t - self.mean_true;
            self.mean_true += delta / self.n as f64;
            self.m2_true += delta * (t - self.mean_true);
        }
        Ok(())
    }

    /// Adds everything `other` has seen.
    pub fn merge(&mut self, other: &RegressionAccumulator) {
        if other.n == 0 {
            return;
        }
        if self.n == 0 {
            *self = other.clone();
            return;
        }
        let (na, nb) = (self.n as f64, other.n as f64);
        let n = na + nb;
        let delta = other.mean_true - self.mean_true;
        self.m2_true += other.m2_true + delta * delta * na * nb / n;
        self.mean_true += delta * nb / n;
        self.abs_sum += other.abs_sum;
        self.sq_sum += other.sq_sum;
        self.n += other.n;
    }

    /// The metrics of everything seen so far; [`Error::Empty`](crate::Error::Empty) if nothing
    /// was seen.
    pub fn finish(&self) -> Result<RegressionReport> {
        check_non_empty("regression metrics", self.n)?;
        let n = self.n as f64;
        let mse = self.sq_sum / n;
        let r2 = if self.m2_true > 0.0 {
            1.0 - self.sq_sum / self.m2_true
        } else if self.sq_sum == 0.0 {
            1.0
        } else {
            0.0
        };
        Ok(RegressionReport { n_samples: self.n, mae: self.abs_sum / n, mse, rmse: mse.sqrt(), r2 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn hand_computed_values() {
        // Errors: -1, 0, 2, 1 -> MAE 1, MSE 6/4. Mean of y_true is 2.5, SS_tot = 5.
        let r = regression_report(&[1.0, 2.0, 3.0, 4.0], &[2.0, 2.0, 1.0, 3.0]).unwrap();
        assert!(close(r.mae, 1.0));
        assert!(close(r.mse, 1.5));
        assert!(close(r.rmse, 1.5f64.sqrt()));
        assert!(close(r.r2, 1.0 - 6.0 / 5.0));
        assert_eq!(r.n_samples, 4);
    }

    #[test]
    fn predicting_the_mean_gives_zero_r2() {
        assert!(close(r2(&[1.0, 2.0, 6.0], &[3.0, 3.0, 3.0]).unwrap(), 0.0));
    }

    #[test]
    fn constant_target_follows_force_finite() {
        assert_eq!(r2(&[2.0, 2.0], &[2.0, 2.0]).unwrap(), 1.0);
        assert_eq!(r2(&[2.0, 2.0], &[2.0, 3.0]).unwrap(), 0.0);
        assert_eq!(r2(&[5.0], &[4.0]).unwrap(), 0.0);
    }

    #[test]
    fn welford_survives_a_large_offset() {
        let t: Vec<f64> = (0..1000).map(|i| 1e9 + (i % 7) as f64).collect();
        let p: Vec<f64> = t.iter().map(|v| v + 0.5).collect();
        let mean = t.iter().sum::<f64>() / 1000.0;
        let ss_tot: f64 = t.iter().map(|v| (v - mean) * (v - mean)).sum();
        assert!((r2(&t, &p).unwrap() - (1.0 - 250.0 / ss_tot)).abs() < 1e-9);
    }

    #[test]
    fn merge_equals_one_pass() {
        let t = [1.0, 5.0, 2.0, 8.0, 3.0];
        let p = [1.5, 4.0, 2.0, 7.0, 4.0];
        let whole = regression_report(&t, &p).unwrap();
        let mut a = RegressionAccumulator::new();
        a.update(&t[..2], &p[..2]).unwrap();
        let mut b = RegressionAccumulator::new();
        b.update(&t[2..], &p[2..]).unwrap();
        a.merge(&b);
        let merged = a.finish().unwrap();
        assert!(close(merged.r2, whole.r2));
        assert!(close(merged.mae, whole.mae));
        let mut empty = RegressionAccumulator::new();
        empty.merge(&a);
        assert_eq!(empty, a);
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert!(matches!(mae(&[], &[]), Err(Error::Empty { .. })));
        assert!(matches!(mse(&[1.0], &[1.0, 2.0]), Err(Error::LengthMismatch { .. })));
        assert!(matches!(rmse(&[1.0, f64::NAN], &[1.0, 2.0]), Err(Error::NonFinite { what: "y_true", index: 1, .. })));
        assert!(matches!(r2(&[1.0], &[f64::NEG_INFINITY]), Err(Error::NonFinite { what: "y_pred", .. })));
    }
}
