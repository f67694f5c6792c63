//! Format-agnostic reading and writing, chosen by file extension.

use std::path::Path;

use crate::csv_io::{read_csv, write_csv, write_csv_patched, CsvOptions};
use crate::delimiter::Delimiter;
use crate::error::{Error, Result};
use crate::parquet_io::{read_parquet, write_parquet, ParquetOptions};
use crate::table::Table;

/// A table file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma- (or otherwise) separated values.
    Csv,
    /// Apache Parquet.
    Parquet,
}

impl Format {
    /// The format of `path` from its extension (`.csv`, `.tsv`, `.txt`, `.dat`, `.parquet`,
    /// `.pq`).
    pub fn from_path(path: &Path) -> Result<Format> {
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("csv" | "tsv" | "txt" | "dat") => Ok(Format::Csv),
            Some("parquet" | "pq") => Ok(Format::Parquet),
            _ => Err(Error::InvalidInput(format!(
                "{}: unknown table format (expected a .csv, .tsv, .txt, .dat or .parquet file)",
                path.display()
            ))),
        }
    }
}

/// Reads a CSV or Parquet file; `.tsv` files use a tab delimiter. The kinds forced in `csv`
/// apply to Parquet files too.
pub fn read_table(path: impl AsRef<Path>, csv: &CsvOptions) -> Result<Table> {
    let path = path.as_ref();
    match Format::from_path(path)? {
        Format::Csv => read_csv(path, &tsv_aware(path, csv)),
        Format::Parquet => read_parquet(path, &ParquetOptions { kinds: csv.kinds.clone(), infer: csv.infer.clone() }),
    }
}

/// Writes a table as CSV or Parquet according to the extension of `path`, atomically.
pub fn write_table(table: &Table, path: impl AsRef<Path>, csv: &CsvOptions) -> Result<()> {
    let path = path.as_ref();
    match Format::from_path(path)? {
        Format::Csv => write_csv(table, path, &tsv_aware(path, csv)),
        Format::Parquet => write_parquet(table, path),
    }
}

/// Writes `table`, made from the file `input`, to `output`, atomically. When both are CSV
/// files of the same delimiter, only the cells `replace(row, column)` picks are written from
/// `table` and every other cell's text is copied from `input` (see [`write_csv_patched`]), so
/// observed cells come back exactly as they were read; otherwise the whole table is written as
/// [`write_table`] does. `rows` lists the rows of `input` that `table` holds (`None`: all).
pub fn write_like_input(
    input: &Path,
    opts: &CsvOptions,
    table: &Table,
    rows: Option<&[usize]>,
    replace: &dyn Fn(usize, usize) -> bool,
    output: &Path,
) -> Result<()> {
    let csv = |p: &Path| Format::from_path(p).ok() == Some(Format::Csv);
    if csv(input) && csv(output) && is_tsv(input) == is_tsv(output) {
        write_csv_patched(input, &tsv_aware(input, opts), table, rows, replace, output)
    } else {
        write_table(table, output, opts)
    }
}

/// Whether `path` names a tab-separated file (extension `.tsv`, any case), which is read and
/// written with a tab whatever the options' delimiter.
pub fn is_tsv(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("tsv"))
}

fn tsv_aware(path: &Path, csv: &CsvOptions) -> CsvOptions {
    let mut opts = csv.clone();
    if is_tsv(path) {
        opts.delimiter = Delimiter::Byte(b'\t');
    }
    opts
}
