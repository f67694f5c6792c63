//! Compares the LLM imputer's read-outs on one fit: the scored candidates alone (head weight
//! 0), mixed with the encoder head, and the head alone, on the cells the quality grid hides in
//! the demo's generated table (same table, same masks as `recimpute quality --tables
//! synthetic-adclick`), so the rows line up with the grid's KNN and MissForest rows.
//!
//! ```text
//! cargo run --release -p rec-experiments --features llm --example llm_head_readouts -- \
//!     --rate 0.05 --seeds 0,1,2 --weights 0,0.5,1 --out results/head-readouts-0.05
//! ```
//!
//! Writes one JSON per seed (`seed-N.json`: the fit report's head section and every weight's
//! per-column scores) and prints a markdown table of mean ± std over seeds.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use llm_imputer::{ImputeOptions, LlmImputer};
use rec_datasets::missingness::Masked;
use rec_experiments::truth::{hide, SALT};
use rec_experiments::{llm_cell_config, mean_std, score_hidden, LlmImputerConfig, Pattern};
use rec_metrics::ColumnMetrics;
use rec_table::Imputer;
use serde::Serialize;

#[derive(Serialize)]
struct Readout {
    weight: f64,
    fill_s: f64,
    fallbacks: usize,
    report: rec_metrics::ImputationReport,
}

#[derive(Serialize)]
struct SeedResult {
    seed: u64,
    rate: f64,
    hidden_cells: usize,
    fit_s: f64,
    head_s: f64,
    heads: Vec<llm_imputer::HeadReport>,
    readouts: Vec<Readout>,
}

fn list<T: std::str::FromStr>(s: &str) -> Result<Vec<T>, String> {
    s.split(',').map(|x| x.trim().parse::<T>().map_err(|_| format!("cannot read '{x}'"))).collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut rate, mut seeds, mut weights) = (0.05, vec![0u64], vec![0.0, 0.5, 1.0]);
    let mut out = PathBuf::from("results/head-readouts");
    let mut rows = 2000usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--rate" => rate = value()?.parse()?,
            "--seeds" => seeds = list(&value()?)?,
            "--weights" => weights = list(&value()?)?,
            "--rows" => rows = value()?.parse()?,
            "--out" => out = PathBuf::from(value()?),
            other => {
                return Err(format!("unknown argument '{other}' (--rate, --seeds, --weights, --rows, --out)").into())
            }
        }
    }
    let fit_weight = weights.iter().copied().fold(0.0, f64::max);
    if fit_weight <= 0.0 {
        return Err("--weights needs a weight above 0 (otherwise no head is trained)".into());
    }
    std::fs::create_dir_all(&out)?;
    let table = rec_datasets::synthetic::adclick_like(rows, 4242)?.drop_columns(&["click"])?;
    let mut results = Vec::new();
    for &seed in &seeds {
        let Masked { table: masked, mask } = hide(&table, &Pattern::Mcar.holes(rate, seed, SALT))?;
        let mut config = llm_cell_config(&LlmImputerConfig::default(), seed)?;
        config.head.weight = fit_weight;
        let t0 = Instant::now();
        let mut fitted = LlmImputer::new(config).fit(&masked)?;
        let fit_s = t0.elapsed().as_secs_f64();
        let only: std::collections::HashSet<_> = mask.entries().iter().map(|(c, _)| *c).collect();
        let mut readouts = Vec::new();
        for &w in &weights {
            fitted.set_head_weight(w)?;
            let t1 = Instant::now();
            let imp =
                fitted.impute(&masked, &ImputeOptions { only: Some(only.clone()), ..ImputeOptions::default() })?;
            let fill_s = t1.elapsed().as_secs_f64();
            let filled = masked.with_filled(imp.cells.iter().map(|c| (c.cell, c.value.clone())))?;
            let report = score_hidden(&table, &mask, &filled, Some)?;
            eprintln!("seed {seed} weight {w}: fill {fill_s:.1} s, {} fallbacks", imp.fallbacks);
            readouts.push(Readout { weight: w, fill_s, fallbacks: imp.fallbacks, report });
        }
        let fit = fitted.report();
        let result = SeedResult {
            seed,
            rate,
            hidden_cells: mask.len(),
            fit_s,
            head_s: fit.head_seconds,
            heads: fit.heads.clone(),
            readouts,
        };
        rec_experiments::grid::write_json(&out.join(format!("seed-{seed}.json")), &result)?;
        results.push(result);
    }
    println!("{}", markdown(&results, &weights));
    Ok(())
}

/// Mean ± std over seeds of each column's metric per weight.
fn markdown(results: &[SeedResult], weights: &[f64]) -> String {
    let mut cells: BTreeMap<(String, &'static str), Vec<Vec<f64>>> = BTreeMap::new();
    for r in results {
        for (k, ro) in r.readouts.iter().enumerate() {
            for c in &ro.report.columns {
                let (name, value) = match &c.metrics {
                    ColumnMetrics::Numeric(m) => ("RMSE", m.rmse),
                    ColumnMetrics::Categorical(m) => ("accuracy", m.accuracy),
                    _ => continue,
                };
                let e = cells.entry((c.column.clone(), name)).or_insert_with(|| vec![Vec::new(); weights.len()]);
                e[k].push(value);
            }
        }
    }
    let head: Vec<String> = weights.iter().map(|w| format!("head weight {w}")).collect();
    let mut s = format!("| column | metric | {} |\n|---|---|{}\n", head.join(" | "), "---|".repeat(weights.len()));
    for ((col, metric), per) in &cells {
        let vals: Vec<String> = per
            .iter()
            .map(|v| {
                let (m, sd, _) = mean_std(v);
                format!("{m:.4} ± {sd:.4}")
            })
            .collect();
        s.push_str(&format!("| {col} | {metric} | {} |\n", vals.join(" | ")));
    }
    let fit: Vec<f64> = results.iter().map(|r| r.fit_s).collect();
    let head_s: Vec<f64> = results.iter().map(|r| r.head_s).collect();
    s.push_str(&format!(
        "\nfit {:.1} s (of which heads {:.1} s) per seed; fallbacks per weight: {}\n",
        mean_std(&fit).0,
        mean_std(&head_s).0,
        weights
            .iter()
            .enumerate()
            .map(|(k, w)| format!("{w}: {}", results.iter().map(|r| r.readouts[k].fallbacks).sum::<usize>()))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    s
}
