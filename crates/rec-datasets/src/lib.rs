//! Datasets for recimpute: loaders for MovieLens (ml-100k, ml-1m, ml-latest), the AdClick
//! table and any CSV/Parquet file; missingness injection (MCAR, MAR, MNAR) that keeps the
//! ground truth of every removed cell; seeded train/validation/test splits; and deterministic
//! synthetic tables with planted dependencies. Everything produces [`rec_table::Table`]s.
//!
//! | module | what |
//! |---|---|
//! | [`movielens`] | GroupLens formats → user, item and rating tables, and their join |
//! | [`adclick`] | the AdClick table, its duplicates and record groups |
//! | [`general`] | any CSV/Parquet file with a named target column |
//! | [`join`] | attribute tables (users, items) joined onto interactions by key |
//! | [`missingness`] | MCAR / MAR / MNAR holes with a seed, and their ground truth |
//! | [`split`] | random, by entity, ml-100k folds, duplicate-aware AdClick |
//! | [`synthetic`] | AdClick-shaped, correlated Gaussians, one column of every kind |
//!
//! The real data is read in place from the shared data directory ([`shared_data_dir`]); the
//! MovieLens files may not be redistributed, so tests of the file formats write their own
//! small fixtures.
//!
//! ```
//! use rec_datasets::missingness::{inject, MissingnessConfig};
//! use rec_datasets::split::{random_split, Fractions};
//! use rec_datasets::synthetic::adclick_like;
//!
//! // An AdClick-shaped table, 20% of its feature cells removed completely at random.
//! let table = adclick_like(1_000, 42)?;
//! let masked = inject(&table, &MissingnessConfig::mcar(0.2, 7).with_exclude(["click"]))?;
//! let removed = masked.mask.len() as f64 / (1_000.0 * 6.0);
//! assert!((removed - 0.2).abs() < 0.02);
//! // Every hole keeps its true value.
//! let (cell, truth) = &masked.mask.entries()[0];
//! assert!(masked.table.is_missing(cell.row, cell.col));
//! assert_eq!(table.value(cell.row, cell.col).as_ref(), Some(truth));
//!
//! // A seeded 80/10/10 split of the rows.
//! let split = random_split(table.num_rows(), Fractions::default(), 1);
//! let parts = split.apply(&masked.table)?;
//! assert_eq!(parts.train.num_rows(), 800);
//! # Ok::<(), rec_datasets::Error>(())
//! ```

pub mod adclick;
mod error;
pub mod general;
pub mod join;
pub mod missingness;
pub mod movielens;
pub mod split;
pub mod synthetic;
mod text;

use std::path::{Path, PathBuf};

pub use error::{Error, Result};

/// The environment variable that points at the shared data directory.
pub const DATA_ENV: &str = "RECIMPUTE_DATA";

/// The shared data directory (holding `ml-100k/` and `adclick/`): the directory named by the
/// environment variable [`DATA_ENV`] (`RECIMPUTE_DATA`) if it is set, else `../shared/data`
/// relative to the workspace root this crate was compiled in.
///
/// The fallback suits the workspace's own tests; a library user sets the variable or passes
/// explicit paths to the loaders. An absent directory is an error ([`Error::DataDirMissing`])
/// that says how to set it, so tests that need the data fail loudly rather than skip.
pub fn shared_data_dir() -> Result<PathBuf> {
    let (path, origin) = match std::env::var_os(DATA_ENV) {
        Some(dir) => (PathBuf::from(dir), format!("from ${DATA_ENV}")),
        None => (
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
            format!("<workspace>/../shared/data; set ${DATA_ENV} to the directory holding ml-100k/ and adclick/"),
        ),
    };
    if path.is_dir() {
        Ok(path.canonicalize().unwrap_or(path))
    } else {
        Err(Error::DataDirMissing { path, hint: origin })
    }
}
