//! The error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong while reading a GGUF file or building from it.
///
/// Messages name the key, tensor, type or byte offset involved, so a caller can print them as
/// they are.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GgufError {
    /// The file could not be opened or mapped.
    #[error("cannot read GGUF file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The first four bytes are not `GGUF`.
    #[error("not a GGUF file: magic is {found:02x?}, expected \"GGUF\"")]
    BadMagic {
        /// The bytes found (fewer than four if the input is that short).
        found: Vec<u8>,
    },
    /// A version this reader does not read (it reads 2 and 3).
    #[error("unsupported GGUF version {0} (supported: 2 and 3; a big-endian file reads as a huge version)")]
    UnsupportedVersion(u32),
    /// The input ends before a field that should be there.
    #[error("GGUF data truncated: needed {needed} bytes for {what} at offset {offset}, {available} left")]
    Truncated {
        /// What was being read.
        what: String,
        /// Where it starts.
        offset: usize,
        /// How many bytes it needs.
        needed: u64,
        /// How many bytes are left from `offset`.
        available: usize,
    },
    /// A count or size is larger than the input could possibly hold.
    #[error("implausible {what}: {value} (limit {limit} for this input)")]
    ImplausibleCount {
        /// What was counted.
        what: String,
        /// The value in the file.
        value: u64,
        /// The most the input can hold.
        limit: u64,
    },
    /// A metadata value type code outside 0..=12.
    #[error("metadata key {key:?}: unknown value type {code}")]
    UnknownValueType {
        /// The key being read.
        key: String,
        /// The type code found.
        code: u32,
    },
    /// Arrays nested deeper than the reader allows.
    #[error("metadata key {key:?}: arrays nested deeper than {limit}")]
    NestingTooDeep {
        /// The key being read.
        key: String,
        /// The limit.
        limit: usize,
    },
    /// A string that is not UTF-8.
    #[error("{what} is not valid UTF-8")]
    InvalidUtf8 {
        /// Which string.
        what: String,
    },
    /// The same metadata key appears twice.
    #[error("duplicate metadata key {0:?}")]
    DuplicateKey(String),
    /// The same tensor name appears twice.
    #[error("duplicate tensor name {0:?}")]
    DuplicateTensor(String),
    /// A metadata key that was asked for is not in the file.
    #[error("metadata key {0:?} not found")]
    MissingKey(String),
    /// A metadata key holds a different type than was asked for.
    #[error("metadata key {key:?} has type {found}, expected {expected}")]
    WrongType {
        /// The key.
        key: String,
        /// The type asked for.
        expected: String,
        /// The type in the file.
        found: String,
    },
    /// A metadata value that is the right type but unusable (out of range, not allowed).
    #[error("metadata key {key:?}: {reason}")]
    InvalidValue {
        /// The key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A ggml tensor type code this reader does not know at all.
    #[error("tensor {tensor:?}: unknown ggml type {code}")]
    UnknownTensorType {
        /// The tensor.
        tensor: String,
        /// The type code.
        code: u32,
    },
    /// A tensor whose type is known but cannot be dequantized by this crate.
    #[error("tensor {tensor:?}: ggml type {ggml_type} is not supported for dequantization (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1)")]
    UnsupportedTensorType {
        /// The tensor.
        tensor: String,
        /// The type name.
        ggml_type: String,
    },
    /// A tensor info that cannot describe a real tensor (dimensions, offset, alignment).
    #[error("tensor {tensor:?}: {reason}")]
    InvalidTensor {
        /// The tensor.
        tensor: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A tensor's bytes reach past the end of the data section.
    #[error("tensor {tensor:?}: data [{start}, {end}) lies outside the data section of {data_len} bytes")]
    TensorOutOfBounds {
        /// The tensor.
        tensor: String,
        /// First byte, relative to the data section.
        start: u64,
        /// One past the last byte, relative to the data section.
        end: u64,
        /// Size of the data section.
        data_len: u64,
    },
    /// A tensor that was asked for is not in the file.
    #[error("tensor {0:?} not found")]
    TensorNotFound(String),
    /// An output buffer of the wrong length.
    #[error("tensor {tensor:?}: output buffer holds {got} values, tensor has {expected}")]
    OutputLength {
        /// The tensor.
        tensor: String,
        /// Elements in the tensor.
        expected: usize,
        /// Elements in the buffer.
        got: usize,
    },
    /// The embedded tokenizer cannot be built.
    #[error("tokenizer: {reason}")]
    Tokenizer {
        /// What went wrong.
        reason: String,
        /// The error from the `tokenizers` crate, if it raised one.
        #[source]
        source: Option<tokenizers::Error>,
    },
}

/// Result with [`GgufError`].
pub type Result<T> = std::result::Result<T, GgufError>;
