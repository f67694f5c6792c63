//! Dataset loaders (MovieLens, AdClick, any CSV/Parquet), missingness injection
//! (MCAR/MAR/MNAR), seeded splits and synthetic tables, all producing [`rec_table::Table`]s.
//!
//! Status: this crate is being filled by issue #3; nothing here is implemented yet.
