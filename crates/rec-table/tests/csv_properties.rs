//! Properties of the CSV path on generated tables: whatever the labels hold (delimiters,
//! quotes, spaces), the sniffer finds the delimiter a table was written with, and the patched
//! writer keeps every cell it is not told to replace exactly as the file has it.
#![allow(clippy::unwrap_used, reason = "tests unwrap to fail loudly")]

use proptest::prelude::*;
use rec_table::{
    csv_bytes, read_csv, sniff_delimiter, write_csv_patched, Cell, ColumnKind, ColumnSpec, CsvOptions, Delimiter,
    Schema, Table, Value,
};

/// Labels that stress quoting: delimiters (colons too, for `::`), quotes and spaces inside,
/// never empty and never a missing-value token.
fn label() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-z:][a-z ,;|:\"]{0,6}[a-z:]").unwrap()
}

/// Every delimiter the sniffer knows.
fn delimiter() -> impl Strategy<Value = Delimiter> {
    prop::sample::select(vec![",", ";", "\t", "|", "::"]).prop_map(|d| Delimiter::parse(d).unwrap())
}

/// A table of 2-4 categorical columns and 2-12 rows, with gaps.
fn table() -> impl Strategy<Value = Table> {
    (2usize..5, 2usize..13).prop_flat_map(|(cols, rows)| {
        proptest::collection::vec(proptest::collection::vec(proptest::option::weighted(0.8, label()), cols), rows)
            .prop_map(move |cells| {
                let schema = Schema::try_new(
                    (0..cols).map(|c| ColumnSpec::new(format!("c{c}"), ColumnKind::Categorical)).collect(),
                )
                .unwrap();
                let rows = cells.into_iter().map(|r| r.into_iter().map(|v| v.map(Value::Category)).collect()).collect();
                Table::from_rows(schema, rows).unwrap()
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn the_sniffer_finds_the_delimiter_a_table_was_written_with(t in table(), d in delimiter()) {
        let opts = CsvOptions { delimiter: d.clone(), ..CsvOptions::default() };
        let bytes = csv_bytes(&t, &opts).unwrap();
        prop_assert_eq!(sniff_delimiter(&bytes), Some(d), "{}", String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn tables_read_back_as_written_with_any_delimiter(t in table(), d in delimiter()) {
        let opts = CsvOptions::default().with_schema(t.schema().clone()).with_delimiter(d);
        let bytes = csv_bytes(&t, &opts).unwrap();
        let read = rec_table::read_csv_bytes(&bytes, "t.csv", &opts).unwrap();
        prop_assert_eq!(read, t, "{}", String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn patched_writes_keep_the_cells_they_do_not_replace(t in table(), fill in label(), d in delimiter()) {
        let dir = tempfile::tempdir().unwrap();
        let (input, output) = (dir.path().join("in.csv"), dir.path().join("out.csv"));
        // The kinds are given: labels with `|` would otherwise be read as sets.
        let opts = CsvOptions::default().with_schema(t.schema().clone()).with_delimiter(d);
        std::fs::write(&input, csv_bytes(&t, &opts).unwrap()).unwrap();
        let read = read_csv(&input, &opts).unwrap();
        // Replacing nothing writes the file back byte for byte.
        write_csv_patched(&input, &opts, &read, None, &|_, _| false, &output).unwrap();
        prop_assert_eq!(std::fs::read(&output).unwrap(), std::fs::read(&input).unwrap());
        // Filling every gap changes exactly the gaps.
        let gaps: Vec<Cell> = read.missing_cells().collect();
        let filled = read.with_filled(gaps.iter().map(|&c| (c, Value::Category(fill.clone())))).unwrap();
        write_csv_patched(&input, &opts, &filled, None, &|r, c| read.is_missing(r, c), &output).unwrap();
        prop_assert_eq!(read_csv(&output, &opts).unwrap(), filled);
    }
}
