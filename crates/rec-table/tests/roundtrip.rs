//! Tables with missing cells of every kind survive CSV and Parquet unchanged.
#![allow(clippy::unwrap_used, reason = "a test fails loudly on an unexpected error")]

use rec_table::{
    read_csv, read_parquet, read_table, write_csv, write_parquet, write_table, ColumnKind, ColumnSpec, CsvOptions,
    ParquetOptions, Schema, Table, Value,
};

fn every_kind() -> Table {
    let schema = Schema::try_new(vec![
        ColumnSpec::new("user_id", ColumnKind::Id),
        ColumnSpec::new("age", ColumnKind::Numeric),
        ColumnSpec::new("gender", ColumnKind::Categorical),
        ColumnSpec::new("genres", ColumnKind::SetValued),
        ColumnSpec::new("title", ColumnKind::Text),
    ])
    .unwrap();
    let s = |x: &str| Some(Value::Category(x.into()));
    let t = |x: &str| Some(Value::Text(x.into()));
    let set = |xs: &[&str]| Some(Value::Set(xs.iter().map(|x| x.to_string()).collect()));
    Table::from_rows(
        schema,
        vec![
            vec![s("u1"), Some(Value::Number(24.0)), s("M"), set(&["Action", "Comedy"]), t("Toy Story")],
            vec![s("u2"), None, s("F"), set(&[]), t("Amélie, \"le fabuleux\"")],
            vec![s("u3"), Some(Value::Number(-0.125)), None, None, None],
            vec![None, Some(Value::Number(1e-7)), s("Non-Binary"), set(&["Drama"]), t("line\nbreak")],
        ],
    )
    .unwrap()
}

#[test]
fn csv_round_trip_keeps_values_and_holes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.csv");
    let table = every_kind();
    write_csv(&table, &path, &CsvOptions::default()).unwrap();
    let opts = CsvOptions::default().with_schema(table.schema().clone());
    let back = read_csv(&path, &opts).unwrap();
    assert_eq!(back, table);
    assert_eq!(back.missing_per_column(), [1, 1, 1, 1, 1]);
    // No temporary file is left beside the output.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn parquet_round_trip_keeps_values_holes_and_kinds() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.parquet");
    let table = every_kind();
    write_parquet(&table, &path).unwrap();
    // No schema given: the kinds come back from the file's metadata.
    let back = read_parquet(&path, &ParquetOptions::default()).unwrap();
    assert_eq!(back, table);
    assert_eq!(back.value(1, 3), Some(Value::Set(vec![])));
    assert_eq!(back.value(2, 3), None);
}

#[test]
fn format_follows_extension() {
    let dir = tempfile::tempdir().unwrap();
    let table = every_kind();
    for name in ["a.csv", "a.tsv", "a.parquet"] {
        let path = dir.path().join(name);
        write_table(&table, &path, &CsvOptions::default()).unwrap();
        let back = read_table(&path, &CsvOptions::default().with_schema(table.schema().clone())).unwrap();
        assert_eq!(back, table, "{name}");
    }
    let err = write_table(&table, dir.path().join("a.xlsx"), &CsvOptions::default()).unwrap_err();
    assert!(err.to_string().contains("unknown table format"), "{err}");
}

#[test]
fn inferred_kinds_on_a_csv_without_schema() {
    let csv = b"id,age,gender,genres,click\n1,22.0,,Action|Drama,1\n2,,Male,Comedy,0\n3,41,Female,[],1\n";
    let table = rec_table::read_csv_bytes(csv, "x.csv", &CsvOptions::default()).unwrap();
    let kinds: Vec<_> = table.schema().columns().iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        [ColumnKind::Id, ColumnKind::Numeric, ColumnKind::Categorical, ColumnKind::SetValued, ColumnKind::Numeric]
    );
    assert_eq!(table.missing_cells().count(), 2);
    assert_eq!(table.complete_rows(), vec![2]);
    let forced =
        rec_table::read_csv_bytes(csv, "x.csv", &CsvOptions::default().with_kind("click", ColumnKind::Categorical))
            .unwrap();
    assert_eq!(forced.value(0, 4), Some(Value::Category("1".into())));
}

#[test]
fn latin1_files_decode_accents() {
    let bytes = b"title\nAm\xe9lie\n";
    let utf8 = rec_table::read_csv_bytes(bytes, "l.csv", &CsvOptions::default());
    let err = utf8.unwrap_err().to_string();
    assert!(err.contains("l.csv: line 2") && err.contains("invalid UTF-8"), "{err}");
    let table =
        rec_table::read_csv_bytes(bytes, "l.csv", &CsvOptions::default().with_encoding(rec_table::Encoding::Latin1))
            .unwrap();
    assert_eq!(table.value(0, 0), Some(Value::Category("Amélie".into())));
}

