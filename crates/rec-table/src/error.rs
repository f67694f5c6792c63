//! The error type shared by the table core and the traits built on it.

use std::path::PathBuf;

/// Result alias used throughout `rec-table` and by implementors of its traits.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while building, reading, writing or transforming a [`Table`].
///
/// Messages name the file, line and column involved wherever they are known, so that a user can
/// go straight to the offending cell.
///
/// [`Table`]: crate::Table
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system error while touching a file.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A malformed CSV file: ragged rows, unbalanced quotes, invalid UTF-8.
    #[error("{path}: line {line}: {message}")]
    Csv {
        /// The file (or the source name given for an in-memory reader).
        path: PathBuf,
        /// 1-based line number in the file.
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// A file with no header or no columns.
    #[error("{path}: the file is empty (no header row)")]
    EmptyFile {
        /// The file involved.
        path: PathBuf,
    },
    /// A cell whose text contradicts the kind declared (or inferred) for its column.
    #[error("{location}column '{column}': value {value:?} is not {expected}")]
    Kind {
        /// Where the value came from, like `"data.csv: line 7: "`; empty for in-memory tables.
        location: String,
        /// The column name.
        column: String,
        /// The offending value, as text.
        value: String,
        /// What the column's kind expects.
        expected: String,
    },
    /// A column name that the table does not have.
    #[error("unknown column '{name}' (the table has: {available})")]
    UnknownColumn {
        /// The name asked for.
        name: String,
        /// The names the table has, comma-separated.
        available: String,
    },
    /// Two schemas that should agree do not (for example fit and transform tables).
    #[error("schema mismatch: {0}")]
    SchemaMismatch(String),
    /// An attempt to overwrite a cell that is observed (not missing).
    #[error("row {row}, column '{column}': the cell is observed and must not be changed")]
    ObservedCell {
        /// 0-based row index.
        row: usize,
        /// The column name.
        column: String,
    },
    /// A row index outside the table.
    #[error("row {row} is out of range (the table has {rows} rows)")]
    RowOutOfRange {
        /// The row asked for.
        row: usize,
        /// The number of rows.
        rows: usize,
    },
    /// An argument or table that a function cannot work with.
    #[error("{0}")]
    InvalidInput(String),
    /// An error from Arrow.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// An error from the Parquet reader or writer.
    #[error("{path}: parquet: {source}")]
    Parquet {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// A Parquet file whose footer reads but whose data does not decode (a damaged page).
    #[error("{path}: cannot decode the Parquet data: {source}")]
    ParquetData {
        /// The file involved.
        path: PathBuf,
        /// Arrow's error.
        #[source]
        source: arrow::error::ArrowError,
    },
    /// An error raised by an imputer or recommender implemented in another crate.
    #[error("{context}: {source}")]
    External {
        /// Which component failed, e.g. `"knn imputer"`.
        context: String,
        /// The component's own error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}

impl Error {
    /// Wraps another crate's error with a short context, keeping it reachable as `source`.
    pub fn external(
        context: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        Error::External { context: context.into(), source: source.into() }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
}
