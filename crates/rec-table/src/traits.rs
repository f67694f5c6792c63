//! The estimator traits: imputers and recommenders, with hyperparameters and fitted state as
//! separate types.

use arrow::array::ArrayRef;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::schema::Schema;
use crate::table::Table;

/// An imputation method with its hyperparameters; [`fit`](Imputer::fit) learns from a table.
///
/// The contract every implementation keeps:
/// - `fit` reads the training table and returns a [`FittedImputer`]; it does not modify it;
/// - the fitted imputer transforms any table with the same schema (fit on train, transform
///   test), and never changes an observed cell. [`Table::with_filled`] enforces the latter.
pub trait Imputer {
    /// The fitted state.
    type Fitted: FittedImputer;

    /// A short name for reports, like `"mean"` or `"knn(k=5)"`.
    fn name(&self) -> String;

    /// Learns what the imputer needs from `train`.
    fn fit(&self, train: &Table) -> Result<Self::Fitted>;
}

/// A fitted imputer: fills the missing cells of tables with the schema it was fitted on.
pub trait FittedImputer: Send + Sync {
    /// The schema seen at fit time; `transform` requires the same.
    fn schema(&self) -> &Schema;

    /// Returns `table` with its missing cells filled.
    ///
    /// Most imputers keep every row and fill every missing cell they can; a method may leave
    /// cells missing (documented per method) or, like case-wise deletion, drop rows.
    fn transform(&self, table: &Table) -> Result<Table>;
}

/// Object-safe face of [`Imputer`], for code that picks an imputer at run time.
pub trait DynImputer {
    /// See [`Imputer::name`].
    fn name(&self) -> String;
    /// See [`Imputer::fit`]; the fitted imputer comes boxed.
    fn fit_boxed(&self, train: &Table) -> Result<Box<dyn FittedImputer>>;
}

impl<I> DynImputer for I
where
    I: Imputer,
    I::Fitted: 'static,
{
    fn name(&self) -> String {
        Imputer::name(self)
    }

    fn fit_boxed(&self, train: &Table) -> Result<Box<dyn FittedImputer>> {
        Ok(Box::new(self.fit(train)?))
    }
}

/// What a recommender predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Task {
    /// A 0/1 target; predictions are probabilities of 1 (`Float64`).
    Binary,
    /// A target in `classes` classes; predictions are class indices (`UInt32`) in the order of
    /// the target's sorted labels.
    MultiClass {
        /// Number of classes.
        classes: usize,
    },
    /// A real target; predictions are values (`Float64`).
    Regression,
}

/// A recommendation model with its hyperparameters; [`fit`](Recommender::fit) trains it.
pub trait Recommender {
    /// The trained model.
    type Fitted: FittedRecommender;

    /// Trains on `train` to predict column `target`; the other columns are features.
    fn fit(&self, train: &Table, target: &str) -> Result<Self::Fitted>;
}

/// A trained recommender.
pub trait FittedRecommender {
    /// The task it was trained for.
    fn task(&self) -> Task;

    /// The target column it predicts.
    fn target(&self) -> &str;

    /// One prediction per row of `table` (see [`Task`] for the array type). `table` may or may
    /// not contain the target column; it is ignored when present.
    fn predict(&self, table: &Table) -> Result<ArrayRef>;
}
