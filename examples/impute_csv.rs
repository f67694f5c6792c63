//! Template: fill the missing cells of a CSV file with a classical imputer fitted on one part
//! of the data and applied to another, then score it on cells hidden on purpose.
//!
//! ```sh
//! cargo run -p recimpute --example impute_csv -- ../shared/data/adclick/ad_click_dataset.csv
//! ```
//!
//! Copy this file to start your own pipeline: swap the imputer, the split or the metric.

use anyhow::{Context, Result};
use recimpute::baseline::KnnImputer;
use recimpute::datasets::missingness::{inject, MissingnessConfig};
use recimpute::datasets::split::{random_split, Fractions};
use recimpute::experiment::score_hidden;
use recimpute::prelude::*;

fn main() -> Result<()> {
    let path = std::env::args().nth(1).context("usage: impute_csv <file.csv|file.parquet>")?;
    let table = read_table(&path, &CsvOptions::default())?;
    println!("{path}: {} rows, {} missing cells", table.num_rows(), table.missing_cells().count());

    // Hide 10% of the observed cells (seeded) so the imputation can be scored.
    let masked = inject(&table, &MissingnessConfig::mcar(0.10, 7))?;
    let split = random_split(table.num_rows(), Fractions::train_test(0.8)?, 7);
    let train = masked.table.take_rows(&split.train)?;
    let test = masked.table.take_rows(&split.test)?;

    // Fit on the training rows, fill the test rows: observed cells are never changed.
    let fitted = KnnImputer::new(5).fit(&train)?;
    let filled = fitted.transform(&test)?;

    // A fitted imputer can be saved and loaded by another process (`recimpute impute
    // --imputer FILE` reads the same files); the loaded one fills exactly as the saved one.
    let saved = std::env::temp_dir().join(format!("impute_csv-{}.json", std::process::id()));
    fitted.save(&saved)?;
    let loaded = recimpute::baseline::FittedKnn::load(&saved)?;
    std::fs::remove_file(&saved)?;
    anyhow::ensure!(loaded.transform(&test)? == filled, "the loaded imputer filled differently");

    // Score the hidden cells that fell into the test rows.
    let position: std::collections::HashMap<usize, usize> =
        split.test.iter().enumerate().map(|(i, &row)| (row, i)).collect();
    let report = score_hidden(&table, &masked.mask, &filled, |row| position.get(&row).copied())?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
