//! Errors of the LLM imputer.

use std::path::PathBuf;

/// Result alias of the LLM imputer.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong while fitting, running, saving or loading an [`LlmImputer`](crate::LlmImputer).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The training table has no row the imputer may learn from.
    #[error(
        "the training table has no row to learn from ({rows} rows; the `{objective:?}` objective needs rows \
         with at least one observed cell, two for `TargetLast`, complete rows for `FullRow`)"
    )]
    NoTrainingRows {
        /// Rows in the table.
        rows: usize,
        /// The training objective.
        objective: crate::Objective,
    },
    /// A setting that cannot work.
    #[error("LLM imputer config: {0}")]
    Config(String),
    /// A saved imputer or backbone that cannot be used.
    #[error("{path}: {message}")]
    Load {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A file system error, with the path it concerns.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A JSON file that does not parse.
    #[error("{path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: serde_json::Error,
    },
    /// From the table core.
    #[error(transparent)]
    Table(#[from] rec_table::Error),
    /// From the prompt codec (unserializable columns, values a tokenizer cannot spell, ...).
    #[error(transparent)]
    Codec(#[from] prompt_codec::Error),
    /// From the language-model engine.
    #[error(transparent)]
    Model(#[from] gpt2_lora::Error),
    /// From the GGUF reader.
    #[error(transparent)]
    Gguf(#[from] gguf_file::GgufError),
    /// From libtorch.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// From the tokenizer.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    pub(crate) fn load(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Load { path: path.into(), message: message.into() }
    }
}

/// A setting that [`llm_config`] refused.
impl From<llm_config::Error> for Error {
    fn from(e: llm_config::Error) -> Self {
        Error::Config(e.to_string())
    }
}

impl From<Error> for rec_table::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Table(t) => t,
            other => rec_table::Error::external("LLM imputer", other),
        }
    }
}
