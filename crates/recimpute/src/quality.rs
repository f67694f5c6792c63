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
/// use recimpute::datasets::missingness::{inject, MissingnessConfig};
/// use recimpute::prelude::*;
/// use recimpute::quality::score_hidden;
///
/// let table = recimpute::datasets::synthetic::adclick_like(200, 1)?;
/// let hidden = inject(&table, &MissingnessConfig::mcar(0.1, 3))?;
/// let filled = recimpute::baseline::SimpleImputer::mean().fit(&hidden.table)?.transform(&hidden.table)?;
/// let report = score_hidden(&table, &hidden.mask, &filled, Some)?;
/// assert!(report.get("age").is_some());
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn score_hidden(
    original: &Table,
    mask: &Mask,
    imputed: &Table,
    locate: impl Fn(usize) -> Option<usize>,
) -> anyhow::Result<ImputationReport> {
    let mut by_col: BTreeMap<usize, (Vec<Value>, Vec<Value>)> = BTreeMap::new();
    for (cell, truth) in mask.entries() {
        let Some(row) = locate(cell.row) else { continue };
        let name = &original.schema().columns()[cell.col].name;
        let Ok(col) = imputed.schema().index_of(name) else { continue };
        if row >= imputed.num_rows() {
            anyhow::bail!("row {row} is outside the imputed table ({} rows)", imputed.num_rows());
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
        match spec.kind {
            ColumnKind::Numeric => {
                let t: Vec<f64> = truth.iter().filter_map(Value::as_f64).collect();
                let g: Vec<f64> = guess.iter().filter_map(Value::as_f64).collect();
                report.add_numeric(&spec.name, &t, &g)?;
            }
            ColumnKind::Categorical => {
                let t: Vec<&str> = truth.iter().filter_map(Value::as_str).collect();
                let g: Vec<&str> = guess.iter().filter_map(Value::as_str).collect();
                report.add_categorical(&spec.name, &t, &g)?;
            }
            ColumnKind::SetValued => {
                let t: Vec<&[String]> = truth.iter().filter_map(Value::as_set).collect();
                let g: Vec<&[String]> = guess.iter().filter_map(Value::as_set).collect();
                report.add_set(&spec.name, &t, &g)?;
            }
            ColumnKind::Text | ColumnKind::Id => {}
        }
    }
    Ok(report)
}
