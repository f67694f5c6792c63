//! Hidden cells as files: hide cells of any table, write their ground truth beside the masked
//! table, and score any filled copy (ours or another tool's) against it.
//!
//! The ground-truth file is a table of three columns, CSV or Parquet by its extension:
//!
//! | column | what it holds |
//! |---|---|
//! | `row` | the data row of the hidden cell, counted from 0 (the header is not a row) |
//! | `column` | the column's name |
//! | `value` | the true value as the table's CSV writes it (sets joined by `\|`) |
//!
//! ```
//! use rec_experiments::{truth, Pattern};
//! use rec_table::{FittedImputer, Imputer};
//!
//! let dir = tempfile::tempdir()?;
//! let table = rec_datasets::synthetic::adclick_like(300, 1)?;
//! let hidden = truth::hide(&table, &Pattern::Mcar.holes(0.1, 7, truth::SALT))?;
//! let path = dir.path().join("truth.csv");
//! truth::write_truth(&path, &table, &hidden.mask)?;
//!
//! // Fill the masked table with any tool, then score it against the file.
//! let filled = imputers_baseline::SimpleImputer::mean().fit(&hidden.table)?.transform(&hidden.table)?;
//! let mask = truth::read_truth(&path, filled.schema())?;
//! let scored = truth::score_filled(&filled, &mask)?;
//! assert_eq!(scored.hidden, hidden.mask.len());
//! assert!(scored.unfilled.is_empty());
//! assert!(scored.report.get("age").is_some());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use rec_datasets::missingness::{inject, Mask, Masked, MissingnessConfig};
use rec_metrics::{ColumnMetrics, ImputationReport};
use rec_table::{
    cell_text, parse_cell, read_table, write_table, Cell, ColumnKind, ColumnSpec, CsvOptions, Schema, Table, Value,
};

#[cfg(doc)]
use crate::names::Pattern;
use crate::{Context, Error, Result};

/// The salt of [`Pattern::holes`] for the quality grid and `recimpute mask`.
pub const SALT: u64 = 29;

/// Hides observed cells of `table` as `holes` says (usually [`Pattern::holes`]), with the rules
/// of a user-facing mask: the rate must be in `(0, 1)`, a column named in `holes.columns` must
/// not be an id, and free text (no imputer fills or scores it) is hidden only when named. The
/// quality grid hides through this function too.
pub fn hide(table: &Table, holes: &MissingnessConfig) -> Result<Masked> {
    if !(holes.rate > 0.0 && holes.rate < 1.0) {
        return Err(Error::Config(format!("the rate must be in (0, 1), got {}", holes.rate)));
    }
    for name in &holes.columns {
        let kind = table.schema().column(name)?.kind;
        if kind == ColumnKind::Id {
            return Err(Error::Config(format!(
                "column '{name}' is an id and is never hidden (force another kind with --kind {name}=categorical)"
            )));
        }
    }
    let text = table
        .schema()
        .columns()
        .iter()
        .filter(|c| c.kind == ColumnKind::Text && !holes.columns.contains(&c.name))
        .map(|c| c.name.clone());
    let holes = holes.clone().with_exclude(holes.exclude.iter().cloned().chain(text));
    inject(table, &holes).context("hiding cells")
}

/// The reading and writing options of a ground-truth file: fixed kinds, and only the empty
/// cell means missing (a true value spelled `NA` stays a value).
fn truth_options() -> CsvOptions {
    CsvOptions::default()
        .with_missing_tokens([""])
        .with_kind("row", ColumnKind::Id)
        .with_kind("column", ColumnKind::Categorical)
        .with_kind("value", ColumnKind::Text)
}

/// The ground truth of `mask` (cells of `original`) as a three-column table.
pub fn truth_table(original: &Table, mask: &Mask) -> Result<Table> {
    let schema = Schema::try_new(vec![
        ColumnSpec::new("row", ColumnKind::Id),
        ColumnSpec::new("column", ColumnKind::Categorical),
        ColumnSpec::new("value", ColumnKind::Text),
    ])?;
    let separator = truth_options().set_separator;
    let names = original.schema().columns();
    let mut rows = Vec::with_capacity(mask.len());
    for (cell, value) in mask.entries() {
        let name = names.get(cell.col).ok_or_else(|| {
            Error::Data(format!("hidden cell in column {} but the table has {} columns", cell.col, names.len()))
        })?;
        rows.push(vec![
            Some(Value::Category(cell.row.to_string())),
            Some(Value::Category(name.name.clone())),
            Some(Value::Text(cell_text(Some(value), separator))),
        ]);
    }
    Ok(Table::from_rows(schema, rows)?)
}

