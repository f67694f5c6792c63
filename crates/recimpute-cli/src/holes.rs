//! `mask` and `score`: hide cells of a table with their ground truth written beside it, and
//! score any filled copy against that ground truth.

use std::path::Path;

use super::*;
use recimpute::experiment::truth;

/// The flags of `recimpute mask`.
#[derive(clap::Args)]
pub struct MaskArgs {
    /// The complete (or partly complete) table: only its observed cells are hidden.
    input: PathBuf,
    /// Where to write the masked table (CSV or Parquet by extension; atomically).
    output: PathBuf,
    /// Where to write the ground truth of the hidden cells: `row,column,value`.
    #[arg(long)]
    truth: PathBuf,
    /// Fraction of each eligible column's observed cells to hide.
    #[arg(long, default_value_t = 0.2)]
    rate: f64,
    /// Missingness mechanism.
    #[arg(long, default_value = "mcar", value_parser = named::<exp::Pattern>(exp::Pattern::ALL.map(exp::Pattern::as_str)))]
    pattern: exp::Pattern,
    /// Seed: the same seed hides the same cells (those the quality grid scores for it).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Hide only in these columns (default: every column but ids and free text).
    #[arg(long, value_delimiter = ',')]
    columns: Vec<String>,
    /// Never hide in these columns.
    #[arg(long, value_delimiter = ',')]
    exclude: Vec<String>,
    #[command(flatten)]
    read: ReadArgs,
}

/// The flags of `recimpute score`.
#[derive(clap::Args)]
pub struct ScoreArgs {
    /// The ground truth written by `recimpute mask --truth`.
    truth: PathBuf,
    /// The filled table (same rows in the same order as the masked one).
    filled: PathBuf,
    /// Also write the scores as JSON to this file (atomically).
    #[arg(long)]
    json: Option<PathBuf>,
    #[command(flatten)]
    read: ReadArgs,
}

fn same_file(a: &Path, b: &Path) -> bool {
    matches!((std::fs::canonicalize(a), std::fs::canonicalize(b)), (Ok(x), Ok(y)) if x == y) || a == b
}

pub fn mask(args: MaskArgs) -> Result<()> {
    if same_file(&args.output, &args.truth) {
        anyhow::bail!("--truth {} is also the output: write them to two files", args.truth.display());
    }
    prepare_output(&args.input, &args.output)?;
    prepare_output(&args.input, &args.truth)?;
    let opts = args.read.csv_options(&args.input)?;
    let table = read_table(&args.input, &opts)?;
    let spec =
        args.pattern.holes(args.rate, args.seed, truth::SALT).with_columns(args.columns).with_exclude(args.exclude);
    let masked = truth::hide(&table, &spec).with_context(|| format!("masking {}", args.input.display()))?;
    let hidden: std::collections::HashSet<(usize, usize)> = masked.mask.cells().map(|c| (c.row, c.col)).collect();
    write_output(&args.input, &opts, &masked.table, None, &|r, c| hidden.contains(&(r, c)), &args.output)?;
    truth::write_truth(&args.truth, &table, &masked.mask)?;
    let per_column: Vec<String> = table
        .schema()
        .columns()
        .iter()
        .zip(masked.mask.per_column(table.num_columns()))
        .filter(|(_, n)| *n > 0)
        .map(|(c, n)| format!("{} {n}", c.name))
        .collect();
    emit(&format!(
        "hid {} cells ({}); wrote {} and the ground truth {}\n",
        masked.mask.len(),
        per_column.join(", "),
        args.output.display(),
        args.truth.display()
    ))
}

pub fn score(args: ScoreArgs) -> Result<()> {
    let filled = read_table(&args.filled, &args.read.csv_options(&args.filled)?)?;
    let mask = truth::read_truth(&args.truth, filled.schema())?;
    let scored = truth::score_filled(&filled, &mask).with_context(|| format!("scoring {}", args.filled.display()))?;
    if let Some(path) = &args.json {
        let json = serde_json::to_vec_pretty(&scored)?;
        recimpute::table::write_bytes_atomic(path, &json).with_context(|| format!("writing {}", path.display()))?;
    }
    emit(&format!("{} against {}\n\n{}", args.filled.display(), args.truth.display(), scored.markdown()))
}
