//! Reads arbitrary bytes as a CSV file with the sniffed delimiter and inferred kinds: a table
//! or an error that names the file, never a panic; a table read writes back out.
//!
//! Run with `cargo +nightly fuzz run csv` from `crates/rec-table` (seed the corpus with any
//! CSV files). `tests/hostile_bytes.rs` checks the same property on every `cargo test`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rec_table::{csv_bytes, read_csv_bytes, CsvOptions};

fuzz_target!(|data: &[u8]| {
    let opts = CsvOptions::default();
    match read_csv_bytes(data, "fuzz.csv", &opts) {
        Ok(table) => {
            let _ = csv_bytes(&table, &opts);
        }
        Err(e) => assert!(e.to_string().contains("fuzz.csv"), "{e}"),
    }
});
