//! `CsvBatches` reads a CSV file a batch at a time as `read_csv` reads it whole: the same
//! cells, the same text written back, the same errors with the file's line numbers, whatever
//! the batch size and wherever the reader's 64 KiB blocks cut the file.
#![allow(clippy::unwrap_used, reason = "tests unwrap to fail loudly")]

use std::path::Path;

use rec_table::{read_csv, write_csv_patched, CsvBatches, CsvOptions, Delimiter, Encoding, Table};

/// Reads `path` whole and in batches of each size; checks cells and written text agree.
fn check_like_whole(path: &Path, opts: &CsvOptions) {
    let whole = read_csv(path, opts).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("whole.csv");
    write_csv_patched(path, opts, &whole, None, &|_, _| false, &out).unwrap();
    let whole_text = std::fs::read(&out).unwrap();
    for batch_rows in [1, 7, 500, 1_000_000] {
        let batches = CsvBatches::open(path, opts, whole.schema().clone(), batch_rows).unwrap();
        let mut text = batches.header_bytes().unwrap();
        let mut row = 0;
        for batch in batches {
            let batch = batch.unwrap();
            let table: &Table = batch.table();
            assert!(table.num_rows() <= batch_rows && table.num_rows() > 0);
            for r in 0..table.num_rows() {
                for c in 0..table.num_columns() {
                    assert_eq!(
                        table.value(r, c),
                        whole.value(row + r, c),
                        "batches of {batch_rows}: row {}, column {c}",
                        row + r
                    );
                }
            }
            text.extend(batch.patched_bytes(table, None, &|_, _| false, opts, row).unwrap());
            row += table.num_rows();
        }
        assert_eq!(row, whole.num_rows(), "batches of {batch_rows}");
        assert!(text == whole_text, "batches of {batch_rows}: the text written differs");
    }
}

/// About 3,000 rows (well past one 64 KiB block) with quoted delimiters and line breaks,
/// doubled quotes, missing cells and numbers spelled several ways.
fn rows(delimiter: &str, accents: bool) -> String {
    let mut text = format!("id{d}age{d}city{d}note\n", d = delimiter);
    for i in 0..3000 {
        let age = match i % 5 {
            0 => String::new(),
            1 => format!("{}.0", 20 + i % 50),
            2 => "NA".into(),
            _ => (20 + i % 50).to_string(),
        };
        let city = if accents && i % 4 == 0 { "Besançon".to_string() } else { format!("c{}", i % 9) };
        let note = match i % 6 {
            0 => format!("\"two{d}parts\"", d = delimiter),
            1 => "\"line\nbreak\"".into(),
            2 => "\"say \"\"hi\"\"\"".into(),
            3 => String::new(),
            _ => format!("n{i}"),
        };
        text.push_str(&format!("{i}{d}{age}{d}{city}{d}{note}\n", d = delimiter));
    }
    text
}

#[test]
fn batches_read_and_write_what_the_whole_file_gives() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.csv");
    std::fs::write(&path, rows(",", true)).unwrap();
    check_like_whole(&path, &CsvOptions::default());

    // A byte-order mark, and CRLF line ends.
    let bom = dir.path().join("bom.csv");
    let text = format!("\u{feff}{}", rows(",", true).replace('\n', "\r\n"));
    std::fs::write(&bom, text).unwrap();
    check_like_whole(&bom, &CsvOptions::default());

    // `::` as in MovieLens' .dat files, in Latin-1: a delimiter may straddle two blocks.
    let dat = dir.path().join("t.dat");
    let latin1: Vec<u8> = rows("::", true).chars().map(|c| u8::try_from(u32::from(c)).unwrap()).collect();
    std::fs::write(&dat, latin1).unwrap();
    let opts = CsvOptions::default().with_delimiter(Delimiter::parse("::").unwrap()).with_encoding(Encoding::Latin1);
    check_like_whole(&dat, &opts);
    // Shift the blocks' cut points by one byte at a time over a delimiter's length.
    for pad in 1..4 {
        let padded = dir.path().join(format!("pad{pad}.dat"));
        let text = rows("::", false).replacen("id::", &format!("{}::", "i".repeat(pad + 1)), 1);
        std::fs::write(&padded, text).unwrap();
        check_like_whole(&padded, &CsvOptions::default().with_delimiter(Delimiter::parse("::").unwrap()));
    }

    // No header: columns c0, c1, …
    let bare = dir.path().join("bare.csv");
    std::fs::write(&bare, "1,a\n2,\n,c\n").unwrap();
    check_like_whole(&bare, &CsvOptions::default().with_header(false));
}

#[test]
fn batch_errors_name_the_lines_the_whole_read_names() {
    let dir = tempfile::tempdir().unwrap();
    let good = rows(",", false);
    let whole_schema = read_csv_text(&good, dir.path()).schema().clone();
    let drain = |path: &Path, opts: &CsvOptions| -> String {
        let mut batches = CsvBatches::open(path, opts, whole_schema.clone(), 100).unwrap();
        batches.find_map(Result::err).map(|e| e.to_string()).unwrap_or_default()
    };

    // A word in the numeric column near the end, a row with a field too many, a quote never
    // closed: the streamed error is the whole read's, line number included.
    let path = dir.path().join("bad.csv");
    let opts = CsvOptions::default().with_schema(whole_schema.clone());
    for (bad, words) in [
        (format!("{good}9998,old,c1,x\n9999,30,c2,y\n"), ["line 3502", "age", "old"]),
        (good.replacen("7,", "7,extra,", 1), ["line 10", "5 fields", "4"]),
        (format!("{good}9999,30,c1,\"open\n"), ["line 3502", "never closed", "quote"]),
    ] {
        std::fs::write(&path, &bad).unwrap();
        let whole = read_csv(&path, &opts).unwrap_err().to_string();
        assert!(words.iter().all(|w| whole.contains(w)), "{whole}");
        assert_eq!(drain(&path, &opts), whole);
    }

    // The header must be the schema's.
    std::fs::write(&path, good.replacen("city", "town", 1)).unwrap();
    let err = CsvBatches::open(&path, &opts, whole_schema.clone(), 10).err().unwrap().to_string();
    assert!(err.contains("town") && err.contains("city"), "{err}");
    assert!(CsvBatches::open(&path, &opts, whole_schema, 0).is_err(), "zero rows a batch");
}

fn read_csv_text(text: &str, dir: &Path) -> Table {
    let path = dir.join("schema.csv");
    std::fs::write(&path, text).unwrap();
    read_csv(&path, &CsvOptions::default()).unwrap()
}
