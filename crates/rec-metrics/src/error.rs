//! The error type of `rec-metrics`, and the input checks every metric shares.

/// Result alias used throughout `rec-metrics`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that makes a metric refuse its input.
///
/// No metric panics on user data: empty inputs, slices of different lengths, NaN or infinite
/// values, probabilities outside `[0, 1]`, labels outside their range and metrics that are
/// undefined for the data given all come back as one of these variants. Messages name the input
/// (and the index, user or column) involved.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An input with no elements where at least one is needed.
    #[error("{what}: the input is empty")]
    Empty {
        /// The input involved, like `"binary metrics"`.
        what: &'static str,
    },
    /// Two inputs that must be aligned element by element have different lengths.
    #[error("{what}: {left_name} has {left} elements but {right_name} has {right}")]
    LengthMismatch {
        /// The metric or function involved.
        what: &'static str,
        /// Name of the first input.
        left_name: &'static str,
        /// Length of the first input.
        left: usize,
        /// Name of the second input.
        right_name: &'static str,
        /// Length of the second input.
        right: usize,
    },
    /// A NaN or infinite value.
    #[error("{what}: value at index {index} is not finite ({value})")]
    NonFinite {
        /// The input involved, like `"scores"`.
        what: &'static str,
        /// 0-based index of the value.
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// A probability outside `[0, 1]`.
    #[error("{what}: value {value} at index {index} is not a probability (outside [0, 1])")]
    ProbabilityOutOfRange {
        /// The input involved.
        what: &'static str,
        /// 0-based index of the value.
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// A binary label that is neither 0 nor 1 (nor `false`/`true`).
    #[error("binary labels: value {value} at index {index} is neither 0 nor 1")]
    InvalidBinaryLabel {
        /// 0-based index of the label.
        index: usize,
        /// The offending label, converted to `f64` for display.
        value: f64,
    },
    /// A class label `>= n_classes`.
    #[error("{what}: label {label} at index {index} is out of range for {n_classes} classes")]
    LabelOutOfRange {
        /// The input involved, like `"y_true"`.
        what: &'static str,
        /// 0-based index of the label.
        index: usize,
        /// The offending label.
        label: usize,
        /// The number of classes declared.
        n_classes: usize,
    },
    /// A metric (ROC AUC) that needs both classes among the true labels got only one.
    #[error("{metric} is undefined when only one class is present in the true labels")]
    SingleClass {
        /// The metric involved.
        metric: &'static str,
    },
    /// A negative relevance where the NDCG gain needs non-negative relevances.
    #[error("relevance {value} at index {index} is negative, which the {gain} NDCG gain does not allow")]
    NegativeRelevance {
        /// 0-based index of the item (within its user's list, or in the flat input).
        index: usize,
        /// The offending relevance.
        value: f64,
        /// The gain in use, like `"linear"`.
        gain: &'static str,
    },
    /// A parameter (threshold, `k`, number of classes) with an unusable value, or two
    /// accumulators with different parameters that cannot be merged.
    #[error("invalid parameter '{name}': {reason}")]
    InvalidParameter {
        /// The parameter involved.
        name: &'static str,
        /// Why the value is unusable.
        reason: String,
    },
    /// An error in the list of one user of a ranking metric.
    #[error("user {user}: {source}")]
    User {
        /// 0-based index of the user's list.
        user: usize,
        /// What is wrong with the list.
        #[source]
        source: Box<Error>,
    },
    /// An error in the cells of one column of an imputation report.
    #[error("column '{column}': {source}")]
    Column {
        /// The column name.
        column: String,
        /// What is wrong with the column's cells.
        #[source]
        source: Box<Error>,
    },
}

impl Error {
    /// Wraps `self` as the error of user `user`.
    pub(crate) fn in_user(self, user: usize) -> Error {
        Error::User { user, source: Box::new(self) }
    }

    /// Wraps `self` as the error of column `column`.
    pub(crate) fn in_column(self, column: &str) -> Error {
        Error::Column { column: column.to_owned(), source: Box::new(self) }
    }
}

/// Fails with [`Error::LengthMismatch`] unless both lengths agree.
pub(crate) fn check_same_len(
    what: &'static str,
    (left_name, left): (&'static str, usize),
    (right_name, right): (&'static str, usize),
) -> Result<()> {
    if left == right {
        Ok(())
    } else {
        Err(Error::LengthMismatch { what, left_name, left, right_name, right })
    }
}

/// Fails with [`Error::Empty`] when `len == 0`.
pub(crate) fn check_non_empty(what: &'static str, len: u64) -> Result<()> {
    if len == 0 {
        Err(Error::Empty { what })
    } else {
        Ok(())
    }
}

/// Fails with [`Error::NonFinite`] at the first NaN or infinite value.
pub(crate) fn check_finite(what: &'static str, values: &[f64]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(index) => Err(Error::NonFinite { what, index, value: values[index] }),
    }
}

/// Fails at the first value that is not a finite probability in `[0, 1]`.
pub(crate) fn check_probabilities(what: &'static str, values: &[f64]) -> Result<()> {
    check_finite(what, values)?;
    match values.iter().position(|v| !(0.0..=1.0).contains(v)) {
        None => Ok(()),
        Some(index) => Err(Error::ProbabilityOutOfRange { what, index, value: values[index] }),
    }
}

/// Fails with [`Error::InvalidParameter`] unless `value` is finite.
pub(crate) fn check_finite_parameter(name: &'static str, value: f64) -> Result<()> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(Error::InvalidParameter { name, reason: format!("{value} is not a finite number") })
    }
}

/// `numerator / denominator`, or 0 when the denominator is 0 (scikit-learn's `zero_division=0`).
pub(crate) fn ratio_or_zero(numerator: u64, denominator: u64) -> f64 {
    if denominator == 0 {
        0.0
    } else {
        numerator as f64 / denominator as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_input_and_index() {
        let err = check_finite("scores", &[0.1, f64::NAN]).unwrap_err();
        assert_eq!(err.to_string(), "scores: value at index 1 is not finite (NaN)");
        let err = check_same_len("mae", ("y_true", 3), ("y_pred", 2)).unwrap_err();
        assert_eq!(err.to_string(), "mae: y_true has 3 elements but y_pred has 2");
    }

    #[test]
    fn wrapped_errors_keep_their_source() {
        use std::error::Error as _;
        let err = Error::Empty { what: "cells" }.in_column("age");
        assert_eq!(err.to_string(), "column 'age': cells: the input is empty");
        assert_eq!(err.source().map(|s| s.to_string()).as_deref(), Some("cells: the input is empty"));
    }

    #[test]
    fn probabilities_must_lie_in_the_unit_interval() {
        assert!(check_probabilities("p", &[0.0, 0.5, 1.0]).is_ok());
        assert!(matches!(check_probabilities("p", &[0.5, 1.5]), Err(Error::ProbabilityOutOfRange { index: 1, .. })));
        assert!(matches!(check_probabilities("p", &[-0.0, f64::INFINITY]), Err(Error::NonFinite { index: 1, .. })));
    }

    #[test]
    fn zero_denominator_gives_zero() {
        assert_eq!(ratio_or_zero(3, 0), 0.0);
        assert_eq!(ratio_or_zero(1, 4), 0.25);
    }
}
