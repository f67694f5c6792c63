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
