//! Errors of the prompt codec.

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong while serializing rows, parsing values or building grammars.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A column the codec cannot serialize (for example an id column asked to be imputed).
    #[error("column '{column}' ({kind}) cannot be {action}")]
    Unsupported {
        /// The column.
        column: String,
        /// Its kind.
        kind: rec_table::ColumnKind,
        /// What was attempted: "serialized", "imputed", ...
        action: &'static str,
    },
    /// Generated text that is not a valid value of its column.
    #[error("column '{column}': cannot read {text:?} as {expected}")]
    Parse {
        /// The column.
        column: String,
        /// The text that was generated.
        text: String,
        /// What the column allows.
        expected: String,
    },
    /// A tokenizer that cannot spell one of the allowed values exactly.
    #[error("column '{column}': the tokenizer cannot spell {value:?} (it decodes back as {decoded:?})")]
    Unspellable {
        /// The column.
        column: String,
        /// The allowed value.
        value: String,
        /// What its tokens decode to.
        decoded: String,
    },
    /// A training table that gives the codec nothing to learn from.
    #[error("{0}")]
    InvalidInput(String),
    /// An error from the table core.
    #[error(transparent)]
    Table(#[from] rec_table::Error),
    /// An error from the tokenizer.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
}
