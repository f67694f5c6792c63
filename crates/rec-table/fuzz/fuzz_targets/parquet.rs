//! Reads arbitrary bytes as a Parquet file: a table or an error that names the file, never a
//! panic.
//!
//! Run with `cargo +nightly fuzz run parquet` from `crates/rec-table`; seed the corpus with
//! Parquet files (`recimpute convert x.csv corpus/parquet/x.parquet`), since random bytes
//! rarely get past the footer check. `tests/hostile_bytes.rs` damages real files on every
//! `cargo test`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rec_table::{read_parquet, ParquetOptions};

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("rec-table-fuzz-{}.parquet", std::process::id()));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    if let Err(e) = read_parquet(&path, &ParquetOptions::default()) {
        assert!(e.to_string().contains(&*path.to_string_lossy()), "{e}");
    }
});
