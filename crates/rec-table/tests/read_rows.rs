//! `read_table_rows` reads some rows of a CSV or Parquet file without the rest: the same cells
//! as the whole read's `take_rows` (kinds inferred from the kept rows), the same record errors
//! wherever they sit in the file, and a clear error for rows that cannot be picked.
#![allow(clippy::unwrap_used, reason = "tests unwrap to fail loudly")]

use std::path::Path;

use rec_table::{read_table, read_table_rows, write_parquet, ColumnKind, CsvOptions, Delimiter, Encoding};

/// About 3,000 rows (past one 64 KiB read block) with quoted delimiters and line breaks,
/// doubled quotes, missing cells and numbers spelled several ways.
fn rows(delimiter: &str) -> String {
    let mut text = format!("id{d}age{d}city{d}note\n", d = delimiter);
    for i in 0..3000 {
        let age = match i % 5 {
            0 => String::new(),
            1 => format!("{}.0", 20 + i % 50),
            _ => (20 + i % 50).to_string(),
        };
        let city = if i % 4 == 0 { "Besançon".to_string() } else { format!("c{}", i % 9) };
        let note = match i % 6 {
            0 => format!("\"two{d}parts\"", d = delimiter),
            1 => "\"line\nbreak\"".into(),
            2 => "\"say \"\"hi\"\"\"".into(),
            3 => String::new(),
            _ => format!("n{}", i % 700),
        };
        text.push_str(&format!("{i}{d}{age}{d}{city}{d}{note}\n", d = delimiter));
    }
    text
}

/// Picks of every shape: none, the first, the last, a few, every seventh, all.
fn picks(n: usize) -> Vec<Vec<usize>> {
    let few: std::collections::BTreeSet<usize> = [1, 3, 4, 1500, n - 2].into_iter().filter(|&r| r < n).collect();
    vec![vec![], vec![0], vec![n - 1], few.into_iter().collect(), (0..n).step_by(7).collect(), (0..n).collect()]
}

fn check_like_whole(path: &Path, opts: &CsvOptions) {
    let whole = read_table(path, opts).unwrap();
    let n = whole.num_rows();
    for rows in picks(n) {
        let (table, count) = read_table_rows(path, opts, |count| {
            assert_eq!(count, n, "pick gets the row count");
            rows.clone()
        })
        .unwrap();
        assert_eq!(count, n);
        // A handful of rows may infer other kinds than the whole file; the kinds of the whole
        // file make the comparison exact.
        let forced =
            whole.schema().columns().iter().fold(opts.clone(), |o, spec| o.with_kind(spec.name.clone(), spec.kind));
        let (forced, _) = read_table_rows(path, &forced, |_| rows.clone()).unwrap();
        assert_eq!(forced, whole.take_rows(&rows).unwrap(), "{}: {} rows", path.display(), rows.len());
        if rows.len() > 100 {
            assert_eq!(table, forced, "{}: kinds inferred from {} rows", path.display(), rows.len());
        }
    }
}

#[test]
fn the_picked_rows_are_the_whole_reads_rows() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("t.csv");
    std::fs::write(&csv, rows(",")).unwrap();
    check_like_whole(&csv, &CsvOptions::default());

    // A byte-order mark and CRLF; `::` in Latin-1 as in MovieLens' .dat files.
    let bom = dir.path().join("bom.csv");
    std::fs::write(&bom, format!("\u{feff}{}", rows(",").replace('\n', "\r\n"))).unwrap();
    check_like_whole(&bom, &CsvOptions::default());
    let dat = dir.path().join("t.dat");
    let latin1: Vec<u8> = rows("::").chars().map(|c| u8::try_from(u32::from(c)).unwrap()).collect();
    std::fs::write(&dat, latin1).unwrap();
    let opts = CsvOptions::default().with_delimiter(Delimiter::parse("::").unwrap()).with_encoding(Encoding::Latin1);
    check_like_whole(&dat, &opts);

    // No header.
    let bare = dir.path().join("bare.csv");
    std::fs::write(&bare, "1,a\n2,\n,c\n4,d\n").unwrap();
    check_like_whole(&bare, &CsvOptions::default().with_header(false));

    // Parquet, in row groups and batches smaller than the file.
    let parquet = dir.path().join("t.parquet");
    write_parquet(&read_table(&csv, &CsvOptions::default()).unwrap(), &parquet).unwrap();
    check_like_whole(&parquet, &CsvOptions::default());
}

