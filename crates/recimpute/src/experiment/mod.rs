//! The experiment runner: a grid of (task, imputer, missingness pattern and rate, seed); for
//! each cell, mask → split → fit the imputer on train → fill train and test → train a DLRM →
//! evaluate, recording imputation quality, downstream metrics, timings and peak memory.
//!
//! Cells are independent and each is saved as `cells/<key>.json` (atomically) as soon as it
//! finishes; a rerun skips the cells already saved, so an interrupted grid resumes where it
//! stopped. The resolved configuration is saved as `config.json`, the collected results as
//! `results.json`, the tables as `report.md` and its plots as PNG and SVG under `plots/`.
//!
//! How each task is built:
//! - `adclick` / `synthetic-adclick`: holes are injected into observed feature cells (never
//!   into `click`); rows are split 80/20 (AdClick by user id, so copies of a row stay
//!   together); the imputer is fitted on the training features only (never the target) and
//!   fills train and test; deletion drops incomplete training rows and leaves test rows as they
//!   are (the DLRM encodes a missing cell as its own value).
//! - `movielens-class` / `movielens-regression`: holes are injected into the user table (age,
//!   gender, occupation, region) and the item table (year, genres); the imputer fills those
//!   tables, which are then joined with the ratings of the standard u1 split. Deletion drops
//!   the training ratings whose user or item is incomplete. Both MovieLens tasks hide the same
//!   cells for a given (imputer, pattern, rate, seed), so the first saves its filled user and
//!   item tables under `imputed/` (Parquet, atomically) and the second reuses them: the LLM
//!   imputer fine-tunes once per table and seed, not once per task. A reused fill reports
//!   the time computing it took, and a fill saved with other settings is recomputed.

mod config;
mod downstream;
mod plots;
mod quality;
mod report;
mod run;

use std::path::Path;

use anyhow::{Context, Result};

#[cfg(feature = "llm")]
pub use crate::llm_settings::llm_config;
pub use config::{DlrmSettings, ExperimentConfig, ImputerName, LlmSettings, Pattern, TaskName};
pub use downstream::Downstream;
pub use plots::{write_plots, Plot, PlotPlace, PLOTS_DIR};
pub use quality::{
    quality_cells, quality_markdown, run_quality, run_quality_cell, LlmCellReport, QualityConfig, QualityResult,
    QualitySpec, QualityTable,
};
pub use report::{markdown, markdown_with_plots, mean_std, primary_metric};
pub use run::{data_dir, peak_rss_mib, run_cell, CellResult, CellSpec, LossPoint, Timings};

/// Every cell of the grid, in a stable order.
pub fn cells(config: &ExperimentConfig) -> Vec<CellSpec> {
    let mut out = Vec::new();
    for &task in &config.tasks {
        for &pattern in &config.patterns {
            for &rate in &config.rates {
                for &seed in &config.seeds {
                    for &imputer in &config.imputers {
                        out.push(CellSpec { task, imputer, pattern, rate, seed });
                    }
                }
            }
        }
    }
    out
}

/// What [`run_grid`] did.
#[derive(Debug, Clone)]
pub struct GridOutcome {
    /// Every result of the grid (new and reused).
    pub results: Vec<CellResult>,
    /// How many cells were computed in this run.
    pub computed: usize,
    /// How many were found on disk and skipped.
    pub reused: usize,
}

/// Runs (or resumes) a grid and writes its results and report into `config.out_dir`.
///
/// `on_cell` is called before each cell with its index, the total and the cell.
pub fn run_grid(
    config: &ExperimentConfig,
    mut on_cell: impl FnMut(usize, usize, &CellSpec, bool),
) -> Result<GridOutcome> {
    config.validate().map_err(anyhow::Error::msg)?;
    let out = &config.out_dir;
    let cells_dir = out.join("cells");
    std::fs::create_dir_all(&cells_dir).with_context(|| format!("creating {}", cells_dir.display()))?;
    rec_table::write_bytes_atomic(&out.join("config.json"), serde_json::to_string_pretty(config)?.as_bytes())?;
    // The generated task needs no files: only look for the data when a task reads it.
    let data = if config.tasks.iter().all(|t| *t == TaskName::SyntheticAdclick) {
        std::path::PathBuf::new()
    } else {
        data_dir(config.data_dir.as_deref())?
    };
    let grid = cells(config);
    let (mut results, mut computed, mut reused) = (Vec::with_capacity(grid.len()), 0, 0);
    for (i, spec) in grid.iter().enumerate() {
        let path = cells_dir.join(format!("{}.json", spec.key()));
        if let Some(done) = load_cell(&path)? {
            on_cell(i, grid.len(), spec, true);
            results.push(done);
            reused += 1;
            continue;
        }
        on_cell(i, grid.len(), spec, false);
        let result = run_cell(spec, &data, config).with_context(|| format!("cell {}", spec.key()))?;
        rec_table::write_bytes_atomic(&path, serde_json::to_string_pretty(&result)?.as_bytes())?;
        results.push(result);
        computed += 1;
    }
    write_report(out, &results)?;
    Ok(GridOutcome { results, computed, reused })
}

fn load_cell(path: &Path) -> Result<Option<CellResult>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(
            serde_json::from_slice(&bytes)
                .with_context(|| format!("{}: not a cell result; delete it to recompute", path.display()))?,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| path.display().to_string()),
    }
}

/// Reads every `cells/*.json` under `out_dir`.
pub fn load_results(out_dir: &Path) -> Result<Vec<CellResult>> {
    let dir = out_dir.join("cells");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .with_context(|| format!("{}: no results here (run `recimpute experiment` first)", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths.iter().map(|p| load_cell(p)?.with_context(|| format!("{} disappeared while reading", p.display()))).collect()
}

/// Writes `results.json`, the plots (PNG and SVG under `plots/`) and `report.md`, which
/// embeds them, for `results` into `out_dir`.
pub fn write_report(out_dir: &Path, results: &[CellResult]) -> Result<()> {
    rec_table::write_bytes_atomic(&out_dir.join("results.json"), serde_json::to_string_pretty(results)?.as_bytes())?;
    let plots = match write_plots(out_dir, results) {
        Ok(plots) => plots,
        Err(e) => {
            // Keep the tables even when a plot cannot be drawn.
            rec_table::write_bytes_atomic(&out_dir.join("report.md"), markdown(results).as_bytes())?;
            return Err(e.context(format!("{} has the tables but no plots", out_dir.join("report.md").display())));
        }
    };
    rec_table::write_bytes_atomic(&out_dir.join("report.md"), markdown_with_plots(results, &plots).as_bytes())?;
    Ok(())
}
