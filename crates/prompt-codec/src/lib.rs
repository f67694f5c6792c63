//! Serialization of table rows as text prompts, parsing of generated values, and per-column
//! grammars of allowed values for constrained decoding.
//!
//! Status: this crate is being filled by issue #8; nothing here is implemented yet.
