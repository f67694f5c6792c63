//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong in this crate. Messages name the file, tensor or field at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("I/O error on `{path}`: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A JSON file (model config, adapter config, trainer state) could not be parsed or written.
    #[error("invalid JSON in `{path}`: {source}")]
    Json {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },

    /// A safetensors file could not be parsed or written.
    #[error("invalid safetensors file `{path}`: {source}")]
    Safetensors {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: safetensors::SafeTensorError,
    },

    /// A libtorch operation failed.
    #[error("libtorch error: {0}")]
    Torch(#[from] tch::TchError),

    /// The tokenizer could not be built or failed to encode/decode.
    #[error("tokenizer error ({context}): {source}")]
    Tokenizer {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// A GGUF file could not be read (bad header, truncated data, unsupported tensor type, ...).
    #[error("cannot read GGUF file `{path}`: {source}")]
    Gguf {
        /// The file involved.
        path: PathBuf,
        /// The underlying error; it names the key or tensor at fault.
        #[source]
        source: gguf_file::GgufError,
    },

    /// A tensor the model needs is absent from a checkpoint.
    #[error("tensor `{name}` is missing from `{path}`")]
    MissingTensor {
        /// The tensor's name as the checkpoint would spell it.
        name: String,
        /// The checkpoint file.
        path: PathBuf,
    },

    /// A checkpoint holds a tensor the model has no place for.
    #[error("unexpected tensor `{name}` in `{path}` (does the config match the weights?)")]
    UnexpectedTensor {
        /// The tensor's name in the checkpoint.
        name: String,
        /// The checkpoint file.
        path: PathBuf,
    },

    /// A tensor has a shape other than the config implies.
    #[error("tensor `{name}` in `{path}` has shape {actual:?}, expected {expected:?}")]
    ShapeMismatch {
        /// The tensor's name in the checkpoint.
        name: String,
        /// The checkpoint file.
        path: PathBuf,
        /// The shape the config implies.
        expected: Vec<i64>,
        /// The shape found.
        actual: Vec<i64>,
    },

    /// A tensor is stored in a dtype this crate does not read.
    #[error("tensor `{name}` in `{path}` has unsupported dtype {dtype}")]
    UnsupportedDtype {
        /// The tensor's name in the checkpoint.
        name: String,
        /// The checkpoint file.
        path: PathBuf,
        /// The dtype as safetensors names it.
        dtype: String,
    },

    /// A config is invalid or unsupported.
    #[error("invalid config{}: {message}", .path.as_ref().map(|p| format!(" `{}`", p.display())).unwrap_or_default())]
    Config {
        /// The file, when the config came from one.
        path: Option<PathBuf>,
        /// What is wrong.
        message: String,
    },

    /// An adapter does not fit the model it is applied to, or uses an unsupported feature.
    #[error("adapter error{}: {message}", .path.as_ref().map(|p| format!(" in `{}`", p.display())).unwrap_or_default())]
    Adapter {
        /// The adapter directory or file, when known.
        path: Option<PathBuf>,
        /// What is wrong.
        message: String,
    },

    /// A prompt (plus what must be generated) does not fit in the model's context.
    #[error("sequence {index} has {len} tokens, more than the model's context of {max} tokens")]
    SequenceTooLong {
        /// Index of the sequence in its batch.
        index: usize,
        /// Its length in tokens.
        len: usize,
        /// The model's context length.
        max: usize,
    },

    /// A token id is outside the vocabulary.
    #[error("token id {id} is outside the vocabulary of {vocab_size}")]
    TokenOutOfRange {
        /// The offending id.
        id: i64,
        /// The model's vocabulary size.
        vocab_size: usize,
    },

    /// Arguments that do not make sense together (empty batch, mismatched lengths, ...).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// An error raised by a caller's training hook ([`Trainer::train_with`](crate::Trainer::train_with)).
    #[error("training hook: {0}")]
    Hook(#[source] Box<dyn std::error::Error + Send + Sync>),

    /// A trainer checkpoint does not fit the run that tries to resume from it.
    #[error("checkpoint `{path}`: {message}")]
    Checkpoint {
        /// The checkpoint directory.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;

/// The LoRA and trainer settings ([`llm_config`]) say what is wrong; it becomes a config error.
impl From<llm_config::Error> for Error {
    fn from(e: llm_config::Error) -> Self {
        Error::config(e.to_string())
    }
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        Error::Config { path: None, message: message.into() }
    }

    pub(crate) fn adapter(path: Option<PathBuf>, message: impl Into<String>) -> Self {
        Error::Adapter { path, message: message.into() }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Error::InvalidInput(message.into())
    }
}
