//! A loader for any CSV or Parquet table with a named target column.

use std::path::{Path, PathBuf};

use rec_table::{CsvOptions, Format, Table};

use crate::error::{Error, Result};

/// A table and the name of its target column (the label a recommender predicts, which
/// imputation and missingness injection leave alone).
#[derive(Debug, Clone, PartialEq)]
pub struct Labeled {
    /// The whole table, target included.
    pub table: Table,
    /// The target column's name; it is a column of `table`.
    pub target: String,
    /// The file the table was read from.
    pub path: PathBuf,
}

impl Labeled {
    /// The index of the target column in the table.
    pub fn target_index(&self) -> usize {
        // `load_labeled` checked that the column exists.
        self.table.schema().names().iter().position(|n| *n == self.target).unwrap_or(0)
    }
}

/// Reads a CSV (`.csv`, `.tsv`, `.txt`) or Parquet (`.parquet`, `.pq`) file with kinds
/// inferred by [`rec_table::read_table`], and checks that `target` is one of its columns.
///
/// An absent target is an [`Error::MissingColumn`] naming the file and its columns.
pub fn load_labeled(path: impl AsRef<Path>, target: &str) -> Result<Labeled> {
    load_labeled_with(path, target, &CsvOptions::default())
}

/// [`load_labeled`] with CSV options (delimiter, forced kinds, encoding, missing tokens).
pub fn load_labeled_with(path: impl AsRef<Path>, target: &str, opts: &CsvOptions) -> Result<Labeled> {
    let path = path.as_ref();
    let table = rec_table::read_table(path, opts).map_err(|e| match e {
        // A forced kind for an absent column: the table core does not name the file here.
        e @ rec_table::Error::UnknownColumn { .. } => Error::InFile { path: path.to_path_buf(), source: e },
        e => Error::Table(e),
    })?;
    if table.schema().index_of(target).is_err() {
        return Err(Error::MissingColumn {
            path: path.to_path_buf(),
            column: target.to_string(),
            available: table.schema().names().join(", "),
        });
    }
    Ok(Labeled { table, target: target.to_string(), path: path.to_path_buf() })
}

/// The column names in the header of a CSV file (its first line), read with `opts`'
/// delimiter and encoding; for a Parquet file, the names of its columns. Only the first line
/// of a CSV file and the footer of a Parquet file are read, whatever the file's size.
pub fn read_header(path: impl AsRef<Path>, opts: &CsvOptions) -> Result<Vec<String>> {
    let path = path.as_ref();
    if Format::from_path(path).ok() == Some(Format::Parquet) {
        return Ok(rec_table::parquet_column_names(path)?);
    }
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut line = Vec::new();
    std::io::BufRead::read_until(&mut std::io::BufReader::new(file), b'\n', &mut line)
        .map_err(|e| Error::io(path, e))?;
    header_of(&line, path, opts)
}

/// The header names of CSV `bytes` (only the first line is parsed).
pub(crate) fn header_of(bytes: &[u8], path: &Path, opts: &CsvOptions) -> Result<Vec<String>> {
    let end = bytes.iter().position(|&b| b == b'\n').map_or(bytes.len(), |i| i + 1);
    let opts = CsvOptions { kinds: Default::default(), schema: None, has_header: true, ..opts.clone() };
    let table = rec_table::read_csv_bytes(&bytes[..end], path, &opts)?;
    Ok(table.schema().names().into_iter().map(String::from).collect())
}
