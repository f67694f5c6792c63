//! Bad input is a clear error naming where, never a panic.
#![allow(clippy::unwrap_used, reason = "a test fails loudly on an unexpected error")]

use rec_table::{read_csv, read_csv_bytes, Cell, ColumnKind, ColumnSpec, CsvOptions, Error, Schema, Table, Value};

fn err(bytes: &[u8], opts: &CsvOptions) -> String {
    read_csv_bytes(bytes, "data.csv", opts).unwrap_err().to_string()
}

#[test]
fn ragged_row_names_the_line() {
    let e = err(b"a,b\n1,2\n3\n4,5\n", &CsvOptions::default());
    assert!(e.contains("data.csv: line 3") && e.contains("1 fields but the header has 2"), "{e}");
}

#[test]
fn unclosed_quote_names_the_line_it_opened() {
    let e = err(b"a,b\n1,2\n3,\"oops\n4,5\n", &CsvOptions::default());
    assert!(e.contains("data.csv: line 3") && e.contains("never closed"), "{e}");
}

#[test]
fn invalid_utf8_names_line_and_field() {
    let e = err(b"a,b\n1,x\n2,\xff\xfe\n", &CsvOptions::default());
    assert!(e.contains("line 3") && e.contains("invalid UTF-8 in field 2"), "{e}");
}

#[test]
fn value_contradicting_declared_kind_names_line_and_column() {
    let opts = CsvOptions::default().with_kind("age", ColumnKind::Numeric);
    let e = err(b"age,g\n22,M\nold,F\n", &opts);
    assert!(e.contains("data.csv: line 3") && e.contains("column 'age'") && e.contains("\"old\""), "{e}");
}

#[test]
fn unknown_column_in_overrides_lists_the_real_ones() {
    let opts = CsvOptions::default().with_kind("agee", ColumnKind::Numeric);
    let e = err(b"age,g\n22,M\n", &opts);
    assert!(e.contains("unknown column 'agee'") && e.contains("age, g"), "{e}");
}

#[test]
fn empty_file_and_missing_file() {
    assert!(matches!(read_csv_bytes(b"", "e.csv", &CsvOptions::default()), Err(Error::EmptyFile { .. })));
    assert!(matches!(read_csv_bytes(b"\n\n", "e.csv", &CsvOptions::default()), Err(Error::EmptyFile { .. })));
    let e = read_csv("/nonexistent/dir/x.csv", &CsvOptions::default()).unwrap_err().to_string();
    assert!(e.contains("/nonexistent/dir/x.csv"), "{e}");
}

#[test]
fn header_that_disagrees_with_the_schema() {
    let schema = Schema::try_new(vec![ColumnSpec::new("a", ColumnKind::Numeric)]).unwrap();
    let e = err(b"b\n1\n", &CsvOptions::default().with_schema(schema));
    assert!(e.contains("schema mismatch") && e.contains("(b)") && e.contains("(a)"), "{e}");
}

#[test]
fn duplicate_header_is_an_error() {
    let e = err(b"a,a\n1,2\n", &CsvOptions::default());
    assert!(e.contains("line 1") && e.contains("'a' appears twice"), "{e}");
}

#[test]
fn schema_mismatch_between_fit_and_transform_names_the_column() {
    let a = Schema::try_new(vec![
        ColumnSpec::new("age", ColumnKind::Numeric),
        ColumnSpec::new("gender", ColumnKind::Categorical),
    ])
    .unwrap();
    let b = a.clone().with_kind("gender", ColumnKind::Text).unwrap();
    let e = a.ensure_same(&b, "transform").unwrap_err().to_string();
    assert!(e.contains("column 1 is 'gender' (text)") && e.contains("(categorical)"), "{e}");
}

#[test]
fn observed_cells_cannot_be_overwritten() {
    let schema = Schema::try_new(vec![ColumnSpec::new("age", ColumnKind::Numeric)]).unwrap();
    let t = Table::from_rows(schema, vec![vec![Some(Value::Number(3.0))], vec![None]]).unwrap();
    let e = t.with_filled([(Cell { row: 0, col: 0 }, Value::Number(4.0))]).unwrap_err();
    assert!(matches!(e, Error::ObservedCell { row: 0, .. }), "{e}");
    let e = t.with_filled([(Cell { row: 1, col: 0 }, Value::Category("x".into()))]).unwrap_err();
    assert!(e.to_string().contains("is not a number"), "{e}");
    let e = t.with_filled([(Cell { row: 1, col: 0 }, Value::Number(f64::NAN))]).unwrap_err();
    assert!(e.to_string().contains("column 'age'"), "{e}");
    let ok = t.with_filled([(Cell { row: 1, col: 0 }, Value::Number(5.0))]).unwrap();
    assert_eq!(ok.value(1, 0), Some(Value::Number(5.0)));
    assert_eq!(ok.value(0, 0), Some(Value::Number(3.0)));
}

#[test]
fn writing_a_value_that_cannot_be_read_back_is_refused() {
    let schema = Schema::try_new(vec![ColumnSpec::new("g", ColumnKind::Categorical)]).unwrap();
    let t = Table::from_rows(schema, vec![vec![Some(Value::Category("NA".into()))]]).unwrap();
    let e = rec_table::csv_bytes(&t, &CsvOptions::default()).unwrap_err().to_string();
    assert!(e.contains("missing-cell token"), "{e}");
}
