//! The one error of this crate: a setting out of range, or a name that is not one of the
//! allowed values.

/// A setting that cannot be used, with the path of the field when it is nested (`lora: …`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A value out of range, or settings that contradict each other.
    #[error("{0}")]
    Invalid(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Error::Invalid(message.into())
    }

    /// The same error, said of the nested settings `field` (`"lora"` → `lora: rank must be …`).
    pub fn within(self, field: &str) -> Self {
        match self {
            Error::Invalid(m) => Error::Invalid(format!("{field}: {m}")),
        }
    }
}
