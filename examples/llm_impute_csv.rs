//! Template: fill the missing cells of a CSV (or Parquet) file with the LLM imputer — LoRA
//! fine-tune of SmolLM2-135M on the complete rows, grammar-constrained imputation — and score
//! it on cells hidden on purpose.
//!
//! ```sh
//! cargo xtask fetch-model      # SmolLM2-135M-Instruct (GGUF) into the cache, once
//! cargo xtask cargo run --release -p recimpute --features llm --example llm_impute_csv -- \
//!     [input.csv [output.csv]]
//! ```
//!
//! Without arguments it writes a generated AdClick-shaped table (600 rows, planted
//! dependencies) to a temporary file and works on that. The fitted imputer is saved next to
//! the output (`<output>.llm/`) and can be reloaded with `FittedLlmImputer::load`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use recimpute::datasets::missingness::{inject, MissingnessConfig};
use recimpute::experiment::score_hidden;
use recimpute::llm::{Backbone, ImputeOptions, LlmImputer, LlmImputerConfig};
use recimpute::prelude::*;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let tmp = tempfile::tempdir()?;
    let input = match args.next() {
        Some(p) => PathBuf::from(p),
        None => {
            let path = tmp.path().join("adclick-like.csv");
            write_csv(&recimpute::datasets::synthetic::adclick_like(600, 42)?, &path, &CsvOptions::default())?;
            path
        }
    };
    let output = args.next().map(PathBuf::from).unwrap_or_else(|| tmp.path().join("filled.csv"));
    let table = read_table(&input, &CsvOptions::default()).with_context(|| format!("reading {}", input.display()))?;
    println!("{}: {} rows, {} missing cells", input.display(), table.num_rows(), table.missing_cells().count());

    // Hide 10% of the observed cells (seeded) so that the imputation can be scored.
    let hidden = inject(&table, &MissingnessConfig::mcar(0.10, 7))?;

    // The defaults (value-only loss on every row, LoRA on every linear layer, a held-out check
    // that keeps the best adapter); see `LlmImputerConfig` for the rest.
    let config = LlmImputerConfig::new(Backbone::default_smollm2()).with_seed(7);
    let fitted = LlmImputer::new(config).fit(&hidden.table)?;
    let fit = fitted.report();
    println!(
        "fine-tuned on {} rows, base in {}: {} steps, loss {:.3} -> {:.3}, {:.0} tokens/s, {:.1} s",
        fit.train_rows,
        fit.precision,
        fit.steps,
        fit.losses.first().map_or(f64::NAN, |l| l.1),
        fit.losses.last().map_or(f64::NAN, |l| l.1),
        fit.tokens_per_second,
        fit.seconds
    );
    if let Some(best) = fit.holdout.iter().find(|p| Some(p.step) == fit.best_step) {
        println!("kept the adapter of {}", best.summary());
    }

    let imputation = fitted.impute(&hidden.table, &ImputeOptions::default())?;
    println!(
        "imputed {} cells in {:.1} s ({:.1} cells/s, {} fallbacks)",
        imputation.cells.len(),
        imputation.seconds,
        imputation.cells_per_second(),
        imputation.fallbacks
    );
    let filled = hidden.table.with_filled(imputation.cells.iter().map(|c| (c.cell, c.value.clone())))?;
    write_table(&filled, &output, &CsvOptions::default())?;
    fitted.save(output.with_extension("llm"))?;
    println!("wrote {} and {}", output.display(), output.with_extension("llm").display());

    let report = score_hidden(&table, &hidden.mask, &filled, Some)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
