//! The Markdown report: the paper's tables (one row per imputer, mean ± std over seeds),
//! imputation quality per column, a summary table per task across settings when the grid has
//! several, and links to the plots of [`super::plots`].

use std::collections::BTreeMap;
use std::fmt::Write;

use rec_metrics::ColumnMetrics;

use crate::cell::CellResult;
use crate::downstream::Downstream;
use crate::names::{ImputerName, Pattern, TaskName};
use crate::plots::{Plot, PlotPlace};

/// The one metric the summary tables and plots show per task: (name, value, higher is
/// better). AUC for click prediction, macro-F1 for the 5 classes, RMSE for the regression.
pub fn primary_metric(d: &Downstream) -> (&'static str, f64, bool) {
    let want = match d {
        Downstream::Binary(_) => "AUC",
        Downstream::MultiClass { .. } => "macro F1",
        Downstream::Regression { .. } => "RMSE",
    };
    let headline = d.headline();
    headline.iter().copied().find(|h| h.0 == want).or_else(|| headline.first().copied()).unwrap_or((
        want,
        f64::NAN,
        true,
    ))
}

/// A rate as the report groups it: in thousandths.
pub(crate) fn rate_key(rate: f64) -> u64 {
    if rate.is_finite() && rate > 0.0 {
        (rate * 1000.0).round() as u64
    } else {
        0
    }
}

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
    markdown_with_plots(results, &[])
}

