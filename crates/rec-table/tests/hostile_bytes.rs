//! Fuzz-style properties of the two readers (issue #19): whatever bytes a file holds, reading it
//! gives a table or an error that names the file, never a panic. Random bytes, CSV-shaped noise
//! (quotes, delimiters, line ends, BOMs, Latin-1, missing-value tokens) and real Parquet files
//! cut short or with bytes overwritten. The same inputs drive the cargo-fuzz targets in
//! `crates/rec-table/fuzz` for longer runs.
#![allow(clippy::unwrap_used, reason = "tests unwrap to fail loudly")]

use std::path::Path;

use proptest::prelude::*;
use rec_table::{
    read_csv_bytes, read_parquet, write_parquet, ColumnKind, ColumnSpec, CsvOptions, ParquetOptions, Schema, Table,
    Value,
};

/// Pieces that CSV files and their failures are made of.
fn csv_piece() -> impl Strategy<Value = Vec<u8>> {
    prop::sample::select(vec![
        &b","[..],
        b";",
        b"\t",
        b"|",
        b"::",
        b"\"",
        b"\"\"",
        b"\n",
        b"\r\n",
        b"\r",
        b"a",
        b"user_id",
        b"42",
        b"-2.5e3",
        b"1e309",
        b"inf",
        b"NaN",
        b"NA",
        b"",
        b" ",
        b"[x|y]",
        b"\xef\xbb\xbf",
        b"\xe9",
        b"\x00",
        b"\xff\xfe",
    ])
    .prop_map(<[u8]>::to_vec)
}

fn csv_noise() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(csv_piece(), 0..80).prop_map(|p| p.concat())
}

/// Either uniform random bytes or CSV-shaped noise.
fn hostile_csv() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![prop::collection::vec(any::<u8>(), 0..400), csv_noise()]
}

/// Asserts the outcome of reading `source`: a table, or an error whose message names it.
fn named_or_ok(result: rec_table::Result<Table>, source: &str) -> Result<(), TestCaseError> {
    if let Err(e) = result {
        let msg = e.to_string();
        prop_assert!(msg.contains(source), "the error does not name {source}: {msg}");
    }
    Ok(())
}

/// A small Parquet file of every kind recimpute stores, with gaps.
fn parquet_file(dir: &Path) -> Vec<u8> {
    let schema = Schema::try_new(vec![
        ColumnSpec::new("age", ColumnKind::Numeric),
        ColumnSpec::new("gender", ColumnKind::Categorical),
        ColumnSpec::new("genres", ColumnKind::SetValued),
        ColumnSpec::new("title", ColumnKind::Text),
    ])
    .unwrap();
    let rows = (0..40)
        .map(|i| {
            vec![
                (i % 7 != 0).then(|| Value::Number(f64::from(i) * 1.5)),
                (i % 5 != 0).then(|| Value::Category(if i % 2 == 0 { "F" } else { "M" }.into())),
                (i % 3 != 0).then(|| Value::Set(vec!["Action".into(), format!("g{}", i % 4)])),
                Some(Value::Text(format!("title {i}"))),
            ]
        })
        .collect();
    let path = dir.join("base.parquet");
    write_parquet(&Table::from_rows(schema, rows).unwrap(), &path).unwrap();
    std::fs::read(path).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes_read_as_csv_give_a_table_or_an_error_naming_the_file(bytes in hostile_csv()) {
        named_or_ok(read_csv_bytes(&bytes, "fuzz.csv", &CsvOptions::default()), "fuzz.csv")?;
    }

    #[test]
    fn csv_noise_read_with_each_delimiter_gives_a_table_or_a_named_error(
        bytes in csv_noise(),
        delimiter in prop::sample::select(vec![",", ";", "\t", "|", "::"]),
    ) {
        let opts = CsvOptions::default().with_delimiter(rec_table::Delimiter::parse(delimiter).unwrap());
        named_or_ok(read_csv_bytes(&bytes, "noise.csv", &opts), "noise.csv")?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn damaged_parquet_files_give_a_table_or_an_error_naming_the_file(
        keep in 0.0f64..=1.0,
        writes in prop::collection::vec((0.0f64..1.0, any::<u8>()), 0..6),
        cut in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = parquet_file(dir.path());
        for (at, b) in writes {
            let i = ((bytes.len() - 1) as f64 * at) as usize;
            bytes[i] = b;
        }
        if cut {
            bytes.truncate((bytes.len() as f64 * keep) as usize);
        }
        let path = dir.path().join("damaged.parquet");
        std::fs::write(&path, &bytes).unwrap();
        named_or_ok(read_parquet(&path, &ParquetOptions::default()), "damaged.parquet")?;
    }
}

#[test]
fn the_undamaged_file_reads_back() {
    // The damaged-file property starts from a file that is itself readable.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ok.parquet"), parquet_file(dir.path())).unwrap();
    let t = read_parquet(dir.path().join("ok.parquet"), &ParquetOptions::default()).unwrap();
    assert_eq!(t.num_rows(), 40);
    assert_eq!(t.schema().len(), 4);
}
