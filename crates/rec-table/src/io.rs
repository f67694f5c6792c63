//! Format-agnostic reading and writing, chosen by file extension.

use std::path::Path;

use crate::csv_io::{read_csv, write_csv, write_csv_patched, CsvOptions};
use crate::csv_stream::read_csv_rows;
use crate::delimiter::Delimiter;
use crate::error::{Error, Result};
use crate::parquet_io::{read_parquet, read_parquet_rows, write_parquet, write_parquet_patched, ParquetOptions};
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
        Format::Parquet => read_parquet(path, &parquet_options(csv)),
    }
}

/// Some rows of a CSV or Parquet file, in memory bounded by the rows kept whatever the size of
/// the file: `pick(count)` gets the file's row count and says which rows to keep (ascending,
/// each below the count). Returns their table and the count. Kinds not forced are inferred
/// from the kept rows alone; see [`read_csv_rows`] and [`read_parquet_rows`].
pub fn read_table_rows(
    path: impl AsRef<Path>,
    csv: &CsvOptions,
    pick: impl FnOnce(usize) -> Vec<usize>,
) -> Result<(Table, usize)> {
    let path = path.as_ref();
    match Format::from_path(path)? {
        Format::Csv => read_csv_rows(path, &tsv_aware(path, csv), pick),
        Format::Parquet => read_parquet_rows(path, &parquet_options(csv), pick),
    }
}

/// What of the CSV options applies to a Parquet file: the forced kinds and the inference rules.
fn parquet_options(csv: &CsvOptions) -> ParquetOptions {
    ParquetOptions { kinds: csv.kinds.clone(), infer: csv.infer.clone() }
}

/// Rows picked from a file of `count` rows: ascending, distinct, each below `count`.
pub(crate) fn check_picked(rows: &[usize], count: usize, source: &Path) -> Result<()> {
    if let Some(w) = rows.windows(2).find(|w| w[0] >= w[1]) {
        return Err(Error::InvalidInput(format!(
            "{}: rows to read must be ascending and distinct, but {} comes before {}",
            source.display(),
            w[0],
            w[1]
        )));
    }
    match rows.last() {
        Some(&last) if last >= count => Err(Error::InvalidInput(format!(
            "{}: row {last} asked for, but the file has {count} rows",
            source.display()
        ))),
        _ => Ok(()),
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

/// Writes `table`, made from the file `input`, to `output`, atomically, keeping the cells that
/// `replace(row, column)` leaves alone exactly as `input` has them: between CSV files of the
/// same delimiter their text is copied ([`write_csv_patched`]: `66.0` stays `66.0`); between
/// Parquet files their stored values and Arrow types are ([`write_parquet_patched`]: an `Int64`
/// keeps every digit). Other pairs are written as [`write_table`] does. `rows` lists the rows of
/// `input` that `table` holds (`None`: all). Returns the Parquet columns that had to take the
/// table's type because a replaced value did not fit the stored one (say, a fraction in an
/// integer column).
pub fn write_like_input(
    input: &Path,
    opts: &CsvOptions,
    table: &Table,
    rows: Option<&[usize]>,
    replace: &dyn Fn(usize, usize) -> bool,
    output: &Path,
) -> Result<Vec<String>> {
    let format = |p: &Path| Format::from_path(p).ok();
    match (format(input), format(output)) {
        (Some(Format::Csv), Some(Format::Csv)) if is_tsv(input) == is_tsv(output) => {
            write_csv_patched(input, &tsv_aware(input, opts), table, rows, replace, output)?;
            Ok(Vec::new())
        }
        (Some(Format::Parquet), Some(Format::Parquet)) => write_parquet_patched(input, table, rows, replace, output),
        _ => write_table(table, output, opts).map(|()| Vec::new()),
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
