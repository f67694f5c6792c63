//! Template: the AdClick click-prediction task of the paper with a few imputers, through the
//! experiment runner (resumable; results, report and plots under `results/adclick-example`).
//!
//! ```sh
//! eval "$(cargo xtask env)"
//! cargo run -p recimpute --features dlrm --example adclick_experiment
//! ```
//!
//! Change the task to `MovielensClass` or `MovielensRegression` for the MovieLens tasks.

use anyhow::Result;
use recimpute::experiment::{run_grid, ExperimentConfig, ImputerName, TaskName};

fn main() -> Result<()> {
    let config = ExperimentConfig {
        out_dir: "results/adclick-example".into(),
        // `$RECIMPUTE_DATA`, else `../shared/data` beside the workspace; a clear error if absent.
        data_dir: Some(recimpute::datasets::shared_data_dir()?),
        tasks: vec![TaskName::Adclick],
        imputers: vec![ImputerName::Deletion, ImputerName::Mean, ImputerName::Knn],
        seeds: vec![0],
        ..ExperimentConfig::default()
    };
    let outcome = run_grid(&config, |i, n, cell, reused| {
        eprintln!("[{}/{n}] {} {}", i + 1, if reused { "reused" } else { "running" }, cell.key());
    })?;
    for r in &outcome.results {
        let f1 = r.downstream.headline().iter().find(|h| h.0 == "F1").map_or(f64::NAN, |h| h.1);
        println!("{:<10} F1 {f1:.4}", r.spec.imputer.as_str());
    }
    println!("report: {}", config.out_dir.join("report.md").display());
    Ok(())
}