#[test]
fn parquet_picks_across_the_readers_batches() {
    // The reader decodes 65,536 rows at a time: picks on both sides of each batch boundary.
    let dir = tempfile::tempdir().unwrap();
    let (csv, parquet) = (dir.path().join("big.csv"), dir.path().join("big.parquet"));
    let mut text = String::from("n,label\n");
    (0..140_000).for_each(|i| text.push_str(&format!("{i},l{}\n", i % 7)));
    std::fs::write(&csv, text).unwrap();
    write_parquet(&read_table(&csv, &CsvOptions::default()).unwrap(), &parquet).unwrap();
    let whole = read_table(&parquet, &CsvOptions::default()).unwrap();
    let rows = vec![0, 65_535, 65_536, 65_537, 131_071, 131_072, 139_999];
    let (table, count) = read_table_rows(&parquet, &CsvOptions::default(), |_| rows.clone()).unwrap();
    assert_eq!(count, 140_000);
    assert_eq!(table, whole.take_rows(&rows).unwrap());
}

#[test]
fn kinds_come_from_the_picked_rows_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.csv");
    // `age` holds one word, on the last row: the whole file reads it as labels.
    let mut text = String::from("age,city\n");
    (0..200).for_each(|i| text.push_str(&format!("{},c{}\n", 20 + i % 40, i % 3)));
    text.push_str("old,c1\n");
    std::fs::write(&path, &text).unwrap();
    let opts = CsvOptions::default();
    assert_eq!(read_table(&path, &opts).unwrap().schema().column("age").unwrap().kind, ColumnKind::Categorical);
    let (sample, _) = read_table_rows(&path, &opts, |n| (0..n - 1).collect()).unwrap();
    assert_eq!(sample.schema().column("age").unwrap().kind, ColumnKind::Numeric);
    // Forced, the word outside the picked rows is never parsed either.
    let forced = opts.clone().with_kind("age", ColumnKind::Numeric);
    let (sample, count) = read_table_rows(&path, &forced, |n| (0..n - 1).step_by(2).collect()).unwrap();
    assert_eq!((sample.num_rows(), count), (100, 201));
    // Picked, it is: the error names the file, line and column.
    let err = read_table_rows(&path, &forced, |n| vec![n - 1]).unwrap_err().to_string();
    assert!(err.contains("t.csv") && err.contains("line 202") && err.contains("age") && err.contains("old"), "{err}");
}

#[test]
fn record_errors_anywhere_and_bad_picks_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.csv");
    let good = rows(",");
    // A field too many or a quote never closed, far from the one row picked: the count pass
    // reads every record, so the whole read's error comes back, line and all.
    for bad in [good.replacen("2900,", "2900,extra,", 1), format!("{good}9999,30,c1,\"open\n")] {
        std::fs::write(&path, &bad).unwrap();
        let whole = read_table(&path, &CsvOptions::default()).unwrap_err().to_string();
        let picked = read_table_rows(&path, &CsvOptions::default(), |_| vec![0]).unwrap_err().to_string();
        assert_eq!(picked, whole);
    }
    std::fs::write(&path, &good).unwrap();
    let opts = CsvOptions::default();
    let err = read_table_rows(&path, &opts, |_| vec![5, 5]).unwrap_err().to_string();
    assert!(err.contains("bad.csv") && err.contains("ascending"), "{err}");
    let err = read_table_rows(&path, &opts, |_| vec![2, 1]).unwrap_err().to_string();
    assert!(err.contains("ascending"), "{err}");
    let err = read_table_rows(&path, &opts, |n| vec![n]).unwrap_err().to_string();
    assert!(err.contains("row 3000") && err.contains("has 3000 rows"), "{err}");
    let parquet = dir.path().join("t.parquet");
    write_parquet(&read_table(&path, &opts).unwrap(), &parquet).unwrap();
    let err = read_table_rows(&parquet, &opts, |n| vec![0, n + 4]).unwrap_err().to_string();
    assert!(err.contains("t.parquet") && err.contains("row 3004"), "{err}");
    // An empty file and one with only a header.
    std::fs::write(&path, "").unwrap();
    assert!(read_table_rows(&path, &opts, |_| vec![]).unwrap_err().to_string().contains("bad.csv"));
    std::fs::write(&path, "a,b\n").unwrap();
    let (table, count) = read_table_rows(&path, &opts, |_| vec![]).unwrap();
    assert_eq!((table.num_rows(), table.num_columns(), count), (0, 2, 0));
}