/// Renders every cell as Markdown, with links to `plots` (paths relative to the report) at
/// their places.
pub fn markdown_with_plots(results: &[CellResult], plots: &[Plot]) -> String {
    let mut groups: BTreeMap<Setting, BTreeMap<ImputerName, Vec<&CellResult>>> = BTreeMap::new();
    for r in results {
        let rate = rate_key(r.spec.rate);
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
        let _ = writeln!(
            out,
            "## {} — {} {:.1}% injected\n",
            task.as_str(),
            pattern.as_str().to_uppercase(),
            *rate as f64 / 10.0
        );
        let Some(first) = by_imputer.values().next().and_then(|v| v.first()) else { continue };
        let names: Vec<&str> = first.downstream.headline().iter().map(|(n, _, _)| *n).collect();
        let _ = writeln!(out, "| imputer | n | {} | train rows | impute s | train s |", names.join(" | "));
        let _ = writeln!(out, "|---|---|{}---|---|---|", "---|".repeat(names.len()));
        for (imputer, cells) in by_imputer {
            let mut cols = Vec::new();
            for i in 0..names.len() {
                let v: Vec<f64> =
                    cells.iter().map(|c| c.downstream.headline().get(i).map_or(f64::NAN, |h| h.1)).collect();
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
        for (imputer, cells) in by_imputer {
            let with: Vec<String> = cells
                .iter()
                .filter(|c| !c.fallbacks.is_empty())
                .map(|c| format!("seed {}: {}", c.spec.seed, c.fallbacks.values().sum::<usize>()))
                .collect();
            if !with.is_empty() {
                let _ = writeln!(
                    out,
                    "{} cells filled by the column's mode/median because no valid value came out: {}\n",
                    imputer.as_str(),
                    with.join(", ")
                );
            }
            for c in cells.iter().filter(|c| !c.notes.is_empty()) {
                let _ = writeln!(out, "{} seed {}: {}\n", imputer.as_str(), c.spec.seed, c.notes.join("; "));
            }
        }
        paired_lines(&mut out, by_imputer);
        imputation_table(&mut out, by_imputer);
        embed(&mut out, plots, PlotPlace::Setting(*task, *pattern, *rate));
        let last_of_task = groups.range((*task, *pattern, *rate)..).nth(1).is_none_or(|((t, _, _), _)| t != task);
        if last_of_task {
            summary_table(&mut out, *task, &groups);
            embed(&mut out, plots, PlotPlace::Task(*task));
        }
    }
    if plots.iter().any(|p| p.place == PlotPlace::End) {
        let _ = writeln!(out, "## Training loss of the imputers that train a model\n");
        embed(&mut out, plots, PlotPlace::End);
    }
    out
}

fn embed(out: &mut String, plots: &[Plot], place: PlotPlace) {
    for p in plots.iter().filter(|p| p.place == place) {
        let _ = writeln!(out, "![{}]({}) ([SVG]({}))\n", p.title.replace(['[', ']'], ""), p.png, p.svg);
    }
}

/// When a task ran several settings: its primary metric per pattern and rate, one column per
/// imputer.
fn summary_table(
    out: &mut String,
    task: TaskName,
    groups: &BTreeMap<Setting, BTreeMap<ImputerName, Vec<&CellResult>>>,
) {
    let settings: Vec<(&Setting, &BTreeMap<ImputerName, Vec<&CellResult>>)> =
        groups.iter().filter(|((t, _, _), _)| *t == task).collect();
    if settings.len() < 2 {
        return;
    }
    let Some(first) = settings.iter().flat_map(|(_, m)| m.values()).flatten().next() else { return };
    let (metric, _, higher) = primary_metric(&first.downstream);
    let imputers: Vec<ImputerName> = {
        let mut v: Vec<ImputerName> = settings.iter().flat_map(|(_, m)| m.keys().copied()).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let _ = writeln!(
        out,
        "## {} — {metric} by pattern and rate ({} is better)\n",
        task.as_str(),
        if higher { "higher" } else { "lower" }
    );
    let _ =
        writeln!(out, "| pattern | rate | {} |", imputers.iter().map(|i| i.as_str()).collect::<Vec<_>>().join(" | "));
    let _ = writeln!(out, "|---|---|{}", "---|".repeat(imputers.len()));
    for ((_, pattern, rate), by_imputer) in settings {
        let cells: Vec<String> = imputers
            .iter()
            .map(|i| {
                by_imputer.get(i).map_or("–".into(), |cells| {
                    fmt(&cells.iter().map(|c| primary_metric(&c.downstream).1).collect::<Vec<_>>())
                })
            })
            .collect();
        let pct = format!("{:.1}", *rate as f64 / 10.0);
        let _ = writeln!(
            out,
            "| {} | {}% | {} |",
            pattern.as_str().to_uppercase(),
            pct.trim_end_matches(".0"),
            cells.join(" | ")
        );
    }
    let _ = writeln!(out);
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
    let _ =
        writeln!(out, "| column | metric | {} |", imputers.iter().map(|i| i.as_str()).collect::<Vec<_>>().join(" | "));
    let _ = writeln!(out, "|---|---|{}", "---|".repeat(imputers.len()));
    for ((column, metric), scores) in &table {
        let cells: Vec<String> = imputers.iter().map(|i| scores.get(i).map_or("–".into(), |v| fmt(v))).collect();
        let _ = writeln!(out, "| {column} | {metric} | {} |", cells.join(" | "));
    }
    let _ = writeln!(out);
}

/// The comparisons that say whether an imputer matters here, paired by seed on the primary
/// metric: the LLM against the best other imputer and against the mean, and the best other
/// imputer against the mean.
fn paired_lines(out: &mut String, by_imputer: &BTreeMap<ImputerName, Vec<&CellResult>>) {
    let Some(first) = by_imputer.values().next().and_then(|v| v.first()) else { return };
    let (metric, _, higher) = primary_metric(&first.downstream);
    let series = |name: ImputerName| -> Vec<(u64, f64)> {
        by_imputer.get(&name).map_or_else(Vec::new, |cells| {
            cells.iter().map(|c| (c.spec.seed, primary_metric(&c.downstream).1)).collect()
        })
    };
    let mean_of = |name: ImputerName| mean_std(&series(name).iter().map(|p| p.1).collect::<Vec<_>>()).0;
    let oriented = |x: f64| if higher { x } else { -x };
    let best = by_imputer
        .keys()
        .copied()
        .filter(|&i| i != ImputerName::Llm && mean_of(i).is_finite())
        .max_by(|&a, &b| oriented(mean_of(a)).total_cmp(&oriented(mean_of(b))));
    let mut lines = Vec::new();
    let mut line = |a: ImputerName, b: ImputerName, what: &str| {
        if let Some(p) = crate::paired::paired(&series(a), &series(b)) {
            let better = oriented(p.mean);
            lines.push(format!(
                "- {} vs {} ({what}), {metric}: {} better by {:.4} ± {:.4} (paired over {} seeds, t = {:.2}, critical {:.2}): {}",
                a.as_str(),
                b.as_str(),
                if better >= 0.0 { a.as_str() } else { b.as_str() },
                better.abs(),
                p.se,
                p.n,
                p.t,
                p.critical,
                if p.beyond_noise() { "**beyond seed noise**" } else { "within seed noise" }
            ));
        }
    };
    if let Some(best) = best {
        if by_imputer.contains_key(&ImputerName::Llm) {
            line(ImputerName::Llm, best, "the best other imputer");
        }
        if best != ImputerName::Mean && by_imputer.contains_key(&ImputerName::Mean) {
            line(best, ImputerName::Mean, "mean/mode filling");
            // The LLM can beat the best other imputer and not the mean, whose seeds pair
            // differently: both are said.
            if by_imputer.contains_key(&ImputerName::Llm) {
                line(ImputerName::Llm, ImputerName::Mean, "mean/mode filling");
            }
        }
    }
    if !lines.is_empty() {
        let _ = writeln!(out, "Paired by seed (same holes and split per seed; two-sided t-test at 5%):\n");
        for l in lines {
            let _ = writeln!(out, "{l}");
        }
        let _ = writeln!(out);
    }
}
