//! Scoring an imputation on cells that were hidden on purpose.

use std::collections::BTreeMap;

use rec_datasets::missingness::Mask;
use rec_metrics::ImputationReport;
use rec_table::{ColumnKind, Table, Value};

/// Scores the hidden cells of `original` (listed in `mask`) against the values `imputed`
/// holds for them, per column: RMSE/MAE for numbers, accuracy and macro-F1 for categories,
/// Jaccard for sets.
///
/// `locate` maps a row of `original` to its row in `imputed` (`Some` when they are the same
/// table); rows it maps to `None` (e.g. in another split), cells still missing in `imputed`,
/// columns `imputed` lacks and text columns are skipped. Columns come out in schema order.
///
/// ```
/// use rec_datasets::missingness::{inject, MissingnessConfig};
/// use rec_experiments::score_hidden;
/// use rec_table::{FittedImputer, Imputer};
///
/// let table = rec_datasets::synthetic::adclick_like(200, 1)?;
/// let hidden = inject(&table, &MissingnessConfig::mcar(0.1, 3))?;
/// let filled = imputers_baseline::SimpleImputer::mean().fit(&hidden.table)?.transform(&hidden.table)?;
/// let report = score_hidden(&table, &hidden.mask, &filled, Some)?;
/// assert!(report.get("age").is_some());
/// # Ok::<(), rec_experiments::Error>(())
/// ```
pub fn score_hidden(
    original: &Table,
    mask: &Mask,
    imputed: &Table,
    locate: impl Fn(usize) -> Option<usize>,
) -> crate::Result<ImputationReport> {
    score_hidden_in(original, mask, &[imputed], |row| locate(row).map(|r| (0, r)))
}

/// [`score_hidden`] over an imputed table that comes in parts (the filled train and test
/// splits, say): `locate` maps a row of `original` to `(part, row)`, or `None` to skip it.
pub fn score_hidden_in(
    original: &Table,
    mask: &Mask,
    parts: &[&Table],
    locate: impl Fn(usize) -> Option<(usize, usize)>,
) -> crate::Result<ImputationReport> {
    let mut by_col: BTreeMap<usize, (Vec<Value>, Vec<Value>)> = BTreeMap::new();
    for (cell, truth) in mask.entries() {
        let Some((part, row)) = locate(cell.row) else { continue };
        let Some(imputed) = parts.get(part) else {
            return Err(crate::Error::Data(format!("part {part} of the imputed table does not exist")));
        };
        let name = &original.schema().columns()[cell.col].name;
        let Ok(col) = imputed.schema().index_of(name) else { continue };
        if row >= imputed.num_rows() {
            return Err(crate::Error::Data(format!(
                "row {row} is outside the imputed table ({} rows)",
                imputed.num_rows()
            )));
        }
        if let Some(v) = imputed.value(row, col) {
            let entry = by_col.entry(cell.col).or_default();
            entry.0.push(truth.clone());
            entry.1.push(v);
        }
    }
    let mut report = ImputationReport::new();
    for (col, (truth, guess)) in by_col {
        let spec = &original.schema().columns()[col];
        // Values stay paired: a value of the wrong type scores as a miss, not a shift.
        match spec.kind {
            ColumnKind::Numeric => {
                let t: Vec<f64> = truth.iter().map(|v| v.as_f64().unwrap_or(f64::NAN)).collect();
                let g: Vec<f64> = guess.iter().map(|v| v.as_f64().unwrap_or(f64::NAN)).collect();
                report.add_numeric(&spec.name, &t, &g)?;
            }
            ColumnKind::Categorical => {
                let t: Vec<&str> = truth.iter().map(|v| v.as_str().unwrap_or_default()).collect();
                let g: Vec<&str> = guess.iter().map(|v| v.as_str().unwrap_or_default()).collect();
                report.add_categorical(&spec.name, &t, &g)?;
            }
            ColumnKind::SetValued => {
                let t: Vec<&[String]> = truth.iter().map(|v| v.as_set().unwrap_or_default()).collect();
                let g: Vec<&[String]> = guess.iter().map(|v| v.as_set().unwrap_or_default()).collect();
                report.add_set(&spec.name, &t, &g)?;
            }
            ColumnKind::Text | ColumnKind::Id => {}
        }
    }
    Ok(report)
}
