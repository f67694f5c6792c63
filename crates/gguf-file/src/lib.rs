//! Reader for [GGUF](https://github.com/ggml-org/ggml/blob/master/docs/gguf.md) model files,
//! the format llama.cpp uses, in pure Rust (no libtorch).
//!
//! [`GgufFile::open`] memory-maps a file and parses its header, its metadata (every GGUF value
//! type, nested arrays included) and its tensor infos; [`GgufFile::from_bytes`] does the same
//! for an in-memory image. Nothing in the input is trusted: counts are checked against the
//! input size before anything is allocated, every tensor's extent is checked against the data
//! section, and all failures are [`GgufError`]s that name the key, tensor or offset.
//!
//! Tensors are dequantized on request to `f32`, `f16` or `bf16` ([`TensorView::to_vec`]); the
//! types read are F32, F16, BF16, Q8_0, Q4_0 and Q4_1 (see [`quant`]). Any other type is an
//! [`GgufError::UnsupportedTensorType`] naming tensor and type. The embedded byte-level BPE
//! tokenizer is rebuilt as a [`tokenizers::Tokenizer`] by [`GgufFile::tokenizer`], with the
//! pre-tokenizer llama.cpp uses for the file's `tokenizer.ggml.pre` ([`PreTokenizerKind`]).
//!
//! This crate has no cargo features.
//!
//! # Example
//!
//! ```
//! use gguf_file::{GgmlType, GgufFile};
//!
//! # fn main() -> gguf_file::Result<()> {
//! # let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/reference/tiny.gguf");
//! let file = GgufFile::open(path)?;
//! assert_eq!(file.version(), 3);
//! assert_eq!(file.architecture()?, "llama");
//! let blocks = file.metadata().get_u32("llama.block_count")?;
//! assert_eq!(blocks, 2);
//!
//! let q = file.tensor("t.q4_1")?;
//! assert_eq!(q.ggml_type(), GgmlType::Q4_1);
//! assert_eq!(q.info().shape(), vec![5, 64]); // row-major; ggml dims are [64, 5]
//! let values: Vec<f32> = q.to_vec()?;
//! assert_eq!(values.len(), 5 * 64);
//!
//! // Missing keys and unsupported types are errors that say what is wrong.
//! let err = file.metadata().get_u32("llama.embedding_length").unwrap_err();
//! assert!(err.to_string().contains("llama.embedding_length"));
//! assert!(file.dequantize_f32("t.q4_k").is_err());
//! # Ok(())
//! # }
//! ```
//!
//! Tokenizing with the vocabulary of a file:
//!
//! ```
//! # fn main() -> gguf_file::Result<()> {
//! # let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/reference/tiny_tokenizer.gguf");
//! let tok = gguf_file::GgufFile::open(path)?.tokenizer()?;
//! assert_eq!(tok.pre(), Some("smollm"));
//! let ids = tok.encode("<|im_start|>user\nhi<|im_end|>", false)?;
//! assert_eq!(ids.first(), Some(&1));
//! assert_eq!(tok.decode(&ids, false)?, "<|im_start|>user\nhi<|im_end|>");
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod error;
mod file;
pub mod header;
pub mod metadata;
pub mod quant;
pub mod tensor;
pub mod tokenizer;

pub use error::{GgufError, Result};
pub use file::{GgufFile, TensorView, ALIGNMENT_KEY, DEFAULT_ALIGNMENT};
pub use header::Header;
pub use metadata::{Array, Metadata, Value, ValueType};
pub use quant::OutputFloat;
pub use tensor::{GgmlType, TensorInfo};
pub use tokenizer::{GgufTokenizer, PreTokenizerKind};
