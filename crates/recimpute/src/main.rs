//! The `recimpute` command-line tool.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use recimpute::prelude::*;

/// Fill missing cells of recommender tables and measure the effect on a recommender.
///
/// Tables are CSV (`.csv`, `.tsv`) or Parquet (`.parquet`) files; an empty cell (or NA, NaN,
/// null) is a missing cell. Column kinds (numeric, categorical, set_valued, text, id) are
/// inferred and can be forced with `--kind name=kind`.
#[derive(Parser)]
#[command(name = "recimpute", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show a table's columns, their kinds and how many cells are missing.
    Inspect {
        /// The CSV or Parquet file.
        input: PathBuf,
        /// Force a column's kind, e.g. `--kind zip=categorical` (repeatable).
        #[arg(long = "kind", value_name = "NAME=KIND")]
        kinds: Vec<String>,
    },
    /// Convert a table between CSV and Parquet (by the output's extension), keeping its holes.
    Convert {
        /// The input file.
        input: PathBuf,
        /// The output file; written atomically.
        output: PathBuf,
        /// Force a column's kind, e.g. `--kind zip=categorical` (repeatable).
        #[arg(long = "kind", value_name = "NAME=KIND")]
        kinds: Vec<String>,
    },
    /// Fill the missing cells of a CSV or Parquet file with a classical imputer.
    ///
    /// The imputer is fitted on `--fit-on` if given (e.g. a training file), else on the input
    /// itself; observed cells are never changed. The output's format follows its extension.
    Impute {
        /// The table with missing cells.
        input: PathBuf,
        /// Where to write the filled table (atomically).
        output: PathBuf,
        /// deletion, zero, mean, median, mode, knn, iterative or missforest.
        #[arg(long, default_value = "knn")]
        method: String,
        /// Neighbours for knn.
        #[arg(long, default_value_t = 5)]
        k: usize,
        /// Seed for iterative and missforest.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Fit on this table instead of the input (same columns).
        #[arg(long)]
        fit_on: Option<PathBuf>,
        /// Force a column's kind, e.g. `--kind zip=categorical` (repeatable).
        #[arg(long = "kind", value_name = "NAME=KIND")]
        kinds: Vec<String>,
    },
    /// Run a grid of experiments (task × imputer × pattern × rate × seed); resumable.
    ///
    /// Each finished cell is saved under OUT/cells/; rerunning the same command skips them.
    /// Flags override the config file; lists are comma-separated.
    Experiment(ExperimentArgs),
    /// Rebuild report.md and results.json from the saved cells of an experiment.
    Report {
        /// The experiment's output directory.
        #[arg(long, default_value = "results")]
        out: PathBuf,
    },
    /// Run the main job: a small end-to-end experiment on embedded (generated) data.
    Demo {
        /// Output directory.
        #[arg(long, default_value = "results/demo")]
        out: PathBuf,
        /// Run the full-size paper grid on this data directory instead (it must hold
        /// ml-100k/ and adclick/).
        #[arg(long)]
        data: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
struct ExperimentArgs {
    /// A JSON config file (see `ExperimentConfig`); flags below override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Output directory.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Data directory holding ml-100k/ and adclick/ (default: $RECIMPUTE_DATA or ../shared/data).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Tasks: adclick, movielens-class, movielens-regression, synthetic-adclick.
    #[arg(long, value_delimiter = ',')]
    tasks: Option<Vec<String>>,
    /// Imputers: deletion, zero, mean, median, knn, iterative, missforest.
    #[arg(long, value_delimiter = ',')]
    imputers: Option<Vec<String>>,
    /// Missingness patterns: mcar, mar, mnar.
    #[arg(long, value_delimiter = ',')]
    patterns: Option<Vec<String>>,
    /// Rates of injected holes, e.g. 0.01,0.1,0.25,0.5.
    #[arg(long, value_delimiter = ',')]
    rates: Option<Vec<f64>>,
    /// Seeds, e.g. 0,1,2.
    #[arg(long, value_delimiter = ',')]
    seeds: Option<Vec<u64>>,
    /// DLRM training epochs.
    #[arg(long)]
    epochs: Option<usize>,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("recimpute: error: {}", describe(&e));
            ExitCode::from(1)
        }
    }
}

/// The error and its causes, skipping a cause whose text the message already contains.
fn describe(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !text.contains(&c) {
            text = format!("{text}: {c}");
        }
    }
    text
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}