/// Writes the ground truth of `mask` to `path` (CSV or Parquet by its extension, atomically).
pub fn write_truth(path: &Path, original: &Table, mask: &Mask) -> Result<()> {
    write_table(&truth_table(original, mask)?, path, &truth_options())
        .with_context(|| format!("writing the ground truth {}", path.display()))
}

/// Reads a ground-truth file written by [`write_truth`], parsing each value as the kind its
/// column has in `schema` (the schema of the filled table it will score). Errors name the file
/// and the row: an unknown column, a row that is not a number, a value that does not fit its
/// column, a cell listed twice.
pub fn read_truth(path: &Path, schema: &Schema) -> Result<Mask> {
    let not_truth =
        |name: &str| Error::Data(format!("{}: not a ground-truth file (it has no '{name}' column)", path.display()));
    let table = match read_table(path, &truth_options()) {
        Ok(table) => table,
        Err(e) => {
            // A readable table without the three columns is not a ground truth: say that
            // rather than which forced kind did not apply.
            if let Ok(plain) = read_table(path, &CsvOptions::default()) {
                if let Some(name) = ["row", "column", "value"].into_iter().find(|n| plain.schema().index_of(n).is_err())
                {
                    return Err(not_truth(name));
                }
            }
            return Err(e.into());
        }
    };
    let at = |name: &str| table.schema().index_of(name).map_err(|_| not_truth(name));
    let (row_col, column_col, value_col) = (at("row")?, at("column")?, at("value")?);
    let separator = truth_options().set_separator;
    let mut entries = Vec::with_capacity(table.num_rows());
    for i in 0..table.num_rows() {
        let bad = |what: String| Error::Data(format!("{}: data row {}: {what}", path.display(), i + 1));
        let text = |col: usize, name: &str| match table.value(i, col) {
            Some(Value::Category(s) | Value::Text(s)) => Ok(s),
            _ => Err(bad(format!("'{name}' is empty"))),
        };
        let row_text = text(row_col, "row")?;
        let row: usize = row_text.trim().parse().map_err(|_| bad(format!("row '{row_text}' is not a row number")))?;
        let name = text(column_col, "column")?;
        let col = schema.index_of(&name).map_err(|_| bad(format!("the filled table has no column '{name}'")))?;
        let kind = schema.columns()[col].kind;
        let value_text = text(value_col, "value")?;
        let value = parse_cell(&value_text, kind, separator)
            .ok_or_else(|| bad(format!("value '{value_text}' does not fit column '{name}' ({})", kind.as_str())))?;
        entries.push((Cell { row, col }, value));
    }
    Mask::from_entries(entries).with_context(|| format!("reading {}", path.display()))
}

/// A filled table scored against the ground truth of its hidden cells.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Scored {
    /// Per-column scores of the hidden cells that were filled.
    pub report: ImputationReport,
    /// Hidden cells listed in the ground truth.
    pub hidden: usize,
    /// Hidden cells still empty in the filled table, per column (not scored).
    pub unfilled: BTreeMap<String, usize>,
    /// Hidden cells of text and id columns, which have no score, per column.
    pub unscored: BTreeMap<String, usize>,
}

impl Scored {
    /// The per-column scores as a Markdown table, followed by what was not scored.
    pub fn markdown(&self) -> String {
        let mut md = String::from("| column | cells | metric | value |\n|---|---:|---|---:|\n");
        for c in &self.report.columns {
            let cells = match &c.metrics {
                ColumnMetrics::Numeric(n) => n.n_cells,
                ColumnMetrics::Categorical(k) => k.n_cells,
                ColumnMetrics::Set(s) => s.n_cells,
            };
            for (metric, value) in crate::quality::metrics(&c.metrics) {
                let _ = writeln!(md, "| {} | {cells} | {metric} | {value:.4} |", c.column);
            }
        }
        let _ = writeln!(md, "\n{} hidden cells", self.hidden);
        for (what, counts) in
            [("still empty (not scored)", &self.unfilled), ("in text/id columns (no score)", &self.unscored)]
        {
            if !counts.is_empty() {
                let list: Vec<String> = counts.iter().map(|(c, n)| format!("{c} {n}")).collect();
                let _ = writeln!(md, "{} {what}: {}", counts.values().sum::<usize>(), list.join(", "));
            }
        }
        md
    }
}

