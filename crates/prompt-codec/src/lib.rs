//! Rows of a table as text for a language model, and the model's text back as values.
//!
//! The LLM imputer of recimpute fine-tunes a causal language model on sentences made from the
//! complete rows of a table ("age is 24, gender is M, occupation is technician.") and asks it
//! to continue a prompt that ends at a missing cell ("gender is F, occupation is writer, age
//! is"). This crate owns both directions and the rules that keep the model honest:
//!
//! - [`RowCodec`] is fitted on a training table: readable column phrases, a number format per
//!   column (decimals as observed), the vocabularies of categorical and set-valued columns. It
//!   writes training sentences with the column order shuffled per example (so any subset of
//!   cells conditions any other), prompts with the observed cells first, and parses generated
//!   text into typed values with errors that say what was expected.
//! - [`ColumnGrammar`] says what a model may write for a column, at the token level: a
//!   [`TokenTrie`] of the allowed categories (for constrained decoding and for scoring every
//!   candidate after a shared prefix) and a [`NumberGrammar`] that admits only prefixes of
//!   numbers inside the seen range.
//!
//! ```
//! use prompt_codec::{CodecConfig, NumberGrammar, RowCodec};
//! use rec_table::{read_csv_bytes, CsvOptions, Value};
//!
//! let csv = b"age,gender,occupation\n24,M,technician\n53,F,other\n,F,writer\n";
//! let table = read_csv_bytes(csv, "users.csv", &CsvOptions::default())?;
//! let codec = RowCodec::fit(&table, CodecConfig::default())?;
//! assert_eq!(codec.serialize_row(&table, 0, &[2, 0, 1])?, "occupation is technician, age is 24, gender is M.");
//! assert_eq!(codec.prompt(&table, 2, 0)?, "gender is F, occupation is writer, age is");
//! assert_eq!(codec.parse_value(1, " F,")?, Value::Category("F".into()));
//! assert!(codec.parse_value(1, " X").is_err());
//!
//! let ages = NumberGrammar { min: 24.0, max: 53.0, decimals: 0 };
//! assert!(ages.accepts_prefix(" 3") && !ages.accepts_prefix(" 6") && ages.accepts(" 41"));
//! # Ok::<(), prompt_codec::Error>(())
//! ```

mod codec;
mod error;
mod grammar;

pub use codec::{phrase, CodecConfig, ColumnCodec, NumberBins, RowCodec};
pub use error::{Error, Result};
pub use grammar::{ColumnGrammar, NumberGrammar, TokenTrie, Vocab};
