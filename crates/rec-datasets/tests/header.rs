//! `general::read_header`: the column names of a CSV or Parquet file, read from the first line
//! or the footer only.
#![allow(clippy::unwrap_used, reason = "a test fails loudly on an unexpected error")]

use rec_datasets::general::read_header;
use rec_table::{ColumnKind, ColumnSpec, CsvOptions, Delimiter, Schema, Table, Value};

#[test]
fn csv_header_is_the_first_line_in_the_files_delimiter() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.csv");
    // The rows after the header do not parse (a short row, a stray quote): only line 1 is read.
    std::fs::write(&path, "user id;age;city\r\n1;30\n2;\"41;Oslo\n").unwrap();
    let opts = CsvOptions { delimiter: Delimiter::Byte(b';'), ..Default::default() };
    assert_eq!(read_header(&path, &opts).unwrap(), ["user id", "age", "city"]);
    // A header-only file without a final newline.
    std::fs::write(&path, "a,b").unwrap();
    assert_eq!(read_header(&path, &CsvOptions::default()).unwrap(), ["a", "b"]);
}

#[test]
fn parquet_header_comes_from_the_footer_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.parquet");
    let schema = Schema::try_new(vec![
        ColumnSpec::new("age", ColumnKind::Numeric),
        ColumnSpec::new("city", ColumnKind::Categorical),
    ])
    .unwrap();
    let rows =
        (0..2000).map(|i| vec![Some(Value::Number(f64::from(i))), Some(Value::Category(format!("c{i}")))]).collect();
    rec_table::write_parquet(&Table::from_rows(schema, rows).unwrap(), &path).unwrap();
    assert_eq!(read_header(&path, &CsvOptions::default()).unwrap(), ["age", "city"]);

    // Damage the first data page (just after the leading magic), leave the footer intact: the
    // table no longer reads, its header still does, so no row group was decoded for it.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[4..64].fill(0xff);
    std::fs::write(&path, &bytes).unwrap();
    assert!(rec_table::read_parquet(&path, &Default::default()).is_err());
    assert_eq!(read_header(&path, &CsvOptions::default()).unwrap(), ["age", "city"]);
}

#[test]
fn a_file_that_is_not_parquet_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.parquet");
    std::fs::write(&path, "age,city\n30,Oslo\n").unwrap();
    let message = read_header(&path, &CsvOptions::default()).unwrap_err().to_string();
    assert!(message.contains("broken.parquet"), "{message}");
}
