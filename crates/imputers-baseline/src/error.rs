//! The error type of this crate and its conversion into [`rec_table::Error`].

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong while fitting or applying an imputer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A hyperparameter out of its range, e.g. `k = 0`.
    #[error("invalid parameter {name}: {message}")]
    InvalidParam {
        /// The parameter's name.
        name: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// A table the imputer cannot learn from.
    #[error("column '{column}': {message}")]
    Column {
        /// The column involved.
        column: String,
        /// What is wrong.
        message: String,
    },
    /// An imputer file that cannot be read or written (see [`crate::persist`]).
    #[error("{source_name}: {message}")]
    File {
        /// The file (or stream) involved.
        source_name: String,
        /// What is wrong with it.
        message: String,
    },
    /// An error from the table core (schema mismatch, refused write, ...).
    #[error(transparent)]
    Table(#[from] rec_table::Error),
}

impl Error {
    pub(crate) fn param(name: &'static str, message: impl Into<String>) -> Self {
        Error::InvalidParam { name, message: message.into() }
    }

    pub(crate) fn file(source: &str, message: impl Into<String>) -> Self {
        Error::File { source_name: source.to_string(), message: message.into() }
    }
}

/// At the boundary with code that holds estimators of several crates: table errors come back
/// as they were, the others wrapped as [`rec_table::Error::External`].
impl From<Error> for rec_table::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Table(e) => e,
            other => rec_table::Error::external("imputer", other),
        }
    }
}
