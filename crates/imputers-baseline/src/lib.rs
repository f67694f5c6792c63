//! Classical imputers behind [`rec_table::Imputer`]: case-wise deletion, constant, mean,
//! median, mode, KNN, iterative (MICE) and a random-forest imputer.
//!
//! Status: this crate is being filled by issue #4; nothing here is implemented yet.
