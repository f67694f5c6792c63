//! The crate's error type.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while configuring, training, running, saving or loading a DLRM.
/// Messages name the column, row, tensor or file at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value out of its domain (found by [`DlrmConfig::validate`]).
    ///
    /// [`DlrmConfig::validate`]: crate::DlrmConfig::validate
    #[error("invalid DLRM config: {0}")]
    Config(String),

    /// A table with no row to learn from.
    #[error("{0}: the table has no rows")]
    EmptyTable(String),

    /// The target column is not in the table.
    #[error("target column '{target}' is not in the table (columns: {available})")]
    MissingTarget {
        /// The target asked for.
        target: String,
        /// The columns the table has.
        available: String,
    },

    /// The target column cannot serve the task.
    #[error("target column '{target}' is {kind}, which cannot be the target of {task}: {reason}")]
    TargetKind {
        /// The target column.
        target: String,
        /// Its kind.
        kind: rec_table::ColumnKind,
        /// The task asked for (or inferred).
        task: String,
        /// Why not.
        reason: String,
    },

    /// No column can serve as a feature (only the target, or only text columns).
    #[error("no feature column besides target '{0}' (text columns are ignored)")]
    NoFeatures(String),

    /// A feature column of the fitted model is absent from a table, or has another kind.
    #[error("feature column '{column}': {reason}")]
    FeatureMismatch {
        /// The column.
        column: String,
        /// What differs.
        reason: String,
    },

    /// A NaN or infinite number where the model needs a finite one.
    #[error("column '{column}', row {row}: value {value} is not finite")]
    NonFinite {
        /// The column.
        column: String,
        /// 0-based row index.
        row: usize,
        /// The offending value.
        value: f64,
    },

    /// Training diverged (the loss became NaN or infinite).
    #[error("training diverged at epoch {epoch}: the loss is {loss} (try a lower learning rate)")]
    Diverged {
        /// 1-based epoch.
        epoch: usize,
        /// The loss seen.
        loss: f64,
    },

    /// An error from the table core.
    #[error(transparent)]
    Table(#[from] rec_table::Error),

    /// A libtorch operation failed.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),

    /// Reading a file or directory failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A JSON file of a saved model could not be read or written.
    #[error("{path}: invalid JSON: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },

    /// A safetensors file could not be parsed or written.
    #[error("{path}: safetensors: {source}")]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: safetensors::SafeTensorError,
    },

    /// A weight file disagrees with the model its config describes.
    #[error("{path}: tensor '{name}': {reason}")]
    Weights {
        /// The weight file.
        path: PathBuf,
        /// The tensor.
        name: String,
        /// What is wrong (absent, unexpected, shape or dtype).
        reason: String,
    },
}

impl From<Error> for rec_table::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Table(inner) => inner,
            other => rec_table::Error::external("dlrm", other),
        }
    }
}
