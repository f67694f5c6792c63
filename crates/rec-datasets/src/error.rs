//! The error type of `rec-datasets`.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while loading, masking, splitting or generating a dataset.
///
/// Messages name the file (and line, where known) so that a user can go straight to the
/// offending input. Errors of the table core stay reachable as [`source`](std::error::Error::source).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error of the table core (reading CSV/Parquet, building a table); its message already
    /// names the file where one is involved.
    #[error(transparent)]
    Table(#[from] rec_table::Error),
    /// An error of the table core raised while processing a file whose name it does not know.
    #[error("{path}: {source}")]
    InFile {
        /// The file being processed.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: rec_table::Error,
    },
    /// An operating-system error while reading a file or directory.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A malformed line in a dataset file (wrong separator, wrong field count, bad number).
    #[error("{path}: line {line}: {message}")]
    Parse {
        /// The file involved.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// A column the loader needs (a target, an expected field) is absent from a file.
    #[error("{path}: no column '{column}' (the file has: {available})")]
    MissingColumn {
        /// The file involved.
        path: PathBuf,
        /// The column asked for.
        column: String,
        /// The columns the file has, comma-separated.
        available: String,
    },
    /// The shared data directory could not be found.
    #[error("shared data directory {path} not found: {hint}")]
    DataDirMissing {
        /// The directory looked for.
        path: PathBuf,
        /// How to point the crate at the data.
        hint: String,
    },
    /// An argument a function cannot work with (a rate outside [0, 1], fractions not summing
    /// to 1, an unknown column, ...).
    #[error("{0}")]
    InvalidArgument(String),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    pub(crate) fn parse(path: impl Into<PathBuf>, line: u64, message: impl Into<String>) -> Self {
        Error::Parse { path: path.into(), line, message: message.into() }
    }

    pub(crate) fn in_file(path: impl Into<PathBuf>) -> impl FnOnce(rec_table::Error) -> Self {
        let path = path.into();
        move |source| Error::InFile { path, source }
    }
}
