//! The AdClick table: ad impressions with user attributes and whether the ad was clicked.
//!
//! The file (`adclick/ad_click_dataset.csv` under the shared data directory) has 10,000 rows
//! and the columns `id, full_name, age, gender, device_type, ad_position, browsing_history,
//! time_of_day, click`. Its gaps are natural (20–48% per feature column; 816 rows complete).
//!
//! [`load_adclick`] drops the identifiers `id` and `full_name` (`full_name` is always
//! `"User<id>"`) and keeps:
//!
//! | column | kind |
//! |---|---|
//! | `age` | numeric |
//! | `gender`, `device_type`, `ad_position`, `browsing_history`, `time_of_day` | categorical |
//! | `click` | numeric, 0 or 1: the target of the binary task, never missing |
//!
//! `click` stays numeric so that a recommender reads it as a 0/1 label and metrics like AUC
//! take it as is; missingness injection must exclude it (as every target).
//!
//! # Duplicates and leak-free splits
//!
//! 2,853 rows repeat an earlier row **on all nine columns, identifiers included** (7,147
//! distinct rows; comparing without `id`/`full_name` would merge different users and find
//! 4,589). The cause is visible in the `id` column: only 4,000 ids exist, and 500 of them
//! have 3 to 25 rows each (6,500 rows) that are copies of one record with different cells
//! blanked out; no id has two different observed values in any column. A row of such a user
//! in the test split would have its missing cells answered by the same user's rows in train,
//! so [`AdClick::groups`] keeps the `id` of every row and
//! [`adclick_split`](crate::split::adclick_split) splits by id: all rows of one user, and so
//! every exact duplicate, land in one split.
//!
//! Note for the classification task: in this file every user with several rows clicked and
//! every user with one row did not, so any feature derived from the id or from duplicate
//! counts leaks the target.

use std::path::{Path, PathBuf};

use rec_table::{ColumnKind, CsvOptions, Table};

use crate::error::{Error, Result};

/// The AdClick file's path relative to the shared data directory.
pub const ADCLICK_FILE: &str = "adclick/ad_click_dataset.csv";

/// The feature columns kept by [`load_adclick`], in order, with their kinds.
pub const ADCLICK_COLUMNS: [(&str, ColumnKind); 7] = [
    ("age", ColumnKind::Numeric),
    ("gender", ColumnKind::Categorical),
    ("device_type", ColumnKind::Categorical),
    ("ad_position", ColumnKind::Categorical),
    ("browsing_history", ColumnKind::Categorical),
    ("time_of_day", ColumnKind::Categorical),
    ("click", ColumnKind::Numeric),
];

/// The name of the AdClick target column.
pub const ADCLICK_TARGET: &str = "click";

/// The AdClick table and the record id of each row.
#[derive(Debug, Clone, PartialEq)]
pub struct AdClick {
    /// The table without identifiers (see the [module docs](self) for its columns).
    pub table: Table,
    /// The `id` of each row of `table`: rows of one id are copies of one user's record, the
    /// groups a leak-free split must keep together.
    pub groups: Vec<String>,
}

/// The default location of the AdClick file under a shared data directory.
pub fn adclick_path(shared_data_dir: impl AsRef<Path>) -> PathBuf {
    shared_data_dir.as_ref().join(ADCLICK_FILE)
}

/// Loads the AdClick CSV file (see the [module docs](self)).
///
/// The header must name `id` and every column of [`ADCLICK_COLUMNS`] (an error lists the
/// columns found otherwise, which also catches a wrong delimiter); `full_name` is optional.
pub fn load_adclick(path: impl AsRef<Path>) -> Result<AdClick> {
    let path = path.as_ref();
    let raw = read_with_required_columns(path)?;
    let groups = raw
        .strings("id")
        .map_err(Error::in_file(path))?
        .into_iter()
        .enumerate()
        .map(|(row, id)| id.map(str::to_string).ok_or_else(|| Error::parse(path, row as u64 + 2, "the id is empty")))
        .collect::<Result<Vec<_>>>()?;
    let names: Vec<&str> = ADCLICK_COLUMNS.iter().map(|(n, _)| *n).collect();
    let table = raw.select(&names).map_err(Error::in_file(path))?;
    let clicks = table.numeric(ADCLICK_TARGET).map_err(Error::in_file(path))?;
    if let Some(row) = clicks.iter().position(|c| !matches!(c, Some(x) if *x == 0.0 || *x == 1.0)) {
        return Err(Error::parse(path, row as u64 + 2, "the target 'click' is empty or not 0/1"));
    }
    Ok(AdClick { table, groups })
}

/// Reads the header first so that a missing column is reported with the file and the columns
/// it has (this also catches a wrong delimiter), then reads the file with the AdClick kinds.
fn read_with_required_columns(path: &Path) -> Result<Table> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let header = crate::general::header_of(&bytes, path, &CsvOptions::default())?;
    for name in std::iter::once("id").chain(ADCLICK_COLUMNS.iter().map(|(n, _)| *n)) {
        if !header.iter().any(|h| h == name) {
            return Err(Error::MissingColumn {
                path: path.to_path_buf(),
                column: name.to_string(),
                available: header.join(", "),
            });
        }
    }
    let mut opts = CsvOptions::default().with_kind("id", ColumnKind::Id);
    for (name, kind) in ADCLICK_COLUMNS {
        opts = opts.with_kind(name, kind);
    }
    if header.iter().any(|h| h == "full_name") {
        opts = opts.with_kind("full_name", ColumnKind::Id);
    }
    Ok(rec_table::read_csv_bytes(&bytes, path, &opts)?)
}

/// Number of rows that repeat an earlier row on the given columns (all columns when
/// `columns` is empty); missing cells compare equal to each other.
///
/// On the raw AdClick file this is 2,853 over all columns and 4,589 without `id` and
/// `full_name` (see the [module docs](self)).
pub fn duplicate_rows(table: &Table, columns: &[&str]) -> Result<usize> {
    let cols: Vec<usize> = if columns.is_empty() {
        (0..table.num_columns()).collect()
    } else {
        columns.iter().map(|c| table.schema().index_of(c)).collect::<rec_table::Result<_>>()?
    };
    let keys = row_keys(table, &cols);
    let mut seen = std::collections::HashSet::with_capacity(keys.len());
    Ok(keys.into_iter().filter(|k| !seen.insert(k.clone())).count())
}

/// A text key per row over `cols`, equal for rows equal on those columns.
pub(crate) fn row_keys(table: &Table, cols: &[usize]) -> Vec<String> {
    let values: Vec<Vec<_>> = cols.iter().map(|&c| table.column_values(c)).collect();
    (0..table.num_rows())
        .map(|r| {
            let mut key = String::new();
            for col in &values {
                match &col[r] {
                    None => key.push('\u{0}'),
                    Some(v) => key.push_str(&format!("\u{1}{v:?}")),
                }
                key.push('\u{2}');
            }
            key
        })
        .collect()
}
