//! The table core of recimpute: typed tables over Apache Arrow whose nulls are missing cells,
//! CSV and Parquet input/output, and the estimator traits every imputer and recommender of the
//! workspace implements.
//!
//! - [`Table`] wraps an Arrow [`RecordBatch`](arrow::record_batch::RecordBatch) with a
//!   [`Schema`] of named columns, each of a [`ColumnKind`]: numeric, categorical, set-valued,
//!   text or id. A null is a missing cell.
//! - [`read_csv`] / [`read_parquet`] infer kinds (overridable) and report bad input with the
//!   file, line and column; [`write_csv`] / [`write_parquet`] write atomically.
//!   [`ReadSettings`] is what a user says about a file (forced kinds, the texts that mean
//!   missing, the [`Delimiter`] and [`Encoding`], else sniffed by [`sniff_delimiter`] and
//!   [`Encoding::sniff`]).
//! - [`Imputer`] → [`FittedImputer`] and [`Recommender`] → [`FittedRecommender`] keep
//!   hyperparameters and fitted state apart: fit on a training table, apply to any table of the
//!   same schema. Imputers write through [`Table::with_filled`], which refuses to change an
//!   observed cell. The models that run on libtorch say where with one [`DeviceChoice`].
//!
//! ```
//! use rec_table::{read_csv_bytes, ColumnKind, CsvOptions, Value};
//!
//! let csv = b"age,gender,genres\n24,M,Action|Comedy\n,F,Drama|Romance\n31,,[]\n";
//! let table = read_csv_bytes(csv, "inline.csv", &CsvOptions::default())?;
//! let kinds: Vec<ColumnKind> = table.schema().columns().iter().map(|c| c.kind).collect();
//! assert_eq!(kinds, [ColumnKind::Numeric, ColumnKind::Categorical, ColumnKind::SetValued]);
//! assert_eq!(table.missing_per_column(), [1, 1, 0]);
//! assert_eq!(table.value(2, 2), Some(Value::Set(vec![])));
//! # Ok::<(), rec_table::Error>(())
//! ```

mod atomic;
mod csv_io;
mod csv_stream;
mod delimiter;
mod device;
mod error;
mod infer;
mod io;
mod parquet_io;
mod rng;
mod schema;
mod settings;
mod table;
mod traits;
mod value;

pub use atomic::{remove_stale_temps, temp_sibling, write_atomic, write_bytes_atomic};
pub use csv_io::{
    cell_text, csv_bytes, parse_cell, read_csv, read_csv_bytes, write_csv, write_csv_patched, CsvOptions, Encoding,
    EMPTY_SET,
};
pub use csv_stream::{read_csv_rows, CsvBatch, CsvBatches};
pub use delimiter::Delimiter;
pub use device::DeviceChoice;
pub use error::{Error, Result};
pub use infer::{infer_kind, InferOptions};
pub use io::{is_tsv, read_table, read_table_rows, write_like_input, write_table, Format};
pub use parquet_io::{
    parquet_column_names, read_parquet, read_parquet_batches, read_parquet_rows, restore_stored_types,
    stored_positions, stored_schema_of, table_from_stored, write_parquet, write_parquet_batches, write_parquet_patched,
    write_record_batches, ParquetBatches, ParquetOptions,
};
pub use rng::hold_global_rng;
pub use schema::{ColumnKind, ColumnSpec, Schema, KIND_METADATA_KEY};
pub use settings::{sniff_delimiter, ReadSettings, SNIFFED_DELIMITERS};
pub use table::{build_array, format_number, Cell, Table};
pub use traits::{
    BoxedFittedImputer, DynImputer, EstimatorError, FittedImputer, FittedRecommender, Imputer, Recommender, Task,
};
pub use value::Value;

/// Re-exported so that users need not depend on `arrow` at the same version themselves.
pub use arrow;