/// A Parquet file as other tools write it: `Int64` nanosecond timestamps beyond 2^53, an
/// `Int32` count, a `Float32` price, a dictionary-encoded string and a boolean, with gaps.
fn foreign_parquet(path: &std::path::Path) {
    use rec_table::arrow::array::{ArrayRef, BooleanArray, DictionaryArray, Float32Array, Int32Array, Int64Array};
    use rec_table::arrow::datatypes::Int8Type;
    use std::sync::Arc;
    let ts: ArrayRef = Arc::new(Int64Array::from(vec![
        Some(1_700_000_000_123_456_789),
        Some(1_700_000_000_123_456_790),
        None,
        Some(-9_007_199_254_740_993),
    ]));
    let count: ArrayRef = Arc::new(Int32Array::from(vec![Some(3), None, Some(5), Some(5)]));
    let price: ArrayRef = Arc::new(Float32Array::from(vec![Some(0.1f32), Some(2.5), None, Some(7.25)]));
    let city: ArrayRef = Arc::new(
        vec![Some("Paris"), None, Some("Lyon"), Some("Paris")].into_iter().collect::<DictionaryArray<Int8Type>>(),
    );
    let member: ArrayRef = Arc::new(BooleanArray::from(vec![Some(true), Some(false), None, Some(true)]));
    let batch = rec_table::arrow::record_batch::RecordBatch::try_from_iter([
        ("ts", ts),
        ("count", count),
        ("price", price),
        ("city", city),
        ("member", member),
    ])
    .unwrap();
    let mut w =
        parquet::arrow::ArrowWriter::try_new(std::fs::File::create(path).unwrap(), batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

fn stored(path: &std::path::Path) -> rec_table::arrow::record_batch::RecordBatch {
    let file = std::fs::File::open(path).unwrap();
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
}

#[test]
fn parquet_patched_writes_keep_stored_types_and_every_digit() {
    use rec_table::{write_parquet_patched, Cell};
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in.parquet"), dir.path().join("out.parquet"));
    foreign_parquet(&input);
    let table = read_parquet(&input, &ParquetOptions::default()).unwrap();
    assert_eq!(table.missing_per_column(), [1, 1, 1, 1, 1]);
    // Through f64 the two timestamps would be one number.
    assert_eq!(table.value(0, 0), table.value(1, 0));
    let fills = [
        (Cell { row: 2, col: 0 }, Value::Number(1_700_000_000_000_000_000.0)),
        (Cell { row: 1, col: 1 }, Value::Number(4.0)),
        // Not a float32 value: rounded to the column's precision, the column stays Float32.
        (Cell { row: 2, col: 2 }, Value::Number(0.3)),
        (Cell { row: 1, col: 3 }, Value::Category("Lyon".into())),
        (Cell { row: 2, col: 4 }, Value::Category("false".into())),
    ];
    let filled = table.with_filled(fills.clone()).unwrap();
    let retyped = write_parquet_patched(&input, &filled, None, &|r, c| table.is_missing(r, c), &output).unwrap();
    assert!(retyped.is_empty(), "{retyped:?}");
    let (was, now) = (stored(&input), stored(&output));
    // Same Arrow types, column by column; the kinds travel in the metadata.
    for (a, b) in was.schema().fields().iter().zip(now.schema().fields()) {
        assert_eq!((a.name(), a.data_type()), (b.name(), b.data_type()));
        assert!(b.metadata().contains_key(rec_table::KIND_METADATA_KEY));
    }
    let ts = now.column(0).as_any().downcast_ref::<rec_table::arrow::array::Int64Array>().unwrap();
    assert_eq!(
        ts.values().to_vec(),
        [1_700_000_000_123_456_789, 1_700_000_000_123_456_790, 1_700_000_000_000_000_000, -9_007_199_254_740_993]
    );
    let price = now.column(2).as_any().downcast_ref::<rec_table::arrow::array::Float32Array>().unwrap();
    assert_eq!((price.value(0), price.value(2)), (0.1f32, 0.3f32));
    // Every observed cell is the stored one, every gap holds its fill (the price at float32's
    // precision).
    let back = read_parquet(&output, &ParquetOptions::default()).unwrap();
    let expected = table
        .with_filled(fills.iter().cloned().map(|(c, v)| match v {
            Value::Number(x) if c.col == 2 => (c, Value::Number(f64::from(x as f32))),
            v => (c, v),
        }))
        .unwrap();
    assert_eq!(back, expected);
    // A fraction in the integer column cannot be stored there: that column alone takes f64.
    let fractional = table.with_filled([(Cell { row: 1, col: 1 }, Value::Number(4.5))]).unwrap();
    let retyped = write_parquet_patched(&input, &fractional, None, &|r, c| table.is_missing(r, c), &output).unwrap();
    assert_eq!(retyped, ["count"]);
    let now = stored(&output);
    assert_eq!(now.schema().field(1).data_type(), &rec_table::arrow::datatypes::DataType::Float64);
    assert_eq!(now.schema().field(0).data_type(), &rec_table::arrow::datatypes::DataType::Int64);
    // Rows kept by case-wise deletion: the stored rows are taken in that order.
    let kept = filled.take_rows(&[3, 0]).unwrap();
    write_parquet_patched(&input, &kept, Some(&[3, 0]), &|_, _| false, &output).unwrap();
    let ts = stored(&output);
    let ts = ts.column(0).as_any().downcast_ref::<rec_table::arrow::array::Int64Array>().unwrap();
    assert_eq!(ts.values().to_vec(), [-9_007_199_254_740_993, 1_700_000_000_123_456_789]);
    let err = write_parquet_patched(&input, &kept, Some(&[3, 9]), &|_, _| false, &output).unwrap_err();
    assert!(err.to_string().contains('9'), "{err}");
}