/// Scores the cells `truth` lists against the values `filled` holds for them.
pub fn score_filled(filled: &Table, truth: &Mask) -> Result<Scored> {
    let columns = filled.schema().columns();
    let (mut unfilled, mut unscored) = (BTreeMap::new(), BTreeMap::new());
    for (cell, _) in truth.entries() {
        let spec = columns.get(cell.col).ok_or_else(|| Error::Data(format!("column {} is out of range", cell.col)))?;
        if cell.row >= filled.num_rows() {
            return Err(Error::Data(format!(
                "the ground truth names data row {} but the filled table has {} rows (rows were dropped or reordered?)",
                cell.row,
                filled.num_rows()
            )));
        }
        if matches!(spec.kind, ColumnKind::Text | ColumnKind::Id) {
            *unscored.entry(spec.name.clone()).or_insert(0) += 1;
        } else if filled.is_missing(cell.row, cell.col) {
            *unfilled.entry(spec.name.clone()).or_insert(0) += 1;
        }
    }
    let report = crate::hidden::score_hidden(filled, truth, filled, Some)?;
    Ok(Scored { report, hidden: truth.len(), unfilled, unscored })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Pattern;
    use rec_table::Schema;

    fn table() -> Table {
        let schema = Schema::try_new(vec![
            ColumnSpec::new("user_id", ColumnKind::Id),
            ColumnSpec::new("country", ColumnKind::Categorical),
            ColumnSpec::new("zip", ColumnKind::Categorical),
            ColumnSpec::new("genres", ColumnKind::SetValued),
            ColumnSpec::new("age", ColumnKind::Numeric),
        ])
        .unwrap();
        let rows = (0..40)
            .map(|i| {
                vec![
                    Some(Value::Category(format!("u{i}"))),
                    Some(Value::Category(if i % 2 == 0 { "NA" } else { "FR" }.into())),
                    Some(Value::Category(format!("{:05}", i * 7))),
                    Some(Value::Set(vec!["Drama".into(), if i % 3 == 0 { "War" } else { "Comedy" }.into()])),
                    Some(Value::Number(20.5 + i as f64)),
                ]
            })
            .collect();
        Table::from_rows(schema, rows).unwrap()
    }

    #[test]
    fn the_truth_reads_back_exactly_from_csv_and_parquet() {
        let dir = tempfile::tempdir().unwrap();
        let t = table();
        let hidden = hide(&t, &Pattern::Mcar.holes(0.3, 1, SALT)).unwrap();
        assert!(hidden.mask.entries().iter().all(|(c, _)| c.col != 0), "ids are never hidden");
        for name in ["truth.csv", "truth.parquet"] {
            let path = dir.path().join(name);
            write_truth(&path, &t, &hidden.mask).unwrap();
            // `NA` stays a country, `00007` keeps its zeros, sets keep their elements.
            assert_eq!(read_truth(&path, t.schema()).unwrap(), hidden.mask, "{name}");
        }
        // The original itself scores perfectly; the masked table has every cell unfilled.
        let scored = score_filled(&t, &hidden.mask).unwrap();
        assert!(scored.unfilled.is_empty());
        let country = scored.report.get("country");
        assert!(matches!(country, Some(ColumnMetrics::Categorical(c)) if c.accuracy == 1.0), "{country:?}");
        let scored = score_filled(&hidden.table, &hidden.mask).unwrap();
        assert_eq!(scored.unfilled.values().sum::<usize>(), hidden.mask.len());
        assert!(scored.report.columns.is_empty());
    }

    #[test]
    fn hide_refuses_bad_settings() {
        let t = table();
        assert!(hide(&t, &Pattern::Mcar.holes(0.0, 1, SALT)).is_err());
        let err = hide(&t, &Pattern::Mcar.holes(0.2, 1, SALT).with_columns(["user_id"])).unwrap_err();
        assert!(err.to_string().contains("'user_id' is an id"), "{err}");
        let only = hide(&t, &Pattern::Mar.holes(0.2, 1, SALT).with_columns(["age"])).unwrap();
        assert!(only.mask.entries().iter().all(|(c, _)| c.col == 4));
        assert!(!only.mask.is_empty());
        // A cell listed twice in a truth file is an error.
        let twice = vec![(Cell { row: 1, col: 4 }, Value::Number(1.0)), (Cell { row: 1, col: 4 }, Value::Number(2.0))];
        assert!(Mask::from_entries(twice).is_err());
    }
}
