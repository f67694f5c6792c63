//! The estimator traits: imputers and recommenders, with hyperparameters and fitted state as
//! separate types, each estimator with its own typed error.
//!
//! The shape every estimator keeps (linfa's): parameters → [`Imputer::validate`] (typed
//! errors, also run first by `fit`) → [`Imputer::fit`] → a fitted type that
//! [`transform`](FittedImputer::transform)s (imputers) or [`predict`](FittedRecommender::predict)s
//! (recommenders) and, where the crate supports it, saves and loads itself. Errors are the
//! estimator's own type ([`EstimatorError`]); [`DynImputer`] erases both the type and its error
//! into [`Error`] for registries that pick an imputer at run time.

use arrow::array::ArrayRef;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::schema::Schema;
use crate::table::Table;

/// What an estimator's error type must allow: built from the table core's [`Error`] (a schema
/// mismatch, a refused write), turned back into it where estimators of different crates meet,
/// and sent across threads.
pub trait EstimatorError: std::error::Error + From<Error> + Into<Error> + Send + Sync + 'static {}

impl<E> EstimatorError for E where E: std::error::Error + From<Error> + Into<Error> + Send + Sync + 'static {}

/// An imputation method with its hyperparameters; [`fit`](Imputer::fit) learns from a table.
///
/// The contract every implementation keeps:
/// - [`validate`](Imputer::validate) checks the hyperparameters alone (no data) and `fit`
///   calls it before anything else;
/// - `fit` reads the training table and returns a [`FittedImputer`]; it does not modify it;
/// - the fitted imputer transforms any table with the same schema (fit on train, transform
///   test), and never changes an observed cell. [`Table::with_filled`] enforces the latter.
pub trait Imputer {
    /// The fitted state.
    type Fitted: FittedImputer<Error = Self::Error>;
    /// The imputer's own error type.
    type Error: EstimatorError;

    /// A short name for reports, like `"mean"` or `"knn(k=5)"`.
    fn name(&self) -> String;

    /// Checks the hyperparameters, naming the one out of range.
    fn validate(&self) -> std::result::Result<(), Self::Error>;

    /// Learns what the imputer needs from `train`.
    fn fit(&self, train: &Table) -> std::result::Result<Self::Fitted, Self::Error>;
}

/// A fitted imputer: fills the missing cells of tables with the schema it was fitted on.
///
/// Fitted imputers are `Send` (hand one to a worker thread), not necessarily `Sync`: a model
/// with internal buffers need not lock them.
pub trait FittedImputer: Send {
    /// The error type of the imputer that produced it.
    type Error: EstimatorError;

    /// The schema seen at fit time; `transform` requires the same.
    fn schema(&self) -> &Schema;

    /// Returns `table` with its missing cells filled.
    ///
    /// Most imputers keep every row and fill every missing cell they can; a method may leave
    /// cells missing (documented per method) or, like case-wise deletion, drop rows.
    fn transform(&self, table: &Table) -> std::result::Result<Table, Self::Error>;
}

/// A fitted imputer of any type, its errors turned into the table core's [`Error`].
pub type BoxedFittedImputer = Box<dyn FittedImputer<Error = Error>>;

/// Object-safe face of [`Imputer`], for code that picks an imputer at run time (a registry, a
/// config file): every imputer is one, its errors come back as [`Error`], those of other crates
/// as [`Error::External`] with the imputer's name as context.
///
/// ```
/// use rec_table::{read_csv_bytes, CsvOptions, DynImputer};
///
/// struct Zero; // fills every numeric gap with 0
/// impl rec_table::Imputer for Zero {
///     type Fitted = Zeroes;
///     type Error = rec_table::Error;
///     fn name(&self) -> String { "zero".into() }
///     fn validate(&self) -> rec_table::Result<()> { Ok(()) }
///     fn fit(&self, train: &rec_table::Table) -> rec_table::Result<Zeroes> {
///         Ok(Zeroes(train.schema().clone()))
///     }
/// }
/// struct Zeroes(rec_table::Schema);
/// impl rec_table::FittedImputer for Zeroes {
///     type Error = rec_table::Error;
///     fn schema(&self) -> &rec_table::Schema { &self.0 }
///     fn transform(&self, t: &rec_table::Table) -> rec_table::Result<rec_table::Table> {
///         t.with_filled(t.missing_cells().map(|c| (c, rec_table::Value::Number(0.0))))
///     }
/// }
///
/// let table = read_csv_bytes(b"a,b\n1,\n,4\n", "t.csv", &CsvOptions::default())?;
/// let registry: Vec<Box<dyn DynImputer>> = vec![Box::new(Zero)];
/// for imputer in &registry {
///     let filled = imputer.fit_boxed(&table)?.transform(&table)?;
///     assert_eq!(filled.missing_cells().count(), 0);
/// }
/// # Ok::<(), rec_table::Error>(())
/// ```
pub trait DynImputer {
    /// See [`Imputer::name`].
    fn name(&self) -> String;
    /// See [`Imputer::validate`].
    fn validate_boxed(&self) -> Result<()>;
    /// See [`Imputer::fit`]; the fitted imputer comes boxed.
    fn fit_boxed(&self, train: &Table) -> Result<BoxedFittedImputer>;
}

impl<I> DynImputer for I
where
    I: Imputer,
    I::Fitted: 'static,
{
    fn name(&self) -> String {
        Imputer::name(self)
    }

    fn validate_boxed(&self) -> Result<()> {
        Imputer::validate(self).map_err(|e| named(e.into(), &Imputer::name(self)))
    }

    fn fit_boxed(&self, train: &Table) -> Result<BoxedFittedImputer> {
        let name = Imputer::name(self);
        let fitted = self.fit(train).map_err(|e| named(e.into(), &name))?;
        Ok(Box::new(Erased { inner: fitted, name }))
    }
}

/// A fitted imputer whose errors are turned into [`Error`] (see [`DynImputer`]).
struct Erased<F> {
    inner: F,
    name: String,
}

impl<F: FittedImputer> FittedImputer for Erased<F> {
    type Error = Error;

    fn schema(&self) -> &Schema {
        self.inner.schema()
    }

    fn transform(&self, table: &Table) -> Result<Table> {
        self.inner.transform(table).map_err(|e| named(e.into(), &self.name))
    }
}

/// Puts the imputer's name on another crate's error (table errors name their own subject).
fn named(e: Error, name: &str) -> Error {
    match e {
        Error::External { source, .. } => Error::External { context: name.to_string(), source },
        other => other,
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
///
/// The same shape as [`Imputer`]: [`validate`](Recommender::validate) checks the
/// hyperparameters (and `fit` calls it first); errors are the recommender's own type.
pub trait Recommender {
    /// The trained model.
    type Fitted: FittedRecommender<Error = Self::Error>;
    /// The recommender's own error type.
    type Error: EstimatorError;

    /// Checks the hyperparameters, naming the one out of range.
    fn validate(&self) -> std::result::Result<(), Self::Error>;

    /// Trains on `train` to predict column `target`; the other columns are features.
    fn fit(&self, train: &Table, target: &str) -> std::result::Result<Self::Fitted, Self::Error>;
}

/// A trained recommender.
pub trait FittedRecommender: Send {
    /// The error type of the recommender that produced it.
    type Error: EstimatorError;

    /// The task it was trained for.
    fn task(&self) -> Task;

    /// The target column it predicts.
    fn target(&self) -> &str;

    /// One prediction per row of `table` (see [`Task`] for the array type). `table` may or may
    /// not contain the target column; it is ignored when present.
    fn predict(&self, table: &Table) -> std::result::Result<ArrayRef, Self::Error>;
}
