//! Classical imputers behind [`rec_table::Imputer`]: case-wise deletion, constant, mean,
//! median, mode, KNN, iterative (MICE) and a random-forest imputer (MissForest).
//!
//! Every imputer is a serde-serialisable parameter struct whose [`Imputer::fit`] learns from a
//! training table and returns a fitted type; the fitted imputer fills any table with the same
//! schema (fit on train, transform test) through [`Table::with_filled`], so an observed cell
//! is never changed.
//!
//! | imputer | fitted | numeric | categorical | set-valued |
//! |---|---|---|---|---|
//! | [`CaseDeletion`] | [`FittedCaseDeletion`] | drops the row | drops the row | drops the row |
//! | [`SimpleImputer`] | [`FittedSimple`] | constant / mean / median / mode | constant / mode | constant / most frequent set |
//! | [`KnnImputer`] | [`FittedKnn`] | donors' mean | donors' vote | elements of most donors |
//! | [`IterativeImputer`] | [`FittedIterative`] | (Bayesian) ridge | multinomial logistic (or one-hot regression) | per-element logistic (or regression) |
//! | [`MissForestImputer`] | [`FittedMissForest`] | regression forest | classification forest | multi-label forest |
//!
//! Common rules:
//! - only numeric, categorical and set-valued columns are features and imputed; **id and text
//!   columns are left as they are** (keys and free text are not features);
//! - a column with **no observed cell at fit** is left missing (only the constant strategy fills
//!   it, needing no data) and is not used as a feature;
//! - a **label unseen at fit** in a categorical column is treated as observed but unlike any
//!   known label (a mismatch for KNN, an all-zero one-hot for the models); an unseen element
//!   of a set is ignored by the models;
//! - a **constant numeric column** is standardised with a scale of one.
//!
//! Every imputer here has [`Error`] as its error type (`Imputer::Error`), checks its
//! hyperparameters in `Imputer::validate` and fits to a concrete fitted type. Through
//! [`rec_table::DynImputer`] (a registry of imputers of several crates) the errors become
//! [`rec_table::Error`]: table errors such as a schema mismatch unchanged, the others wrapped
//! as [`rec_table::Error::External`] with the imputer's name.
//!
//! ```
//! use imputers_baseline::{IterativeImputer, KnnImputer, SimpleImputer};
//! use rec_table::{read_csv_bytes, CsvOptions, FittedImputer, Imputer};
//!
//! let train = read_csv_bytes(
//!     b"age,height,gender\n20,170,M\n30,,F\n,165,F\n40,180,M\n25,172,\n",
//!     "train.csv",
//!     &CsvOptions::default(),
//! )?;
//! let test = read_csv_bytes(b"age,height,gender\n,175,M\n35,,\n", "test.csv", &CsvOptions::default())?;
//! for imputer in [
//!     Box::new(SimpleImputer::mean()) as Box<dyn rec_table::DynImputer>,
//!     Box::new(KnnImputer::new(2)),
//!     Box::new(IterativeImputer::new()),
//! ] {
//!     let fitted = imputer.fit_boxed(&train)?;
//!     let filled = fitted.transform(&test)?;
//!     assert_eq!(filled.missing_cells().count(), 0, "{}", imputer.name());
//! }
//! # Ok::<(), rec_table::Error>(())
//! ```
//!
//! [`ClassicalImputer`] holds any of them chosen at run time (a registry, a config file) and
//! fits to a [`FittedClassical`]; every fitted imputer can be saved to a versioned JSON file and
//! loaded back, filling exactly as before ([`persist`]).
//!
//! The crate has no features. Randomness (MissForest) always takes a seed.
//!
//! [`Imputer::fit`]: rec_table::Imputer::fit
//! [`Table::with_filled`]: rec_table::Table::with_filled

mod chain;
mod classical;
mod common;
mod deletion;
mod domain;
mod eigen;
mod error;
mod forest;
mod iterative;
mod knn;
mod linear;
mod missforest;
pub mod persist;
mod simple;
mod stored;

pub use classical::{ClassicalImputer, FittedClassical};
pub use deletion::{CaseDeletion, DeletionMode, FittedCaseDeletion};
pub use domain::{ColumnDomain, FillDomain, Projected};
pub use error::{Error, Result};
pub use forest::{ForestParams, MaxFeatures};
pub use iterative::{FittedIterative, IterativeImputer, LabelModel, NumericModel, VisitOrder};
pub use knn::{FittedKnn, KnnImputer, KnnWeights};
pub use missforest::{FittedMissForest, MissForestImputer};
pub use persist::SavedImputer;
pub use simple::{FittedSimple, SimpleImputer, SimpleStrategy};
pub use stored::{fill_stored, stored_output_schema, StoredFill};
