//! The Markdown report: the paper's tables (one row per imputer, mean ± std over seeds) and
//! imputation quality per column.

use std::collections::BTreeMap;
use std::fmt::Write;

use rec_metrics::ColumnMetrics;

use super::config::{ImputerName, Pattern, TaskName};
use super::run::CellResult;

/// Mean and sample standard deviation (0 for a single value); NaNs are skipped.
pub fn mean_std(values: &[f64]) -> (f64, f64, usize) {
    let v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return (f64::NAN, f64::NAN, 0);
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = if v.len() > 1 { v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    (mean, var.sqrt(), v.len())
}

fn fmt(values: &[f64]) -> String {
    match mean_std(values) {
        (_, _, 0) => "–".into(),
        (m, _, 1) => format!("{m:.4}"),
        (m, s, _) => format!("{m:.4} ± {s:.4}"),
    }
}

type Setting = (TaskName, Pattern, u64); // rate in thousandths

/// Renders every cell as Markdown.
pub fn markdown(results: &[CellResult]) -> String {
    let mut groups: BTreeMap<Setting, BTreeMap<ImputerName, Vec<&CellResult>>> = BTreeMap::new();
    for r in results {
        let rate = (r.spec.rate * 1000.0).round() as u64;
        groups.entry((r.spec.task, r.spec.pattern, rate)).or_default().entry(r.spec.imputer).or_default().push(r);
    }
    let mut out = String::new();
    let _ = writeln!(out, "# recimpute experiment report\n");
    let _ = writeln!(
        out,
        "Each row is one imputer; numbers are mean ± sample std over the seeds run (n shown). \
         Downstream metrics are the DLRM's on the test rows; imputation metrics are on the cells \
         hidden on purpose, whose truth is known.\n"
    );
    for ((task, pattern, rate), by_imputer) in &groups {
        let _ = writeln!(out, "## {} — {} {:.1}% injected\n", task.as_str(), pattern.as_str().to_uppercase(), *rate as f64 / 10.0);
        let Some(first) = by_imputer.values().next().and_then(|v| v.first()) else { continue };
        let names: Vec<&str> = first.downstream.headline().iter().map(|(n, _, _)| *n).collect();
        let _ = writeln!(out, "| imputer | n | {} | train rows | impute s | train s |", names.join(" | "));
        let _ = writeln!(out, "|---|---|{}---|---|---|", "---|".repeat(names.len()));
        for (imputer, cells) in by_imputer {
            let mut cols = Vec::new();
            for i in 0..names.len() {
                let v: Vec<f64> = cells.iter().map(|c| c.downstream.headline().get(i).map_or(f64::NAN, |h| h.1)).collect();
                cols.push(fmt(&v));
            }
            let rows: Vec<f64> = cells.iter().map(|c| c.train_rows as f64).collect();
            let imp: Vec<f64> = cells.iter().map(|c| c.timings.impute_s).collect();
            let train: Vec<f64> = cells.iter().map(|c| c.timings.train_s).collect();
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.0} | {:.2} | {:.2} |",
                imputer.as_str(),
                cells.len(),
                cols.join(" | "),
                mean_std(&rows).0,
                mean_std(&imp).0,
                mean_std(&train).0
            );
        }
        let _ = writeln!(out);
        imputation_table(&mut out, by_imputer);
    }
    out
}

fn imputation_table(out: &mut String, by_imputer: &BTreeMap<ImputerName, Vec<&CellResult>>) {
    // column → imputer → per-seed scores
    let mut table: BTreeMap<(String, &'static str), BTreeMap<ImputerName, Vec<f64>>> = BTreeMap::new();
    for (imputer, cells) in by_imputer {
        for cell in cells {
            let Some(report) = &cell.imputation else { continue };
            for c in &report.columns {
                let (metric, value) = match &c.metrics {
                    ColumnMetrics::Numeric(m) => ("RMSE", m.rmse),
                    ColumnMetrics::Categorical(m) => ("accuracy", m.accuracy),
                    ColumnMetrics::Set(m) => ("Jaccard", m.mean_jaccard),
                };
                table.entry((c.column.clone(), metric)).or_default().entry(*imputer).or_default().push(value);
            }
        }
    }
    if table.is_empty() {
        return;
    }
    let imputers: Vec<ImputerName> =
        by_imputer.keys().copied().filter(|i| table.values().any(|m| m.contains_key(i))).collect();
    let _ = writeln!(out, "Imputation quality on the hidden cells:\n");
    let _ = writeln!(out, "| column | metric | {} |", imputers.iter().map(|i| i.as_str()).collect::<Vec<_>>().join(" | "));
    let _ = writeln!(out, "|---|---|{}", "---|".repeat(imputers.len()));
    for ((column, metric), scores) in &table {
        let cells: Vec<String> = imputers.iter().map(|i| scores.get(i).map_or("–".into(), |v| fmt(v))).collect();
        let _ = writeln!(out, "| {column} | {metric} | {} |", cells.join(" | "));
    }
    let _ = writeln!(out);
}