/// Prints to stdout, returning an error (not panicking) when the reader has gone away.
fn emit(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

#[cfg(feature = "dlrm")]
mod experiment {
    use super::*;
    use recimpute::experiment::{self as exp, ExperimentConfig};

    fn parse_all<T: std::str::FromStr<Err = String>>(items: &[String]) -> Result<Vec<T>> {
        items.iter().map(|s| s.trim().parse::<T>().map_err(anyhow::Error::msg)).collect()
    }

    pub fn run(args: ExperimentArgs) -> Result<()> {
        let mut config = match &args.config {
            Some(path) => serde_json::from_slice::<ExperimentConfig>(
                &std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
            )
            .with_context(|| format!("{}: not a valid experiment config", path.display()))?,
            None => ExperimentConfig::default(),
        };
        if let Some(v) = args.out { config.out_dir = v; }
        if let Some(v) = args.data { config.data_dir = Some(v); }
        if let Some(v) = &args.tasks { config.tasks = parse_all(v)?; }
        if let Some(v) = &args.imputers { config.imputers = parse_all(v)?; }
        if let Some(v) = &args.patterns { config.patterns = parse_all(v)?; }
        if let Some(v) = args.rates { config.rates = v; }
        if let Some(v) = args.seeds { config.seeds = v; }
        if let Some(v) = args.epochs { config.dlrm.epochs = v; }
        execute(&config)
    }

    fn execute(config: &ExperimentConfig) -> Result<()> {
        let start = std::time::Instant::now();
        let outcome = exp::run_grid(config, |i, n, spec, reused| {
            let what = if reused { "reused" } else { "running" };
            eprintln!("[{:>3}/{n}] {what} {} ({:.0}s elapsed)", i + 1, spec.key(), start.elapsed().as_secs_f64());
        })?;
        emit(&format!(
            "{} cells ({} computed, {} reused) in {:.1}s\nreport: {}\n",
            outcome.results.len(),
            outcome.computed,
            outcome.reused,
            start.elapsed().as_secs_f64(),
            config.out_dir.join("report.md").display()
        ))
    }

    pub fn report(out: PathBuf) -> Result<()> {
        let results = exp::load_results(&out)?;
        exp::write_report(&out, &results)?;
        emit(&format!("{} cells; report: {}\n", results.len(), out.join("report.md").display()))
    }

    pub fn demo(out: PathBuf, data: Option<PathBuf>) -> Result<()> {
        let config = match data {
            None => ExperimentConfig { out_dir: out, ..ExperimentConfig::demo() },
            Some(dir) => ExperimentConfig { out_dir: out, data_dir: Some(dir), ..ExperimentConfig::default() },
        };
        eprintln!(
            "recimpute demo: tasks {:?}, imputers {:?}, {:?} at {:?}, seeds {:?}. The LLM imputer is not \
             part of the grid yet (issue #8): only the classical imputers run.",
            config.tasks.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
            config.imputers.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
            config.patterns.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
            config.rates,
            config.seeds
        );
        execute(&config)
    }
}

#[cfg(not(feature = "dlrm"))]
mod experiment {
    use super::*;

    const NEED: &str = "this command trains a DLRM and needs the `dlrm` feature (libtorch): \
        run it through `cargo xtask demo`, or build with `--features dlrm` after `eval \"$(cargo xtask env)\"`";

    pub fn run(_: ExperimentArgs) -> Result<()> {
        anyhow::bail!(NEED)
    }
    pub fn report(_: PathBuf) -> Result<()> {
        anyhow::bail!(NEED)
    }
    pub fn demo(_: PathBuf, _: Option<PathBuf>) -> Result<()> {
        anyhow::bail!(NEED)
    }
}

fn csv_options(kinds: &[String]) -> Result<CsvOptions> {
    let mut opts = CsvOptions::default();
    for k in kinds {
        let (name, kind) = k
            .split_once('=')
            .with_context(|| format!("--kind {k}: expected NAME=KIND, e.g. zip=categorical"))?;
        opts = opts.with_kind(name, kind.parse::<ColumnKind>()?);
    }
    Ok(opts)
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Inspect { input, kinds } => {
            use std::fmt::Write;
            let table = read_table(&input, &csv_options(&kinds)?)?;
            let mut out = String::new();
            writeln!(out, "{}: {} rows, {} columns", input.display(), table.num_rows(), table.num_columns())?;
            writeln!(out, "{:<24} {:<12} {:>9} {:>8}", "column", "kind", "missing", "rate")?;
            for (spec, missing) in table.schema().columns().iter().zip(table.missing_per_column()) {
                let rate = if table.num_rows() == 0 { 0.0 } else { missing as f64 / table.num_rows() as f64 };
                writeln!(out, "{:<24} {:<12} {:>9} {:>7.1}%", spec.name, spec.kind.as_str(), missing, 100.0 * rate)?;
            }
            writeln!(out, "complete rows: {}", table.complete_rows().len())?;
            emit(&out)
        }
        Command::Convert { input, output, kinds } => {
            let opts = csv_options(&kinds)?;
            let table = read_table(&input, &opts)?;
            write_table(&table, &output, &opts)?;
            println!("wrote {} ({} rows)", output.display(), table.num_rows());
            Ok(())
        }
        Command::Impute { input, output, method, k, seed, fit_on, kinds } => {
            use recimpute::baseline::*;
            let imputer: Box<dyn DynImputer> = match method.as_str() {
                "deletion" => Box::new(CaseDeletion::new()),
                "zero" => Box::new(SimpleImputer::zero()),
                "mean" => Box::new(SimpleImputer::mean()),
                "median" => Box::new(SimpleImputer::median()),
                "mode" => Box::new(SimpleImputer::mode()),
                "knn" => Box::new(KnnImputer::new(k)),
                "iterative" => Box::new(IterativeImputer::new().with_seed(seed)),
                "missforest" => Box::new(MissForestImputer::new().with_seed(seed)),
                "llm" => anyhow::bail!("the LLM imputer is not available yet (issue #8); pick a classical method"),
                other => anyhow::bail!(
                    "unknown method '{other}' (expected deletion, zero, mean, median, mode, knn, iterative or missforest)"
                ),
            };
            let opts = csv_options(&kinds)?;
            let table = read_table(&input, &opts)?;
            let train = match &fit_on {
                Some(path) => read_table(path, &opts.clone().with_schema(table.schema().clone()))?,
                None => table.clone(),
            };
            let start = std::time::Instant::now();
            let filled = imputer.fit_boxed(&train)?.transform(&table)?;
            write_table(&filled, &output, &opts)?;
            emit(&format!(
                "{}: {} missing cells before, {} after {} ({:.2}s, {} rows out); wrote {}\n",
                input.display(),
                table.missing_cells().count(),
                filled.missing_cells().count(),
                imputer.name(),
                start.elapsed().as_secs_f64(),
                filled.num_rows(),
                output.display()
            ))
        }
        Command::Experiment(args) => experiment::run(args),
        Command::Report { out } => experiment::report(out),
        Command::Demo { out, data } => experiment::demo(out, data),
    }
}
